// The read cache of a partial replica (client/src/read_cache.cc): values
// checked before they are stored, exact and newest revisions.
#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "read_cache.h"
#include "replication.h"
#include "temp_dir.h"

using hills::ErrorCode;
using namespace hills::test;

namespace {

// A bom value made in a database of its own, as the server would send it.
hills::FetchedRecord bomRecord(const std::string& dir) {
  hills::Database source(dir, plmOptions());
  auto key = source.write([](hills::WriteTxn& txn) {
    plm::Bom bom{};
    bom.notes = "from the server";
    return txn.tree<plm::Bom>().create(bom);
  });
  return hills::FetchedRecord{hills::opaque(key), valueOf(source, key), "A", false};
}

// A replica that follows parts only, and the bom it caches under any id.
struct CacheOfBoms {
  TempDir dir;
  hills::FetchedRecord record = bomRecord(dir.sub("source"));
  ReplicaDatabase db{dir.sub("replica"), std::make_shared<hills::client::Replica>(
                                             "floor", std::vector<std::string>{"parts"})};
  hills::FetchedRecord withId(std::uint64_t id) const {
    auto r = record;
    r.key.id = id;
    return r;
  }
};

}  // namespace

TEST_CASE("a record the server sent is cached and read back, exact and newest",
          "[client][fetch]") {
  TempDir dir;
  auto record = bomRecord(dir.sub("source"));
  ReplicaDatabase db(dir.sub("replica"), std::make_shared<hills::client::Replica>(
                                             "floor", std::vector<std::string>{"parts"}));
  db.write([&](hills::WriteTxn& txn) { hills::client::cacheRecord(txn, record, 0); });
  auto later = record;
  later.key.revision = 2;
  db.write([&](hills::WriteTxn& txn) { hills::client::cacheRecord(txn, later, 0); });
  db.read([&](const hills::ReadTxn& txn) {
    auto exact = hills::client::cachedRecord(txn, record.key, false);
    REQUIRE(exact);
    CHECK(exact->fromCache);
    CHECK(exact->origin == "test");  // the author its envelope names
    auto newest = hills::client::cachedRecord(txn, hills::OpaqueKey{"boms", record.key.id, 0}, true);
    REQUIRE(newest);
    CHECK(newest->key.revision == 2);
    CHECK_FALSE(hills::client::cachedRecord(txn, hills::OpaqueKey{"boms", record.key.id + 1, 0},
                                            true));
    CHECK_FALSE(hills::client::isReleased(*exact));
    // The cache is no tree: the replica's boms stay empty.
    CHECK(txn.tree<plm::Bom>().size() == 0);
  });
  db.write([&](hills::WriteTxn& txn) { CHECK(hills::client::uncacheRecord(txn, record.key)); });
  CHECK_FALSE(db.read([&](const hills::ReadTxn& txn) {
    return hills::client::cachedRecord(txn, record.key, false);
  }));
}

TEST_CASE("a value that is not a record of its tree is not cached", "[client][fetch]") {
  TempDir dir;
  auto record = bomRecord(dir.sub("source"));
  ReplicaDatabase db(dir.sub("replica"), "floor");
  auto wrong = record;
  wrong.key.tree = "parts";  // a bom's value under a part's key
  auto e = errorOf([&] {
    db.write([&](hills::WriteTxn& txn) { hills::client::cacheRecord(txn, wrong, 0); });
  });
  CHECK(e.code() == ErrorCode::kWrongTree);
  auto torn = record;
  torn.value.resize(1);  // the envelope's root pointer only
  auto corrupt = errorOf([&] {
    db.write([&](hills::WriteTxn& txn) { hills::client::cacheRecord(txn, torn, 0); });
  });
  CHECK(corrupt.code() == ErrorCode::kCorrupt);
  CHECK(db.read([](const hills::ReadTxn& txn) {
    return txn.table(hills::client::kReadCache).size();
  }) == 0);
}

TEST_CASE("the read cache keeps its limit, the record fetched longest ago going first",
          "[client][fetch]") {
  CacheOfBoms c;
  auto& db = c.db;
  auto withId = [&](std::uint64_t id) { return c.withId(id); };
  auto cache = [&](std::uint64_t id) {
    db.write([&](hills::WriteTxn& txn) { hills::client::cacheRecord(txn, withId(id), 3); });
  };
  auto cached = [&](std::uint64_t id) {
    return db.read([&](const hills::ReadTxn& txn) {
      return hills::client::cachedRecord(txn, withId(id).key, false).has_value();
    });
  };
  cache(1);
  cache(2);
  cache(3);
  cache(1);  // fetched again: the newest now
  cache(4);  // one too many: 2 goes, fetched longest ago
  CHECK(cached(1));
  CHECK_FALSE(cached(2));
  CHECK(cached(3));
  CHECK(cached(4));
  // A record the server no longer has leaves the order too: 3 records fit
  // again before the next goes.
  db.write([&](hills::WriteTxn& txn) { CHECK(hills::client::uncacheRecord(txn, withId(3).key)); });
  cache(5);
  CHECK(cached(1));
  CHECK(cached(4));
  CHECK(cached(5));
  cache(6);
  CHECK_FALSE(cached(1));
  CHECK(cached(4));
  CHECK(cached(5));
  CHECK(cached(6));
  db.read([&](const hills::ReadTxn& txn) {
    CHECK(txn.table(hills::client::kReadCache).size() == 3);
    // Per record an order entry and its stamp, and the next stamp.
    CHECK(txn.table(hills::client::kReadCacheOrder).size() == 2 * 3 + 1);
  });
}

TEST_CASE("records a build that kept no order cached go before any that has a place in it",
          "[client][fetch]") {
  CacheOfBoms c;
  auto& db = c.db;
  auto withId = [&](std::uint64_t id) { return c.withId(id); };
  // Five records cached without an order, as a build before the limit did.
  db.write([&](hills::WriteTxn& txn) {
    for (std::uint64_t id = 1; id <= 5; ++id) hills::client::cacheRecord(txn, withId(id), 0);
    auto order = txn.table(hills::client::kReadCacheOrder);
    std::vector<std::string> keys;
    order.scan("", [&](std::string_view key, capnp::MessageReader&) {
      keys.emplace_back(key);
      return true;
    });
    for (const auto& key : keys) order.remove(key);
  });
  db.write([&](hills::WriteTxn& txn) { hills::client::cacheRecord(txn, withId(6), 3); });
  db.read([&](const hills::ReadTxn& txn) {
    CHECK(txn.table(hills::client::kReadCache).size() == 3);
    CHECK(hills::client::cachedRecord(txn, withId(6).key, false).has_value());
  });
  // Then, with every record in the order, the oldest of those goes.
  db.write([&](hills::WriteTxn& txn) { hills::client::cacheRecord(txn, withId(7), 2); });
  db.read([&](const hills::ReadTxn& txn) {
    CHECK(txn.table(hills::client::kReadCache).size() == 2);
    CHECK(hills::client::cachedRecord(txn, withId(6).key, false).has_value());
    CHECK(hills::client::cachedRecord(txn, withId(7).key, false).has_value());
  });
}
