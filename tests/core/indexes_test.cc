#include <catch2/catch.hpp>
#include <map>
#include <random>

#include "error_of.h"
#include "plm_fixtures.h"
#include "temp_dir.h"

using hills::ErrorCode;
using hills::Key;
using hills::test::errorOf;
using hills::test::makePart;
using hills::test::plmOptions;
using hills::test::TempDir;

namespace {

struct Indexes {
  std::shared_ptr<hills::NameIndex<plm::Part>> numbers;
  std::shared_ptr<hills::NameIndex<plm::Part>> tags;
  std::shared_ptr<hills::SimilarityIndex<plm::Part>> similar;
  std::shared_ptr<hills::LatestRevisionIndex<plm::Part>> latest;
  std::shared_ptr<hills::ReferenceIndex<plm::Bom>> used;

  explicit Indexes(std::uint32_t version = 1)
      : numbers(std::make_shared<hills::NameIndex<plm::Part>>(
            "part-numbers", version, [](plm::Part::Reader p) { return std::string(p.getNumber()); },
            hills::NameOptions{.unique = true, .ignored = "-"})),
        tags(std::make_shared<hills::NameIndex<plm::Part>>("part-tags", version,
                                                           [](plm::Part::Reader p) {
                                                             std::vector<std::string> out;
                                                             for (auto t : p.getTags())
                                                               out.emplace_back(t);
                                                             return out;
                                                           })),
        similar(std::make_shared<hills::SimilarityIndex<plm::Part>>(
            "part-names", version, [](plm::Part::Reader p) { return std::string(p.getName()); })),
        latest(std::make_shared<hills::LatestRevisionIndex<plm::Part>>("part-latest", version)),
        used(std::make_shared<hills::ReferenceIndex<plm::Bom>>("bom-uses", version)) {}

  hills::Options options() const {
    auto o = plmOptions();
    o.indexers = {numbers, tags, similar, latest, used};
    return o;
  }
};

plm::Part named(const std::string& number, const std::string& name) {
  auto p = makePart(0);
  p.number = number;
  p.name = name;
  return p;
}

// Every entry of an index, in order.
std::vector<std::pair<std::string, hills::RecordId>> dump(hills::Database& db,
                                                          const std::string& name) {
  return db.read([&](const hills::ReadTxn& txn) {
    std::vector<std::pair<std::string, hills::RecordId>> out;
    txn.index(name).scan({}, {}, [&](std::string_view k, hills::RecordId r) {
      out.emplace_back(std::string(k), r);
      return true;
    });
    return out;
  });
}

}  // namespace

TEST_CASE("a unique name index refuses a duplicate and names both records", "[core][indexes]") {
  TempDir dir;
  Indexes ix;
  hills::Database db(dir.path(), ix.options());
  auto first = db.write(
      [](hills::WriteTxn& txn) { return txn.tree<plm::Part>().create(named("P-100", "bolt")); });
  try {
    db.write([](hills::WriteTxn& txn) { txn.tree<plm::Part>().create(named(" p100 ", "other")); });
    FAIL("a duplicate name was accepted");
  } catch (const hills::Error& e) {
    CHECK(e.code() == ErrorCode::kAlreadyExists);
    CHECK_THAT(e.what(), Catch::Contains("parts(" + std::to_string(first.id) + ", 0)"));
  }
  db.read([&](const hills::ReadTxn& txn) {
    CHECK(ix.numbers->find(txn, "p-100") == std::vector{first});
    CHECK(ix.numbers->find(txn, "P100 ") == std::vector{first});
    CHECK(txn.tree<plm::Part>().size() == 1);
  });
  // Revisions of one id share their name.
  db.write([&](hills::WriteTxn& txn) {
    txn.tree<plm::Part>().release(first);
    txn.tree<plm::Part>().newRevision(first);
  });
  db.read([&](const hills::ReadTxn& txn) { CHECK(ix.numbers->find(txn, "P-100").size() == 2); });
}

TEST_CASE(
    "a unique name refusal names the name as written and the records as the caller knows "
    "them",
    "[core][indexes]") {
  TempDir dir;
  Indexes ix;
  hills::Database db(dir.path(), ix.options());
  auto [first, second] = db.write([](hills::WriteTxn& txn) {
    auto parts = txn.tree<plm::Part>();
    return std::pair(parts.create(named("P-100", "bolt")), parts.create(named("P-200", "nut")));
  });
  auto holder = "is taken by parts(" + std::to_string(first.id) + ", 0)";
  db.write([&](hills::WriteTxn& txn) {
    auto parts = txn.tree<plm::Part>();
    // A create: its id is nobody's business yet.
    auto created = errorOf([&] { parts.create(named(" p100 ", "other")); });
    CHECK(created.code() == ErrorCode::kAlreadyExists);
    CHECK(std::string(created.what()) ==
          "indexer 'part-numbers' refused a new record of tree 'parts': the name ' p100 ' "
          "(compared as 'p100') " +
              holder);
    auto updated = errorOf([&] { parts.update(second, named("P-100", "nut")); });
    CHECK(updated.code() == ErrorCode::kAlreadyExists);
    CHECK(std::string(updated.what()) ==
          "indexer 'part-numbers' refused parts(" + std::to_string(second.id) +
              ", 0): the name 'P-100' (compared as 'p100') " + holder);
  });
}

