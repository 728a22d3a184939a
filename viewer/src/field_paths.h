// A record's fields as paths ("lines[2].designators[0]") and leaves: what
// the record view names a field by and what a comparison of two revisions
// compares. Works on Cap'n Proto's dynamic readers over a tree's stored
// schema; no Qt.
#pragma once

#include <capnp/dynamic.h>

#include <cstdint>
#include <string>
#include <vector>

namespace hills::viewer {

// One field of a record on the way to a leaf: its name and, for an element
// of a list, its index.
struct PathStep {
  std::string name;  // a field's name, or empty for a list element
  std::uint32_t index = 0;
};

// "lines[2].designators[0]".
std::string pathText(const std::vector<PathStep>& path);

// Every leaf of a record as (path, text), depth first in schema order:
// what a field-by-field comparison of two revisions compares. Unset
// pointer fields and inactive union members are left out; a reference is a
// leaf ("parts 42/1"), so is Data (its hex).
struct Leaf {
  std::string path;
  std::string text;
};
std::vector<Leaf> leaves(capnp::DynamicStruct::Reader record);

// One line of a field-by-field comparison.
struct FieldDiff {
  std::string path;
  std::string before;  // empty when only `after` has the field
  std::string after;   // empty when only `before` has it
};
// The fields whose text differs between two records of one tree, in the
// order of `after`'s leaves then those only `before` has.
std::vector<FieldDiff> diff(capnp::DynamicStruct::Reader before,
                            capnp::DynamicStruct::Reader after);

}  // namespace hills::viewer
