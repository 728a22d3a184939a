// The database the value, change and JSON fuzz targets write to: the trees
// of the example schema and of the schema with every field kind, with name
// indexes that read a Text field of each, as applications keep them.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "hills/hills.h"
#include "kinds.hills.h"
#include "plm_fixtures.h"
#include "shared.hills.h"

namespace hills::fuzz {

// The trees, in the order an input's first byte picks them.
inline constexpr const char* kTrees[] = {"parts", "boms", "stock", "samples", "owners"};
inline constexpr std::size_t kTreeCount = sizeof(kTrees) / sizeof(kTrees[0]);

// `base` with the trees and the indexers added.
inline hills::Options withFuzzTrees(hills::Options base) {
  base.trees = hills::treeTypes<plm::Part, plm::Bom, plm::StockItem, kinds::records::Sample,
                                shared::Owner>();
  base.indexers.push_back(std::make_shared<hills::NameIndex<plm::Part>>(
      "part-numbers", 1, [](plm::Part::Reader p) { return std::string(p.getNumber()); }));
  base.indexers.push_back(std::make_shared<hills::NameIndex<kinds::records::Sample>>(
      "sample-labels", 1,
      [](kinds::records::Sample::Reader s) { return std::string(s.getLabel()); }));
  return base;
}

// Reads the record (tree, id, revision) through every field: as JSON with
// the stored schema, and decoded whole into its compiled type. Throws what
// they throw.
inline void readEveryField(const hills::ReadTxn& txn, std::string_view tree, std::uint64_t id,
                           std::uint32_t revision) {
  auto view = txn.tree(tree);
  auto rec = view.require(id, revision);
  hills::toJson(view, rec);
  rec.meta();
  std::string name(tree);
  if (name == "parts") txn.tree<plm::Part>().get(hills::Key<plm::Part>{id, revision});
  if (name == "boms") txn.tree<plm::Bom>().get(hills::Key<plm::Bom>{id, revision});
  if (name == "stock") txn.tree<plm::StockItem>().get(hills::Key<plm::StockItem>{id, revision});
  if (name == "samples") {
    txn.tree<kinds::records::Sample>().get(hills::Key<kinds::records::Sample>{id, revision});
  }
  if (name == "owners") txn.tree<shared::Owner>().get(hills::Key<shared::Owner>{id, revision});
}

}  // namespace hills::fuzz
