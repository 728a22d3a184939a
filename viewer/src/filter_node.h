// The bound form of a filter expression (filter.h): what its parser
// (filter_parse.cc) makes of the text and the schema, and what its
// evaluation (filter.cc) walks over each record. Internal to the viewer.
#pragma once

#include <capnp/schema.h>

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace hills::viewer::detail {

enum class Meta { kNone, kId, kRevision, kState, kLifecycle, kAuthor };
enum class Op { kEq, kNe, kLt, kLe, kGt, kGe, kHas, kHasNot };
// What the leaf of a path holds, as a filter compares it.
enum class Kind { kSigned, kUnsigned, kFloat, kText, kBool, kEnum, kRef };

// A field's name bound to the schema: the fields from the record down to
// the leaf, each with its type. A list on the way (of structs, or of the
// leaf's values) matches when one of its elements does.
struct Path {
  Meta meta = Meta::kNone;
  std::vector<capnp::StructSchema::Field> fields;
  std::vector<capnp::Type> types;  // of each field, looked up once
  capnp::Type leaf;                // the last field's type, lists unwrapped
  Kind kind = Kind::kSigned;
};

struct Literal {
  double number = 0;
  std::optional<__int128> integer;  // when the number is whole
  std::string text;
  std::string folded;               // text lower-cased, for ~ and !~
  bool boolean = false;
  std::uint16_t enumerant = 0;
};

struct FilterNode {
  enum class Type { kAnd, kOr, kNot, kCompare } type = Type::kCompare;
  std::unique_ptr<FilterNode> left, right;
  Path path;
  Op op = Op::kEq;
  Literal literal;
};

// Parses `text` and binds it to `schema`; null for an empty expression.
// Throws FilterError.
std::unique_ptr<FilterNode> parseFilter(std::string_view text, capnp::StructSchema schema);

}  // namespace hills::viewer::detail
