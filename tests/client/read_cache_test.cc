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

}  // namespace

TEST_CASE("a record the server sent is cached and read back, exact and newest",
          "[client][fetch]") {
  TempDir dir;
  auto record = bomRecord(dir.sub("source"));
  ReplicaDatabase db(dir.sub("replica"), std::make_shared<hills::client::Replica>(
                                             "floor", std::vector<std::string>{"parts"}));
  db.write([&](hills::WriteTxn& txn) { hills::client::cacheRecord(txn, record); });
  auto later = record;
  later.key.revision = 2;
  db.write([&](hills::WriteTxn& txn) { hills::client::cacheRecord(txn, later); });
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
    db.write([&](hills::WriteTxn& txn) { hills::client::cacheRecord(txn, wrong); });
  });
  CHECK(e.code() == ErrorCode::kWrongTree);
  auto torn = record;
  torn.value.resize(1);  // the envelope's root pointer only
  auto corrupt = errorOf([&] {
    db.write([&](hills::WriteTxn& txn) { hills::client::cacheRecord(txn, torn); });
  });
  CHECK(corrupt.code() == ErrorCode::kCorrupt);
  CHECK(db.read([](const hills::ReadTxn& txn) {
    return txn.table(hills::client::kReadCache).size();
  }) == 0);
}
