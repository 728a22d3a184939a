#include <catch2/catch.hpp>

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

// Writes an entry, then throws: an apply that fails half way.
class HalfWriter : public hills::Indexer {
 public:
  std::string name() const override { return "half-writer"; }
  std::uint32_t version() const override { return 1; }
  std::string tree() const override { return "parts"; }
  void apply(hills::IndexWriter& out, const hills::IndexedRecord*,
             const hills::IndexedRecord* after) override {
    if (!after) return;
    out.put("written", hills::RecordId{after->id, after->revision});
    if (after->body().getAs<plm::Part::Capnp>().getName() == "half") {
      throw hills::Error(ErrorCode::kInvalidArgument, "failed half way");
    }
  }
};

// The first tag indexed before a unique part number: the check of the
// second runs before the first writes anything.
struct TagsThenNumbers {
  std::shared_ptr<FirstTag> tags = std::make_shared<FirstTag>();
  std::shared_ptr<hills::NameIndex<plm::Part>> numbers =
      std::make_shared<hills::NameIndex<plm::Part>>(
          "numbers", 1, [](plm::Part::Reader p) { return std::string(p.getNumber()); },
          hills::NameOptions{.unique = true, .ignored = {}});

  hills::Options options() const {
    auto o = plmOptions();
    o.indexers = {tags, numbers};
    return o;
  }
};

plm::Part numbered(const std::string& number, const std::string& tag) {
  auto p = makePart(0);
  p.number = number;
  p.tags = {tag};
  return p;
}

// Every entry of an index, in order.
std::vector<std::pair<std::string, hills::RecordId>> entries(const hills::ReadTxn& txn,
                                                             const std::string& index) {
  std::vector<std::pair<std::string, hills::RecordId>> out;
  txn.index(index).scan({}, {}, [&](std::string_view k, hills::RecordId r) {
    out.emplace_back(std::string(k), r);
    return true;
  });
  return out;
}

hills::RecordId idOf(Key<plm::Part> k) { return hills::RecordId{k.id, k.revision}; }

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

TEST_CASE("a caught unique refusal of a create lets the rest of the write commit",
          "[core][index]") {
  TempDir dir;
  TagsThenNumbers ix;
  hills::Database db(dir.path(), ix.options());
  auto [a, c] = db.write([](hills::WriteTxn& txn) {
    auto parts = txn.tree<plm::Part>();
    auto first = parts.create(numbered("P-1", "bolt"));
    try {
      parts.create(numbered("p-1", "nut"));
      FAIL("a taken number was accepted");
    } catch (const hills::Error& e) {
      CHECK(e.code() == ErrorCode::kAlreadyExists);
    }
    auto third = parts.create(numbered("P-3", "washer"));
    return std::pair(first, third);
  });
  db.read([&](const hills::ReadTxn& txn) {
    auto parts = txn.tree<plm::Part>();
    CHECK(parts.size() == 2);
    CHECK(parts.get(a)->number == "P-1");
    CHECK(parts.get(c)->number == "P-3");
    using Entries = std::vector<std::pair<std::string, hills::RecordId>>;
    CHECK(entries(txn, "numbers") == Entries{{"p-1", idOf(a)}, {"p-3", idOf(c)}});
    CHECK(entries(txn, "first-tag") == Entries{{"bolt", idOf(a)}, {"washer", idOf(c)}});
  });
}

TEST_CASE("a caught unique refusal of an update lets the rest of the write commit",
          "[core][index]") {
  TempDir dir;
  TagsThenNumbers ix;
  hills::Database db(dir.path(), ix.options());
  auto [a, b] = db.write([](hills::WriteTxn& txn) {
    auto parts = txn.tree<plm::Part>();
    return std::pair(parts.create(numbered("P-1", "bolt")), parts.create(numbered("P-2", "nut")));
  });
  db.write([&](hills::WriteTxn& txn) {
    auto parts = txn.tree<plm::Part>();
    try {
      parts.update(b, numbered("P-1", "changed"));
      FAIL("a taken number was accepted");
    } catch (const hills::Error& e) {
      CHECK(e.code() == ErrorCode::kAlreadyExists);
    }
    parts.update(a, numbered("P-1", "screw"));
  });
  db.read([&](const hills::ReadTxn& txn) {
    auto parts = txn.tree<plm::Part>();
    CHECK(parts.get(a)->tags == std::vector<std::string>{"screw"});
    CHECK(parts.get(b) == numbered("P-2", "nut"));
    using Entries = std::vector<std::pair<std::string, hills::RecordId>>;
    CHECK(entries(txn, "numbers") == Entries{{"p-1", idOf(a)}, {"p-2", idOf(b)}});
    CHECK(entries(txn, "first-tag") == Entries{{"nut", idOf(b)}, {"screw", idOf(a)}});
  });
}

TEST_CASE("an indexer that throws from apply aborts the write even when the caller catches",
          "[core][index]") {
  TempDir dir;
  hills::Database db(dir.path(), withIndex(std::make_shared<HalfWriter>()));
  auto half = makePart(2);
  half.name = "half";
  auto e = errorOf([&] {
    db.write([&](hills::WriteTxn& txn) {
      auto parts = txn.tree<plm::Part>();
      parts.create(makePart(1));
      try {
        parts.create(half);
      } catch (const hills::Error&) {
        // Swallowed on purpose: the write must abort anyway.
      }
    });
  });
  CHECK(e.code() == ErrorCode::kInvalidArgument);
  CHECK_THAT(e.what(), Catch::Contains("indexer 'half-writer' refused") &&
                           Catch::Contains("failed half way"));
  db.read([](const hills::ReadTxn& txn) {
    CHECK(txn.tree<plm::Part>().size() == 0);
    CHECK(txn.index("half-writer").size() == 0);
  });
}
