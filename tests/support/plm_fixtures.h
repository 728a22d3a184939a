// Example records of the PLM schema for tests.
#pragma once

#include <string>

#include "hills/hills.h"
#include "plm.hills.h"

namespace hills::test {

inline hills::Options plmOptions() {
  hills::Options o;
  o.trees = hills::treeTypes<plm::Part, plm::Bom, plm::StockItem>();
  o.durable = false;  // tests need no fsync; crash tests set it back
  o.author = "test";
  return o;
}

inline plm::Part makePart(int n, std::size_t descriptionLength = 40) {
  plm::Part p{};
  p.number = "P-" + std::to_string(100000 + n);
  p.name = "part " + std::to_string(n);
  p.description = std::string(descriptionLength, static_cast<char>('a' + n % 26));
  p.mass = 0.5 * n;
  p.tags = {"t" + std::to_string(n % 7), "common"};
  return p;
}

}  // namespace hills::test
