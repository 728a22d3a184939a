// Keys from the references records hold: a field of type Hills.Ref
// (schemas/hills/hills.capnp), which Cap'n Proto generates as
// hills::schema::Ref and its Reader hands out as a Ref::Reader.
#pragma once

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

}  // namespace hills
