#include <capnp/serialize.h>

#include <catch2/catch.hpp>
#include <cstring>
#include <set>

#include "error_of.h"
#include "hills/meta.capnp.h"
#include "plm_fixtures.h"
#include "raw_lmdb.h"
#include "temp_dir.h"

using hills::ErrorCode;
using hills::Key;
using hills::test::errorOf;
using hills::test::makePart;
using hills::test::plmOptions;
using hills::test::TempDir;
using hills::test::withRawTable;

namespace {

// The id ranges of `tree` as the closed database in `dir` stores them in
// its _meta table, read through LMDB itself: (next, end) pairs.
std::vector<std::pair<std::uint64_t, std::uint64_t>> storedRanges(const std::string& dir,
                                                                  const std::string& tree) {
  std::string key = "ids:" + tree;
  // A single segment without a segment table, as hills stores values.
  auto words = withRawTable(dir, "_meta", false, [&](MDB_txn* txn, MDB_dbi dbi) {
    MDB_val k{key.size(), key.data()}, v;
    REQUIRE(mdb_get(txn, dbi, &k, &v) == 0);
    std::vector<capnp::word> out(v.mv_size / sizeof(capnp::word));
    std::memcpy(out.data(), v.mv_data, out.size() * sizeof(capnp::word));
    return out;
  });
  kj::ArrayPtr<const capnp::word> segments[1] = {kj::arrayPtr(words.data(), words.size())};
  capnp::SegmentArrayMessageReader message(kj::arrayPtr(segments, 1));
  std::vector<std::pair<std::uint64_t, std::uint64_t>> out;
  for (auto r : message.getRoot<hills::wire::IdRanges>().getRanges()) {
    out.emplace_back(r.getNext(), r.getEnd());
  }
  return out;
}

hills::Options replica() {
  auto o = plmOptions();
  o.ids = hills::Options::IdSource::kRanges;
  return o;
}

}  // namespace

TEST_CASE("a replica creates records only with ids its server granted", "[core][ids]") {
  TempDir dir;
  hills::Database db(dir.path(), replica());
  try {
    db.write([](hills::WriteTxn& txn) { txn.tree<plm::Part>().create(makePart(1)); });
    FAIL("a replica minted its own id");
  } catch (const hills::Error& e) {
    CHECK(e.code() == ErrorCode::kNoIds);
    CHECK_THAT(e.what(), Catch::Contains("parts"));
  }
  auto keys = db.write([](hills::WriteTxn& txn) {
    txn.tree("parts").addIdRange(1000, 1002);
    txn.tree("parts").addIdRange(5000, 5001);
    std::vector<Key<plm::Part>> out;
    for (int i = 0; i < 3; ++i) out.push_back(txn.tree<plm::Part>().create(makePart(i)));
    return out;
  });
  CHECK(keys == std::vector<Key<plm::Part>>{{1000, 0}, {1001, 0}, {5000, 0}});
  db.read([](const hills::ReadTxn& txn) { CHECK(txn.tree("parts").idsLeft() == 0); });
  CHECK_THROWS_AS(db.write([](hills::WriteTxn& txn) { txn.tree<plm::Part>().create(makePart(9)); }),
                  hills::Error);
}

TEST_CASE("granted ranges and the replica role survive a reopen", "[core][ids]") {
  TempDir dir;
  {
    hills::Database db(dir.path(), replica());
    db.write([](hills::WriteTxn& txn) { txn.tree("parts").addIdRange(10, 20); });
    db.write([](hills::WriteTxn& txn) { txn.tree<plm::Part>().create(makePart(1)); });
  }
  hills::Database db(dir.path(), plmOptions());  // asks to own its ids: a replica never may
  db.read([](const hills::ReadTxn& txn) { CHECK(txn.tree("parts").idsLeft() == 9); });
  db.write([](hills::WriteTxn& txn) {
    for (int i = 0; i < 9; ++i) txn.tree<plm::Part>().create(makePart(i));
  });
  CHECK_THROWS_AS(db.write([](hills::WriteTxn& txn) { txn.tree<plm::Part>().create(makePart(0)); }),
                  hills::Error);
}

TEST_CASE("an id range that overlaps unused ids or is empty is refused", "[core][ids]") {
  TempDir dir;
  hills::Database db(dir.path(), replica());
  db.write([](hills::WriteTxn& txn) {
    auto parts = txn.tree("parts");
    parts.addIdRange(100, 200);
    CHECK_THROWS_AS(parts.addIdRange(150, 250), hills::Error);
    CHECK_THROWS_AS(parts.addIdRange(300, 300), hills::Error);
    CHECK_THROWS_AS(parts.addIdRange(0, 5), hills::Error);
    CHECK(parts.idsLeft() == 100);
  });
}

