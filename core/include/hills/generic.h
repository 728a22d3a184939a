// Records as JSON, for tools that have no compiled types (the viewer, the
// command line). JSON follows Cap'n Proto's JSON codec (capnp-json), byte
// for byte what capnp::JsonCodec().encode() writes: field names as in the
// schema, pointer fields that are null left out, 64-bit integers as
// strings, Data as byte arrays, enums by name, no white space.
#pragma once

#include <capnp/dynamic.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "hills/txn.h"

namespace hills {

namespace detail {
struct JsonPlans;
}

// The record's data as JSON, decoded with the tree's stored schema. Throws
// Error(kCorrupt) naming the key when the value does not decode.
std::string toJson(const GenericTreeView& tree, const StoredRecord& record);

// The same, appended to `out`: nothing is allocated per record once `out`
// has room (the dump of a tree writes every record into one buffer).
void appendJson(std::string& out, const GenericTreeView& tree, const StoredRecord& record);

// `text` as a JSON string, quotes included, escaped as the records' Text is.
void appendJsonString(std::string& out, std::string_view text);

// Writes values of one struct type as JSON, in the encoding above. The
// layout of the type is worked out once, when the writer is made: make one
// per type and use it for many values. Valid while the schema is (a tree's:
// while its database is open).
class JsonWriter {
 public:
  explicit JsonWriter(capnp::StructSchema schema);
  // The tree's stored schema; shares what the database worked out.
  explicit JsonWriter(const GenericTreeView& tree);

  // Appends `value` (of the writer's schema). Throws kj::Exception when the
  // value does not decode, Error(kInvalidArgument) for another schema.
  void append(std::string& out, capnp::DynamicStruct::Reader value) const;

  // Appends the value of one of the schema's own fields as the JSON of the
  // whole struct holds it after the field's name, or `null` for a pointer
  // field that is null or a union member that is not the active one.
  void appendField(std::string& out, capnp::DynamicStruct::Reader value,
                   capnp::StructSchema::Field field) const;

 private:
  std::shared_ptr<const detail::JsonPlans> plans_;
};

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
