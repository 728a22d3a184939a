// The non-template parts of the built-in indexers.
#include "hills/indexes.h"

#include <cctype>

#include "hills/ref.h"

namespace hills {

std::string normalizeName(std::string_view name, const NameOptions& options) {
  if (options.trim) {
    auto space = [](char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; };
    while (!name.empty() && space(name.front())) name.remove_prefix(1);
    while (!name.empty() && space(name.back())) name.remove_suffix(1);
  }
  std::string out;
  out.reserve(name.size());
  for (char c : name) {
    if (options.ignored.find(c) != std::string::npos) continue;
    // ASCII only: bytes of UTF-8 sequences pass unchanged.
    out +=
        options.caseSensitive ? c : static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return out;
}

namespace detail {

std::vector<std::string> trigrams(std::string_view normalized) {
  std::vector<std::string> out;
  if (normalized.empty()) return out;
  std::string padded = "  " + std::string(normalized) + " ";
  for (std::size_t i = 0; i + 3 <= padded.size(); ++i) out.push_back(padded.substr(i, 3));
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

std::string refKey(std::string_view tree, std::uint64_t id, std::uint32_t revision) {
  std::string k(tree);
  k += '\0';
  for (int i = 0; i < 8; ++i) k += static_cast<char>(id >> (56 - 8 * i));
  for (int i = 0; i < 4; ++i) k += static_cast<char>(revision >> (24 - 8 * i));
  return k;
}

void collectRefs(capnp::StructSchema schema, capnp::AnyPointer::Reader body,
                 std::vector<std::string>& out) {
  forEachRef(schema, body,
             [&](const RefValue& ref) { out.push_back(refKey(ref.tree, ref.id, ref.revision)); });
}

}  // namespace detail
}  // namespace hills