TEST_CASE("ranges granted one after the other are used in order, whole, across a reopen",
          "[core][ids]") {
  TempDir dir;
  {
    hills::Database db(dir.path(), replica());
    // Part of the first range used, then ranges that follow it end to end,
    // and one elsewhere.
    db.write([](hills::WriteTxn& txn) {
      txn.tree("parts").addIdRange(100, 110);
      for (int i = 0; i < 4; ++i) txn.tree<plm::Part>().create(makePart(i));
    });
    db.write([](hills::WriteTxn& txn) {
      for (std::uint64_t start = 110; start < 1110; start += 10) {
        txn.tree("parts").addIdRange(start, start + 10);
      }
      txn.tree("parts").addIdRange(5000, 5002);
      CHECK(txn.tree("parts").idsLeft() == 6 + 1000 + 2);
      // The joined ranges still refuse an overlap anywhere inside them.
      CHECK_THROWS_AS(txn.tree("parts").addIdRange(555, 556), hills::Error);
    });
  }
  // A hundred grants end to end are stored as the one range they make.
  using Ranges = std::vector<std::pair<std::uint64_t, std::uint64_t>>;
  CHECK(storedRanges(dir.path(), "parts") == Ranges{{104, 1110}, {5000, 5002}});
  hills::Database db(dir.path(), replica());
  auto ids = db.write([](hills::WriteTxn& txn) {
    std::vector<std::uint64_t> out;
    for (int i = 0; i < 1008; ++i) out.push_back(txn.tree<plm::Part>().create(makePart(i)).id);
    return out;
  });
  for (std::size_t i = 0; i < 1006; ++i) REQUIRE(ids[i] == 104 + i);
  CHECK(ids[1006] == 5000);
  CHECK(ids[1007] == 5001);
  db.read([](const hills::ReadTxn& txn) { CHECK(txn.tree("parts").idsLeft() == 0); });
}

TEST_CASE("a database that owns its ids reports the ids left in its current range", "[core][ids]") {
  TempDir dir;
  hills::Database db(dir.path(), plmOptions());
  db.write([](hills::WriteTxn& txn) { txn.tree<plm::Part>().create(makePart(1)); });
  db.read([](const hills::ReadTxn& txn) { CHECK(txn.tree("parts").idsLeft() == 65535); });
}

TEST_CASE("ids are unique and increasing within a tree and persist across reopen", "[core][ids]") {
  TempDir dir;
  std::vector<Key<plm::Part>> keys;
  {
    hills::Database db(dir.path(), plmOptions());
    db.write([&](hills::WriteTxn& txn) {
      for (int i = 0; i < 100; ++i) keys.push_back(txn.tree<plm::Part>().create(makePart(i)));
    });
  }
  hills::Database db(dir.path(), plmOptions());
  auto next =
      db.write([](hills::WriteTxn& txn) { return txn.tree<plm::Part>().create(makePart(1)); });
  for (std::size_t i = 1; i < keys.size(); ++i) CHECK(keys[i].id > keys[i - 1].id);
  CHECK(next.id > keys.back().id);
}

TEST_CASE("ids stay unique past the end of a self-granted id range", "[core][ids][regression]") {
  TempDir dir;
  Key<plm::StockItem> last;
  {
    hills::Database db(dir.path(), plmOptions());
    // 65,536 ids use up the first range exactly; the next id must come after it.
    last = db.write([](hills::WriteTxn& txn) {
      auto stock = txn.tree<plm::StockItem>();
      Key<plm::StockItem> k;
      for (int i = 0; i < 65536; ++i) k = stock.create(plm::StockItem{});
      return k;
    });
    db.write([](hills::WriteTxn& txn) {
      txn.tree<plm::StockItem>().remove(Key<plm::StockItem>{1, 0});
    });
    auto next = db.write(
        [](hills::WriteTxn& txn) { return txn.tree<plm::StockItem>().create(plm::StockItem{}); });
    CHECK(next.id == last.id + 1);
  }
  hills::Database db(dir.path(), plmOptions());
  auto again = db.write(
      [](hills::WriteTxn& txn) { return txn.tree<plm::StockItem>().create(plm::StockItem{}); });
  CHECK(again.id == last.id + 2);
}

