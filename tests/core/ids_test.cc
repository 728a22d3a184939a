#include <catch2/catch.hpp>
#include <set>

#include "plm_fixtures.h"
#include "temp_dir.h"

using hills::ErrorCode;
using hills::Key;
using hills::test::makePart;
using hills::test::plmOptions;
using hills::test::TempDir;

namespace {

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
