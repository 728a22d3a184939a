// A tour of hills on the example PLM schema: parts, a bill of materials,
// zero-copy reads, release and a new revision.
//
//   plm-demo DIR
#include <cstdio>
#include <string>

#include "hills/hills.h"
#include "plm.hills.h"

namespace {

void show(const char* what, hills::Key<plm::Part> key, plm::Part::Reader part,
          const hills::RecordMeta& meta) {
  std::printf("  %-24s parts(%llu, %u)  %-8s %-22s %-9s lifecycle %u\n", what,
              static_cast<unsigned long long>(key.id), key.revision, part.getNumber().cStr(),
              part.getName().cStr(), std::string(hills::toString(meta.state)).c_str(),
              meta.lifecycle);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s DIR\n", argv[0]);
    return 2;
  }
  try {
    hills::Options options;
    options.trees = hills::treeTypes<plm::Part, plm::Bom, plm::StockItem>();
    options.author = "demo";
    hills::Database db(argv[1], options);
    std::printf("opened %s (database %s)\n", db.path().c_str(), db.uuid().c_str());

    // Every committed change arrives as an event, after the commit.
    auto events = db.subscribe({}, [](const hills::Event& e) {
      std::string fields;
      for (const auto& f : e.changedFields) fields += (fields.empty() ? " fields: " : ", ") + f;
      std::printf("  event %-16s %s%s\n", std::string(hills::toString(e.kind)).c_str(),
                  hills::describe(e.key).c_str(), fields.c_str());
    });

    // 1. Parts and a bill of materials in one transaction: all or nothing.
    auto [board, resistor, bom] = db.write([](hills::WriteTxn& txn) {
      auto parts = txn.tree<plm::Part>();
      plm::Part b{};
      b.number = "A-1000";
      b.name = "controller board";
      b.kind = plm::Part::Kind::ASSEMBLY;
      auto boardKey = parts.create(b);
      plm::Part r{};
      r.number = "R-0402-10K";
      r.name = "resistor 10k 0402";
      r.kind = plm::Part::Kind::PURCHASED;
      r.unitCost = 0.002f;
      r.tags = {"passive", "smd"};
      auto resistorKey = parts.create(r);
      plm::Bom list{};
      list.assembly = boardKey;
      list.lines.push_back(plm::Bom::Line{resistorKey, 12, {"R1", "R2", "R3"}});
      auto bomKey = txn.tree<plm::Bom>().create(list);
      return std::tuple(boardKey, resistorKey, bomKey);
    });
    std::printf("created 2 parts and a bom in one transaction\n");

    // 2. Zero-copy reads: Readers point into the memory map.
    db.read([&](const hills::ReadTxn& txn) {
      auto parts = txn.tree<plm::Part>();
      auto list = txn.tree<plm::Bom>().read(bom);
      auto assembly = parts.read(
          hills::Key<plm::Part>{list->getAssembly().getId(), list->getAssembly().getRevision()});
      std::printf("bom boms(%llu, %u) for %s:\n", static_cast<unsigned long long>(bom.id),
                  bom.revision, assembly->getName().cStr());
      for (auto line : list->getLines()) {
        auto part =
            parts.read(hills::Key<plm::Part>{line.getPart().getId(), line.getPart().getRevision()});
        std::printf("  %4.0f x %-12s %s\n", line.getQuantity(), part->getNumber().cStr(),
                    part->getName().cStr());
      }
    });

    // 3. Release the resistor: it is frozen from now on.
    db.write([&](hills::WriteTxn& txn) { txn.tree<plm::Part>().release(resistor); });
    try {
      db.write([&](hills::WriteTxn& txn) {
        auto r = txn.tree<plm::Part>().get(resistor);
        r->name = "changed after release";
        txn.tree<plm::Part>().update(resistor, *r);
      });
    } catch (const hills::Error& e) {
      std::printf("update after release refused: %s\n", e.what());
    }

    // 4. A new revision: a draft copied from the released one.
    auto revised = db.write([&](hills::WriteTxn& txn) {
      auto parts = txn.tree<plm::Part>();
      auto next = parts.newRevision(resistor);
      auto r = parts.get(next);
      r->name = "resistor 10k 0402 1%";
      parts.update(next, *r);
      parts.setLifecycle(resistor, 2);  // the application's "superseded"
      return next;
    });

    db.read([&](const hills::ReadTxn& txn) {
      auto parts = txn.tree<plm::Part>();
      auto first = parts.read(resistor);
      std::printf("revisions of %s:\n", first->getNumber().cStr());
      parts.forEachRevision(resistor.id, [&](hills::Key<plm::Part> k, plm::Part::Reader r) {
        show(k == revised ? "new revision (draft)" : "released revision", k, r, *parts.meta(k));
      });
      std::printf("latest revision of id %llu: %u\n", static_cast<unsigned long long>(resistor.id),
                  parts.latest(resistor.id)->revision);
      std::printf("board parts(%llu, %u) is still a draft: %s\n",
                  static_cast<unsigned long long>(board.id), board.revision,
                  std::string(hills::toString(parts.meta(board)->state)).c_str());
    });
    for (const auto& tree : db.trees()) {
      std::printf("tree %-6s %s, %llu records\n", tree.name.c_str(),
                  tree.versioned ? "versioned" : "unversioned",
                  static_cast<unsigned long long>(tree.records));
    }
    return 0;
  } catch (const hills::Error& e) {
    std::fprintf(stderr, "plm-demo: %s\n", e.what());
    return 1;
  }
}