TEST_CASE("ids granted by an authority never collide across its replicas or itself",
          "[core][ids]") {
  TempDir dir;
  hills::Database server(dir.sub("server"), plmOptions());
  hills::Database a(dir.sub("a"), replica());
  hills::Database b(dir.sub("b"), replica());
  std::set<std::uint64_t> seen;
  std::size_t made = 0;
  for (int round = 0; round < 4; ++round) {
    for (hills::Database* client : {&a, &b}) {
      auto [first, end] =
          server.write([](hills::WriteTxn& txn) { return txn.tree("parts").grantIds(50); });
      CHECK(end - first == 50);
      client->write([&, first = first, end = end](hills::WriteTxn& txn) {
        txn.tree("parts").addIdRange(first, end);
        for (int i = 0; i < 50; ++i) seen.insert(txn.tree<plm::Part>().create(makePart(i)).id);
      });
      made += 50;
    }
    // The authority creates records of its own between grants.
    server.write([&](hills::WriteTxn& txn) {
      for (int i = 0; i < 10; ++i) seen.insert(txn.tree<plm::Part>().create(makePart(i)).id);
    });
    made += 10;
  }
  CHECK(seen.size() == made);
  CHECK_THROWS_AS(a.write([](hills::WriteTxn& txn) { txn.tree("parts").grantIds(5); }),
                  hills::Error);
  CHECK_THROWS_AS(server.write([](hills::WriteTxn& txn) { txn.tree("parts").grantIds(0); }),
                  hills::Error);
}

namespace {

Key<plm::Part> createPart(hills::Database& db, int n) {
  return db.write([&](hills::WriteTxn& txn) { return txn.tree<plm::Part>().create(makePart(n)); });
}

// Stores in `db`, as another database's values, `count` parts made in a
// database (in `elsewhere`) from the id range [first, first + count).
void storeForeignParts(hills::Database& db, const std::string& elsewhere, std::uint64_t first,
                       int count) {
  hills::Database other(elsewhere, replica());
  std::vector<std::pair<std::uint64_t, std::vector<capnp::word>>> values;
  other.write([&](hills::WriteTxn& txn) {
    txn.tree("parts").addIdRange(first, first + count);
    for (int i = 0; i < count; ++i) {
      auto key = txn.tree<plm::Part>().create(makePart(i));
      auto rec = txn.tree("parts").find(key.id, 0);
      values.emplace_back(key.id, std::vector<capnp::word>(rec.value().begin(), rec.value().end()));
    }
  });
  db.write([&](hills::WriteTxn& txn) {
    for (auto& [id, words] : values) {
      txn.tree("parts").adopt(id, 0, kj::arrayPtr(words.data(), words.size()).asBytes(), "other");
    }
  });
}

}  // namespace

TEST_CASE("a database that owns its ids never creates or grants claimable ids, whatever it stores",
          "[core][ids][claims]") {
  TempDir dir;
  std::pair<std::uint64_t, std::uint64_t> granted;
  {
    hills::Database db(dir.sub("db"), plmOptions());
    auto first = createPart(db, 1);
    storeForeignParts(db, dir.sub("elsewhere"), hills::kClaimableIds + 100, 3);
    db.read([](const hills::ReadTxn& txn) {
      CHECK(txn.tree("parts").contains(hills::kClaimableIds + 102, 0));
    });
    auto next = createPart(db, 2);
    CHECK(next.id == first.id + 1);
    granted = db.write([](hills::WriteTxn& txn) { return txn.tree("parts").grantIds(50); });
    CHECK(granted.first > next.id);
    CHECK(granted.second < hills::kClaimableIds);
  }
  // The stored claimed ids do not move it after a reopen either, and no
  // grant is ever handed out twice.
  hills::Database db(dir.sub("db"), plmOptions());
  auto again = db.write([](hills::WriteTxn& txn) { return txn.tree("parts").grantIds(50); });
  CHECK(again.first >= granted.second);
  CHECK(again.second < hills::kClaimableIds);
  CHECK(createPart(db, 3).id < hills::kClaimableIds);
}

TEST_CASE("a database that owns its ids runs out of ids below the claimable ones",
          "[core][ids][claims]") {
  TempDir dir;
  hills::Database db(dir.sub("db"), plmOptions());
  // A record stored just below the claimable ids, as another database's.
  storeForeignParts(db, dir.sub("elsewhere"), hills::kClaimableIds - 3, 1);
  auto tooMany = errorOf([&] {
    db.write([](hills::WriteTxn& txn) { txn.tree("parts").grantIds(5); });
  });
  CHECK(tooMany.code() == ErrorCode::kNoIds);
  auto last = db.write([](hills::WriteTxn& txn) { return txn.tree("parts").grantIds(2); });
  CHECK(last == std::pair(hills::kClaimableIds - 2, hills::kClaimableIds));
  auto none = errorOf([&] { createPart(db, 1); });
  CHECK(none.code() == ErrorCode::kNoIds);
  CHECK_THAT(none.what(), Catch::Contains("parts"));
}

