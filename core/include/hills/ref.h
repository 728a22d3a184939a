// Keys from the references records hold: a field of type Hills.Ref
// (schemas/hills/hills.capnp), which Cap'n Proto generates as
// hills::schema::Ref and its Reader hands out as a Ref::Reader; and the
// walk that finds every reference of a record through its schema.
#pragma once

#include <capnp/any.h>
#include <capnp/schema.h>
#include <kj/function.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "hills/hills.capnp.h"
#include "hills/key.h"

namespace hills {

// The key that `ref` holds, typed for T's tree: the tree the field's
// $Hills.ref("...") annotation names. Nothing checks that it is T's tree,
// as with any Key<T> built from numbers. A null reference (id 0, or a Ref
// field never set) gives a false key. Copies the two numbers: the key
// outlives the reader. Never throws.
//   plm::Bom::Reader bom = ...;
//   auto part = txn.tree<plm::Part>().get(hills::keyFrom<plm::Part>(bom.getAssembly()));
template <class T>
Key<T> keyFrom(schema::Ref::Reader ref) {
  return Key<T>{ref.getId(), ref.getRevision()};
}

// The same for generic code, which knows the target tree by name (the
// field's $Hills.ref annotation) rather than by type.
inline OpaqueKey keyFrom(std::string_view tree, schema::Ref::Reader ref) {
  return OpaqueKey{std::string(tree), ref.getId(), ref.getRevision()};
}

// The tree a field's $Hills.ref annotation names; empty when it has none.
// The text lives in the field's schema.
std::string_view refTarget(capnp::StructSchema::Field field);

// Whether `type` is Hills.Ref (the struct of a reference's id and revision).
bool isRefType(capnp::Type type);

// One reference a record holds, as forEachRef and rewriteRefs hand it over.
struct RefValue {
  std::string_view tree;       // what the field's $Hills.ref annotation names
  std::uint64_t id = 0;        // never 0: null references are skipped
  std::uint32_t revision = 0;
};

// Calls fn for every reference `body` holds, `body` being a struct of
// `schema` (a record's, compiled or stored): every field of type Hills.Ref
// annotated $Hills.ref("tree"), and every element of such a list (or list
// of lists), in nested structs, groups and lists too. Null references (id
// 0), unset fields and Ref fields without the annotation are skipped;
// fields the schema does not know are not seen. The tree name is valid as
// long as `schema`. Throws kj::Exception when the body does not decode.
void forEachRef(capnp::StructSchema schema, capnp::AnyPointer::Reader body,
                kj::FunctionParam<void(const RefValue& ref)> fn);

// The same walk over a body being built: fn may change the id and the
// revision of each reference, which are written back in place (nothing is
// allocated, so the message keeps its size). Returns how many references
// changed. Throws kj::Exception when the body does not decode.
std::size_t rewriteRefs(capnp::StructSchema schema, capnp::AnyPointer::Builder body,
                        kj::FunctionParam<void(RefValue& ref)> fn);

}  // namespace hills
