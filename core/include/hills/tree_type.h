// A compiled record type, described at run time.
#pragma once

#include <capnp/schema.h>

#include <cstdint>
#include <string>
#include <vector>

#include "hills/record_traits.h"

namespace hills {

// What Database needs to know of a compiled record type: its tree, whether
// the tree is versioned, and its Cap'n Proto schema (to store it and to check
// it against the stored one).
struct TreeType {
  std::string tree;
  bool versioned = true;
  capnp::StructSchema schema;
};

template <TreeRecord T>
TreeType treeType() {
  return TreeType{std::string(RecordTraits<T>::tree), RecordTraits<T>::versioned,
                  capnp::Schema::from<typename RecordTraits<T>::Capnp>()};
}

// The descriptors of several record types, for Options::trees:
//   options.trees = hills::treeTypes<plm::Part, plm::Bom>();
template <TreeRecord... T>
std::vector<TreeType> treeTypes() {
  return {treeType<T>()...};
}

}  // namespace hills