TEST_CASE("dropping an id range gives up only the ids not used yet", "[core][ids][claims]") {
  TempDir dir;
  hills::Database db(dir.path(), replica());
  auto used = db.write([](hills::WriteTxn& txn) {
    txn.tree("parts").addIdRange(100, 110);
    return txn.tree<plm::Part>().create(makePart(1));
  });
  CHECK(used.id == 100);
  auto keys = db.write([](hills::WriteTxn& txn) {
    auto parts = txn.tree("parts");
    parts.dropIdRange(100, 110);
    CHECK(parts.idsLeft() == 0);
    parts.addIdRange(200, 210);
    parts.dropIdRange(203, 207);
    parts.dropIdRange(500, 600);  // in no range: nothing
    CHECK(parts.idsLeft() == 6);
    CHECK_THROWS_AS(parts.dropIdRange(5, 5), hills::Error);
    std::vector<std::uint64_t> out;
    for (int i = 0; i < 6; ++i) out.push_back(txn.tree<plm::Part>().create(makePart(i)).id);
    return out;
  });
  CHECK(keys == std::vector<std::uint64_t>{200, 201, 202, 207, 208, 209});
  db.read([](const hills::ReadTxn& txn) { CHECK(txn.tree("parts").contains(100, 0)); });
}

TEST_CASE("a database that owns its ids never grants an id twice when it takes a range as well",
          "[core][ids][regression]") {
  TempDir dir;
  std::pair<std::uint64_t, std::uint64_t> granted;
  {
    hills::Database db(dir.sub("db"), plmOptions());
    granted = db.write([](hills::WriteTxn& txn) { return txn.tree("parts").grantIds(50); });
    // A range among the ids it has granted would hand them out again.
    auto below = errorOf([&] {
      db.write([&](hills::WriteTxn& txn) {
        txn.tree("parts").addIdRange(granted.first + 10, granted.first + 20);
      });
    });
    CHECK(below.code() == ErrorCode::kInvalidArgument);
    CHECK_THAT(below.what(), Catch::Contains("parts") && Catch::Contains("owns its ids"));
    // A range of claimable ids is taken, and used up by creates.
    db.write([](hills::WriteTxn& txn) {
      txn.tree("parts").addIdRange(hills::kClaimableIds + 100, hills::kClaimableIds + 102);
      CHECK(txn.tree<plm::Part>().create(makePart(1)).id == hills::kClaimableIds + 100);
      CHECK(txn.tree<plm::Part>().create(makePart(2)).id == hills::kClaimableIds + 101);
    });
    auto next = db.write([](hills::WriteTxn& txn) { return txn.tree("parts").grantIds(50); });
    CHECK(next.first >= granted.second);
  }
  // Nothing below the claimable ids is stored: only the kept high-water
  // mark stops the grants from starting at 1 again after a reopen.
  hills::Database db(dir.sub("db"), plmOptions());
  auto again = db.write([](hills::WriteTxn& txn) { return txn.tree("parts").grantIds(50); });
  CHECK(again.first >= granted.second + 50);
  CHECK(createPart(db, 3).id >= again.second);
}

TEST_CASE("a database that owns its ids keeps its high-water mark while it uses claimable ids",
          "[core][ids][regression]") {
  TempDir dir;
  hills::Database db(dir.sub("db"), plmOptions());
  // Its own range of 65,536 ids, all but one used, then a claimable range.
  std::uint64_t lastOwn = db.write([](hills::WriteTxn& txn) {
    std::uint64_t id = 0;
    for (int i = 0; i < 65535; ++i) id = txn.tree<plm::Part>().create(makePart(i)).id;
    txn.tree("parts").addIdRange(hills::kClaimableIds + 100, hills::kClaimableIds + 101);
    return id;
  });
  auto fromOwn = createPart(db, 1);
  CHECK(fromOwn.id == lastOwn + 1);
  CHECK(createPart(db, 2).id == hills::kClaimableIds + 100);
  // With the highest own id gone, only the kept mark says it was handed out.
  db.write([&](hills::WriteTxn& txn) { txn.tree<plm::Part>().remove(fromOwn); });
  CHECK(createPart(db, 3).id > fromOwn.id);
  auto granted = db.write([](hills::WriteTxn& txn) { return txn.tree("parts").grantIds(10); });
  CHECK(granted.first > fromOwn.id);
}

TEST_CASE("an id range that crosses the claimable ids is refused", "[core][ids][claims]") {
  TempDir dir;
  hills::Database db(dir.sub("db"), plmOptions());
  auto crossing = errorOf([&] {
    db.write([](hills::WriteTxn& txn) {
      txn.tree("parts").addIdRange(hills::kClaimableIds - 10, hills::kClaimableIds + 10);
    });
  });
  CHECK(crossing.code() == ErrorCode::kInvalidArgument);
  CHECK_THAT(crossing.what(), Catch::Contains("crosses kClaimableIds"));
}
