// Records as JSON, for tools that have no compiled types (the viewer, the
// command line). JSON follows Cap'n Proto's JSON codec (capnp-json): field
// names as in the schema, 64-bit integers as strings, Data as byte arrays.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "hills/txn.h"

namespace hills {

// The record's data as JSON, decoded with the tree's stored schema. Throws
// Error(kCorrupt) naming the key when the value does not decode.
std::string toJson(const GenericTreeView& tree, const StoredRecord& record);

// Sets the fields the JSON names on the draft (id, revision); fields it
// leaves out keep their values (nested structs and lists the JSON names are
// replaced whole). The JSON is checked against the tree's schema before the
// record is touched: integers are numbers or strings ("42", "0x2a"), floats
// numbers, null (NaN) or strings ("NaN", "Infinity"), Data an array of bytes
// (0 to 255), enums a name. Throws Error(kInvalidArgument) naming the key,
// and for JSON that does not parse, Cap'n Proto's account of why; for JSON
// that does not fit, the field with its path ("dimensions.width",
// "tags[2]"), the type it expects and the JSON type it got, or the field
// the schema does not know. Throws whatever GenericTree::update throws.
void updateFromJson(GenericTree& tree, std::uint64_t id, std::uint32_t revision,
                    std::string_view json);

// Creates a draft from JSON and returns its id (revision 0). Throws as
// updateFromJson does (naming "a new record of tree 'parts'" rather than a
// key; JSON that is refused takes no id), and Error(kNoIds).
std::uint64_t createFromJson(GenericTree& tree, std::string_view json);

}  // namespace hills