TEST_CASE("a multi-name index finds a record under each of its names", "[core][indexes]") {
  TempDir dir;
  Indexes ix;
  hills::Database db(dir.path(), ix.options());
  auto key = db.write([](hills::WriteTxn& txn) {
    auto p = named("P-1", "washer");
    p.tags = {"Metric", "Zinc", "metric"};
    return txn.tree<plm::Part>().create(p);
  });
  db.read([&](const hills::ReadTxn& txn) {
    CHECK(ix.tags->find(txn, "METRIC") == std::vector{key});
    CHECK(ix.tags->find(txn, "zinc") == std::vector{key});
    CHECK(ix.tags->findPrefix(txn, "zi") == std::vector{key});
    CHECK(txn.index("part-tags").size() == 2);
  });
}

TEST_CASE("similarity search ranks near matches of a name first", "[core][indexes]") {
  TempDir dir;
  Indexes ix;
  hills::Database db(dir.path(), ix.options());
  std::map<std::string, Key<plm::Part>> keys;
  db.write([&](hills::WriteTxn& txn) {
    int n = 0;
    for (std::string name :
         {"hex bolt M8", "hex nut M8", "washer M8", "hex bolt M10", "cable tie"}) {
      keys[name] = txn.tree<plm::Part>().create(named("P-" + std::to_string(++n), name));
    }
  });
  db.read([&](const hills::ReadTxn& txn) {
    auto hits = ix.similar->search(txn, "hex blot m8", 3);
    REQUIRE(hits.size() == 3);
    CHECK(hits[0].key == keys["hex bolt M8"]);
    CHECK(hits[0].score > hits[1].score);
    for (const auto& h : hits) CHECK(h.key != keys["cable tie"]);
    CHECK(ix.similar->search(txn, "zzzz", 3).empty());
  });
}

TEST_CASE("the latest-revision index follows new revisions and removals", "[core][indexes]") {
  TempDir dir;
  Indexes ix;
  hills::Database db(dir.path(), ix.options());
  auto k0 = db.write(
      [](hills::WriteTxn& txn) { return txn.tree<plm::Part>().create(named("P-1", "a")); });
  auto k1 = db.write([&](hills::WriteTxn& txn) {
    txn.tree<plm::Part>().release(k0);
    return txn.tree<plm::Part>().newRevision(k0);
  });
  db.read([&](const hills::ReadTxn& txn) { CHECK(ix.latest->latest(txn, k0.id) == k1); });
  db.write([&](hills::WriteTxn& txn) { txn.tree<plm::Part>().remove(k1); });
  db.read([&](const hills::ReadTxn& txn) {
    CHECK(ix.latest->latest(txn, k0.id) == k0);
    CHECK(ix.latest->all(txn) == std::vector{k0});
  });
}

TEST_CASE("the reference index answers where a part is used after references move",
          "[core][indexes]") {
  TempDir dir;
  Indexes ix;
  hills::Database db(dir.path(), ix.options());
  auto [a, b, c, bom] = db.write([](hills::WriteTxn& txn) {
    auto parts = txn.tree<plm::Part>();
    auto a = parts.create(named("P-1", "assembly"));
    auto b = parts.create(named("P-2", "screw"));
    auto c = parts.create(named("P-3", "plate"));
    plm::Bom bom{};
    bom.assembly = a;
    bom.lines.push_back(plm::Bom::Line{b, 4, {}});
    return std::tuple(a, b, c, txn.tree<plm::Bom>().create(bom));
  });
  db.read([&](const hills::ReadTxn& txn) {
    CHECK(ix.used->whereUsed(txn, b) == std::vector{bom});
    CHECK(ix.used->whereUsed(txn, a) == std::vector{bom});
    CHECK(ix.used->whereUsed(txn, c).empty());
  });
  db.write([&](hills::WriteTxn& txn) {
    auto boms = txn.tree<plm::Bom>();
    auto list = *boms.get(bom);
    list.lines[0].part = c;  // the screw is replaced by the plate
    list.interchangeable = {{b, c}};
    boms.update(bom, list);
  });
  db.read([&](const hills::ReadTxn& txn) {
    CHECK(ix.used->whereUsed(txn, c) == std::vector{bom});
    CHECK(ix.used->whereUsed(txn, b) == std::vector{bom});  // now only as interchangeable
    CHECK(ix.used->whereUsedAnyRevision(txn, Key<plm::Part>{c.id, 7}) == std::vector{bom});
  });
  db.write([&](hills::WriteTxn& txn) {
    auto boms = txn.tree<plm::Bom>();
    auto list = *boms.get(bom);
    list.interchangeable.clear();
    boms.update(bom, list);
  });
  db.read([&](const hills::ReadTxn& txn) { CHECK(ix.used->whereUsed(txn, b).empty()); });
}

