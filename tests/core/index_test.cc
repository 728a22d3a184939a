#include <catch2/catch.hpp>

#include "plm_fixtures.h"
#include "temp_dir.h"

using hills::ErrorCode;
using hills::Key;
using hills::test::makePart;
using hills::test::plmOptions;
using hills::test::TempDir;

namespace {

// Indexes parts by the first tag; throws for a part named "poison".
class FirstTag : public hills::KeyedIndexer {
 public:
  explicit FirstTag(std::uint32_t version = 1) : version_(version) {}
  std::string name() const override { return "first-tag"; }
  std::uint32_t version() const override { return version_; }
  std::string tree() const override { return "parts"; }
  int applied = 0;

 protected:
  void keys(const hills::IndexedRecord& rec, std::vector<std::string>& out) const override {
    auto part = rec.body().getAs<plm::Part::Capnp>();
    if (part.getName() == "poison") throw std::runtime_error("poisoned part");
    if (part.getTags().size() > 0) out.emplace_back(part.getTags()[0]);
  }

 private:
  std::uint32_t version_;
};

hills::Options withIndex(std::shared_ptr<hills::Indexer> ix) {
  auto o = plmOptions();
  o.indexers = {std::move(ix)};
  return o;
}

}  // namespace

TEST_CASE("an indexer keeps its entries with every mutation of its tree", "[core][index]") {
  TempDir dir;
  hills::Database db(dir.path(), withIndex(std::make_shared<FirstTag>()));
  hills::IndexHandle<plm::Part> byTag("first-tag");
  auto [a, b] = db.write([](hills::WriteTxn& txn) {
    auto parts = txn.tree<plm::Part>();
    auto pa = makePart(1);
    pa.tags = {"bolt"};
    auto pb = makePart(2);
    pb.tags = {"nut"};
    return std::pair(parts.create(pa), parts.create(pb));
  });
  db.read([&](const hills::ReadTxn& txn) {
    CHECK(byTag.exact(txn, "bolt") == std::vector{a});
    CHECK(byTag.count(txn, "nut") == 1);
    CHECK(byTag.prefix(txn, "") == std::vector{a, b});
    CHECK(byTag.range(txn, "c", "z") == std::vector{b});
  });
  db.write([&](hills::WriteTxn& txn) {
    auto p = makePart(1);
    p.tags = {"nut"};
    txn.tree<plm::Part>().update(a, p);
    txn.tree<plm::Part>().remove(b);
  });
  db.read([&](const hills::ReadTxn& txn) {
    CHECK(byTag.exact(txn, "bolt").empty());
    CHECK(byTag.exact(txn, "nut") == std::vector{a});
    CHECK(txn.index("first-tag").size() == 1);
  });
}

TEST_CASE("an indexer that throws aborts the write and changes neither tree nor index",
          "[core][index]") {
  TempDir dir;
  hills::Database db(dir.path(), withIndex(std::make_shared<FirstTag>()));
  auto poison = makePart(9);
  poison.name = "poison";
  try {
    db.write([&](hills::WriteTxn& txn) {
      auto parts = txn.tree<plm::Part>();
      parts.create(makePart(1));
      try {
        parts.create(poison);
      } catch (const hills::Error&) {
        // Swallowed on purpose: the write must abort anyway.
      }
    });
    FAIL("the write committed");
  } catch (const hills::Error& e) {
    CHECK_THAT(e.what(),
               Catch::Contains("indexer 'first-tag'") && Catch::Contains("poisoned part"));
  }
  db.read([](const hills::ReadTxn& txn) {
    CHECK(txn.tree<plm::Part>().size() == 0);
    CHECK(txn.index("first-tag").size() == 0);
  });
}

TEST_CASE("an index is rebuilt at open when its version changes, with progress", "[core][index]") {
  TempDir dir;
  {
    hills::Database db(dir.path(), plmOptions());  // records before any index existed
    db.write([](hills::WriteTxn& txn) {
      for (int i = 0; i < 5000; ++i) {
        auto p = makePart(i);
        p.tags = {"t" + std::to_string(i % 10)};
        txn.tree<plm::Part>().create(p);
      }
    });
  }
  std::vector<std::uint64_t> progress;
  auto open = [&](std::uint32_t version) {
    auto o = withIndex(std::make_shared<FirstTag>(version));
    o.indexProgress = [&](std::string_view name, std::uint64_t done, std::uint64_t total) {
      CHECK(name == "first-tag");
      CHECK(total == 5000);
      progress.push_back(done);
    };
    return std::make_unique<hills::Database>(dir.path(), o);
  };
  {
    auto db = open(1);  // missing: built
    REQUIRE_FALSE(progress.empty());
    CHECK(progress.back() == 5000);
    db->read([](const hills::ReadTxn& txn) { CHECK(txn.index("first-tag").count("t3") == 500); });
  }
  progress.clear();
  { auto db = open(1); }  // current: left alone
  CHECK(progress.empty());
  { auto db = open(2); }  // stale: rebuilt
  CHECK(progress.back() == 5000);
}

TEST_CASE("an indexer of a tree the database lacks is refused at open", "[core][index]") {
  TempDir dir;
  class Orphan : public FirstTag {
    std::string tree() const override { return "nonexistent"; }
  };
  try {
    hills::Database db(dir.path(), withIndex(std::make_shared<Orphan>()));
    FAIL("opened");
  } catch (const hills::Error& e) {
    CHECK(e.code() == ErrorCode::kInvalidArgument);
    CHECK_THAT(e.what(), Catch::Contains("nonexistent"));
  }
}

TEST_CASE("a write retried after the map grew keeps index and events exact",
          "[core][index][growth]") {
  TempDir dir;
  auto o = withIndex(std::make_shared<FirstTag>());
  o.initialMapSize = 1 << 20;
  hills::Database db(dir.path(), o);
  std::uint64_t events = 0;
  auto sub = db.subscribe({}, [&](const hills::Event&) { ++events; });
  db.write([](hills::WriteTxn& txn) {
    for (int i = 0; i < 3000; ++i) {
      auto p = makePart(i, 400);
      p.tags = {"t" + std::to_string(i % 3)};
      txn.tree<plm::Part>().create(p);
    }
  });
  CHECK(db.stats().mapGrowths >= 1);
  CHECK(events == 3000);
  db.read([](const hills::ReadTxn& txn) {
    CHECK(txn.tree<plm::Part>().size() == 3000);
    CHECK(txn.index("first-tag").size() == 3000);
    CHECK(txn.index("first-tag").count("t1") == 1000);
  });
}

TEST_CASE("a read-only open refuses an index that is missing or stale", "[core][index]") {
  TempDir dir;
  { hills::Database db(dir.path(), plmOptions()); }
  auto readOnly = [&](std::uint32_t version) {
    auto o = withIndex(std::make_shared<FirstTag>(version));
    o.readOnly = true;
    return o;
  };
  CHECK_THROWS_AS(hills::Database(dir.path(), readOnly(1)), hills::Error);  // never built
  { hills::Database db(dir.path(), withIndex(std::make_shared<FirstTag>(1))); }
  { hills::Database db(dir.path(), readOnly(1)); }                          // current: fine
  CHECK_THROWS_AS(hills::Database(dir.path(), readOnly(2)), hills::Error);  // stale
}
