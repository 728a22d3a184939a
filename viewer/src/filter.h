// The viewer's filter language: a typed expression over a record's fields,
// checked against the tree's stored schema before it runs.
//
//   mass > 2 and name ~ "bolt"
//   kind = assembly or (leadTimeDays >= 10 and not makeable)
//   dimensions.width < 5.5      tags ~ "smd"      assembly = 42
//   lines.quantity > 4          lines.part = 7
//   state = released and author = "A"
//
// A comparison names a field on its left, or a path through nested
// structs ("dimensions.width"), and a literal on its right: a number, a
// "string" (with \" and \\), true or false, or an enumerant's name. The
// record's bookkeeping is there too: id, revision, state (draft,
// released), lifecycle, author. Operators: = (also ==), !=, <, <=, >, >=,
// ~ (contains, ignoring case) and !~; and, or, not, parentheses. A Bool
// field alone is a test of itself. A reference compares by id (or name
// .id, .revision).
//
// Lists: a path may go through lists of structs ("lines.quantity > 4" on
// a BOM), and end at a list of values ("tags ~ \"smd\""); a list on the
// way matches when one of its elements does. So "lines.quantity != 4"
// holds when some line's quantity is not 4, "not lines.quantity = 4" when
// none is, and each comparison of an "and" may be met by another line.
#pragma once

#include <capnp/dynamic.h>
#include <capnp/schema.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>

#include "hills/txn.h"

namespace hills::viewer {

// An expression that does not parse or does not fit the schema: what was
// wrong, and where (a 0-based offset into the expression, and how many
// characters the mistake spans).
class FilterError : public std::runtime_error {
 public:
  FilterError(std::size_t position, std::size_t length, const std::string& message)
      : std::runtime_error(message), position_(position), length_(length) {}
  std::size_t position() const { return position_; }
  std::size_t length() const { return length_; }

 private:
  std::size_t position_;
  std::size_t length_;
};

namespace detail {
struct FilterNode;
}

class Filter {
 public:
  // Parses `expression` and binds its names to the fields of `schema` (a
  // tree's stored schema, which must outlive the filter). An empty
  // expression (or only spaces) matches every record. Throws FilterError.
  Filter(std::string_view expression, capnp::StructSchema schema);
  ~Filter();
  Filter(Filter&&) noexcept;
  Filter& operator=(Filter&&) noexcept;

  // Whether the record matches. Throws Error(kCorrupt) (through
  // StoredRecord) when its value does not decode.
  bool matches(const StoredRecord& record) const;

  // Whether every record matches (an empty expression).
  bool all() const { return root_ == nullptr; }

  const std::string& expression() const { return expression_; }

 private:
  std::string expression_;
  capnp::StructSchema schema_;
  std::unique_ptr<detail::FilterNode> root_;
};

}  // namespace hills::viewer