TEST_CASE("after 10000 random mutations every built-in index equals a rebuilt one",
          "[core][indexes][property]") {
  TempDir dir;
  const std::vector<std::string> names = {"P-1", "P-2", "P-3", "P-4", "P-5", "P-6", "P-7", "P-8"};
  std::map<std::string, std::vector<std::pair<std::string, hills::RecordId>>> live;
  {
    Indexes ix;
    hills::Database db(dir.path(), ix.options());
    std::mt19937 rng(4711);
    std::vector<Key<plm::Part>> parts;
    std::vector<Key<plm::Bom>> boms;
    int done = 0;
    while (done < 10000) {
      db.write([&](hills::WriteTxn& txn) {
        auto pt = txn.tree<plm::Part>();
        auto bt = txn.tree<plm::Bom>();
        for (int i = 0; i < 100; ++i, ++done) {
          unsigned op = rng() % 10;
          try {
            if (op < 3 || parts.empty()) {
              // Numbers are unique: a duplicate would abort the whole transaction.
              auto p = named("N-" + std::to_string(done), "name " + std::to_string(rng() % 300));
              p.tags = {names[rng() % names.size()]};
              parts.push_back(pt.create(p));
            } else if (op < 5) {
              auto k = parts[rng() % parts.size()];
              auto p = pt.get(k);
              if (!p) continue;
              p->name = "renamed " + std::to_string(rng() % 300);
              p->tags.push_back(names[rng() % names.size()]);
              pt.update(k, *p);
            } else if (op < 6) {
              auto k = parts[rng() % parts.size()];
              pt.release(k);
              parts.push_back(pt.newRevision(k));
            } else if (op < 7) {
              auto at = rng() % parts.size();
              pt.remove(parts[at]);
              parts.erase(parts.begin() + at);
            } else if (op < 9) {
              plm::Bom b{};
              b.assembly = parts[rng() % parts.size()];
              b.lines.push_back(plm::Bom::Line{parts[rng() % parts.size()], 1, {}});
              boms.push_back(bt.create(b));
            } else if (!boms.empty()) {
              auto k = boms[rng() % boms.size()];
              auto b = bt.get(k);
              b->lines.push_back(plm::Bom::Line{parts[rng() % parts.size()], 2, {}});
              bt.update(k, *b);
            }
          } catch (const hills::Error& e) {
            // Refusals are part of the workload (released records, revisions
            // that are not the newest); they change nothing.
            CHECK((e.code() == ErrorCode::kReleased || e.code() == ErrorCode::kNotLatest ||
                   e.code() == ErrorCode::kNotReleased));
          }
        }
      });
    }
    for (auto n : {"part-numbers", "part-tags", "part-names", "part-latest", "bom-uses"})
      live[n] = dump(db, n);
  }
  Indexes rebuilt(2);  // a new version: every index is rebuilt from the trees
  hills::Database db(dir.path(), rebuilt.options());
  for (auto& [name, entries] : live) {
    INFO(name);
    CHECK_FALSE(entries.empty());
    CHECK(dump(db, name) == entries);
  }
}

TEST_CASE("similarity search finds the best match beyond the candidates that share the most",
          "[core][indexes][regression]") {
  TempDir dir;
  Indexes ix;
  hills::Database db(dir.path(), ix.options());
  Key<plm::Part> shortName;
  db.write([&](hills::WriteTxn& txn) {
    for (int i = 0; i < 30; ++i) {
      txn.tree<plm::Part>().create(
          named("L-" + std::to_string(i), "abcd long tail number " + std::to_string(i)));
    }
    shortName = txn.tree<plm::Part>().create(named("S-1", "abc"));
  });
  db.read([&](const hills::ReadTxn& txn) {
    auto top = ix.similar->search(txn, "abcd", 1);
    REQUIRE(top.size() == 1);
    CHECK(top[0].key == shortName);
    CHECK(ix.similar->search(txn, "abcd", SIZE_MAX).size() == 31);
  });
}
