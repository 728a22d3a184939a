// Record keys: typed Key<T> for application code, OpaqueKey for generic code.
#pragma once

#include <compare>
#include <cstdint>
#include <string>
#include <string_view>

namespace hills {

// Identifies one revision of one record of the tree that holds T. A Key<Part>
// and a Key<Bom> are different types: passing one where the other is expected
// does not compile. Id 0 is "no record" (a null reference).
template <class T>
struct Key {
  std::uint64_t id = 0;
  std::uint32_t revision = 0;

  explicit operator bool() const { return id != 0; }
  friend auto operator<=>(const Key&, const Key&) = default;
};

// A key with its tree named at run time, for tools that handle any tree (the
// viewer, the command line, extensions). Converting it to a typed key checks the tree.
struct OpaqueKey {
  std::string tree;
  std::uint64_t id = 0;
  std::uint32_t revision = 0;

  friend auto operator<=>(const OpaqueKey&, const OpaqueKey&) = default;
};

// "parts(42, 1)": how errors and logs name a key.
std::string describe(std::string_view tree, std::uint64_t id, std::uint32_t revision);
inline std::string describe(const OpaqueKey& k) { return describe(k.tree, k.id, k.revision); }

}  // namespace hills
