// Example records of the PLM schema for tests.
#pragma once

#include <algorithm>
#include <cstddef>
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

// Writes `count` parts, makePart(first) on, into the database at `path`
// (created when absent), 100,000 to a transaction: the large trees of the
// benchmarks and of the tests that need one.
inline void writeParts(const std::string& path, std::size_t count, int first = 0,
                       std::size_t descriptionLength = 40) {
  hills::Database db(path, plmOptions());
  for (std::size_t done = 0; done < count;) {
    std::size_t n = std::min<std::size_t>(100000, count - done);
    db.write([&](hills::WriteTxn& txn) {
      auto parts = txn.tree<plm::Part>();
      for (std::size_t i = 0; i < n; ++i) {
        parts.create(makePart(first + static_cast<int>(done + i), descriptionLength));
      }
    });
    done += n;
  }
}

}  // namespace hills::test
