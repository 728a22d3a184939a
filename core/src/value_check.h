// Reading a value through to its last pointer against its tree's schema.
#pragma once

#include <capnp/common.h>
#include <capnp/schema.h>
#include <kj/array.h>

#include <cstdint>
#include <memory>

namespace hills::detail {

struct TreeState;
struct ValuePlans;

// How checkValue reads the values of a record type, worked out once from
// its schema (kept in TreeState::plans, next to the schema).
std::shared_ptr<const ValuePlans> planValues(capnp::StructSchema schema);

// Sets the tree's schema and the plans that go with it (checkValue's and
// the JSON writer's).
void setSchema(TreeState& tree, capnp::StructSchema schema);

// Reads `words` (a stored value: the envelope at its root, the record as its
// body) through to its last pointer, as a record of `tree`'s schema: every
// pointer field must be of its declared kind (Text, Data, a struct, a list
// of the declared element size), down through nested structs and lists,
// and no part of the value may be read twice. Fields the schema does not
// know (a newer program's) are not read. Throws Error(kCorrupt) naming the
// record and the field's path ("lines[3].part").
void checkValue(const TreeState& tree, std::uint64_t id, std::uint32_t revision,
                kj::ArrayPtr<const capnp::word> words);

}  // namespace hills::detail
