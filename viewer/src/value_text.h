// How the viewer shows stored values without compiled types: the text of a
// table cell or of one field, type names, references and pictures in Data
// fields (a record's fields as paths and leaves: field_paths.h). Works on Cap'n Proto's dynamic readers (or a FieldReader) over a
// tree's stored schema; no Qt, so the rules are tested on their own.
#pragma once

#include <capnp/dynamic.h>
#include <capnp/schema.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "hills/field_reader.h"

namespace hills::viewer {

// The one-line text of a value in a table cell: integers in digits,
// Float32 and Float64 in plain decimals with the fewest digits that read
// back as the same value (100000, 0.1; scientific only below 1e-6 or from
// 1e15 on), Text as it is (line breaks shown as ⏎),
// enums by name (a number the schema does not know as "#7"), Data as its
// size and first bytes in hex, a reference as "tree 42/1" (null: "—"),
// a list as its first elements ("[3] R1, C12, U4"), a struct as its first
// fields ("{length: 10, width: 4, …}"). At most `limit` characters (a cut
// text ends with "…"). Throws kj::Exception when the value does not decode.
std::string cellText(const capnp::DynamicValue::Reader& value, capnp::Type type,
                     std::string_view refTree = {}, std::size_t limit = 80);
// The same text appended to `out` (for a caller that reuses one buffer).
void appendCellText(std::string& out, const capnp::DynamicValue::Reader& value, capnp::Type type,
                    std::string_view refTree = {}, std::size_t limit = 80);
// How the values of one struct type, and of the structs inside it, are
// written as cells: what cellText writes, read through FieldReaders (the
// slots, not the dynamic API), worked out once per struct type as values
// need them. Make one per schema (a tree's) and keep it for many records:
// a table writes its cells with it. Valid while the schema is; not
// thread-safe (it adds plans as it meets struct types).
struct StructPlan;

class CellText {
 public:
  explicit CellText(capnp::StructSchema schema);
  ~CellText();
  CellText(CellText&&) noexcept;
  CellText& operator=(CellText&&) noexcept;

  // The reader of the schema's own fields.
  const FieldReader& reader() const;

  // Appends the text of field `index` of `value` (a struct of the schema),
  // as cellText writes the field's value: nothing for a union member that
  // is not the active one, a reference with the tree its field names. At
  // most `limit` characters. Throws kj::Exception when the field does not
  // decode.
  void append(std::string& out, capnp::AnyStruct::Reader value, std::size_t index,
              std::size_t limit = 80) const;

  struct Plans;  // the plans of the struct types met so far

 private:
  std::unique_ptr<Plans> plans_;
  const StructPlan* root_;  // the schema's, in plans_
};

// The type as the schema language writes it: "Float64", "List(Text)",
// "Part.Dimensions", "Ref → parts".
std::string typeName(capnp::Type type, std::string_view refTree = {});

// "1,234,567".
std::string withThousands(std::uint64_t n);

// Whether `field` of `s` holds a value to show: any field outside a union,
// or the union's active member.
bool isActive(capnp::DynamicStruct::Reader s, capnp::StructSchema::Field field);

// What bytes of a Data field hold, told by their first bytes.
enum class DataKind { kBytes, kPng, kJpeg };
DataKind dataKind(capnp::Data::Reader bytes);

// Bytes as hex pairs, 16 to a line with the offset first, at most
// `maxBytes` of them ("… 1,204 bytes more" after).
std::string hexDump(capnp::Data::Reader bytes, std::size_t maxBytes = 4096);

}  // namespace hills::viewer
