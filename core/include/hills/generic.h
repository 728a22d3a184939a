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
// replaced whole). Throws
// Error(kInvalidArgument) naming the key and what is wrong with the JSON,
// and whatever GenericTree::update throws.
void updateFromJson(GenericTree& tree, std::uint64_t id, std::uint32_t revision,
                    std::string_view json);

// Creates a draft from JSON and returns its id (revision 0). Throws as
// updateFromJson does, and Error(kNoIds).
std::uint64_t createFromJson(GenericTree& tree, std::string_view json);

}  // namespace hills
