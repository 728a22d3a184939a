#include "hills/key.h"

namespace hills {

std::string describe(std::string_view tree, std::uint64_t id, std::uint32_t revision) {
  std::string out(tree);
  out += '(';
  out += std::to_string(id);
  out += ", ";
  out += std::to_string(revision);
  out += ')';
  return out;
}

}  // namespace hills
