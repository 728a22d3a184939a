// The trees a replica follows (client/src/partial.cc): local writes to
// others refused, and what changes when the set changes between opens.
#include <catch2/catch.hpp>
#include <memory>
#include <string>
#include <vector>

#include "replication.h"
#include "temp_dir.h"

using hills::ErrorCode;
using namespace hills::test;

namespace {

std::shared_ptr<hills::client::Replica> replicaOf(std::vector<std::string> trees) {
  return std::make_shared<hills::client::Replica>("A", std::move(trees));
}

const std::vector<std::string> kKnown = {"boms", "parts", "stock"};

void follow(ReplicaDatabase& db) {
  db.write([&](hills::WriteTxn& txn) { db.replica().followTrees(txn, kKnown); });
}

void setCursor(ReplicaDatabase& db, std::uint64_t sequence) {
  db.write([&](hills::WriteTxn& txn) { db.replica().setCursor(txn, sequence); });
}

std::vector<std::string> addingOf(ReplicaDatabase& db) {
  return db.read([&](const hills::ReadTxn& txn) { return db.replica().adding(txn); });
}

}  // namespace

TEST_CASE("a replica refuses local writes to a tree it does not replicate", "[client][partial]") {
  TempDir dir;
  ReplicaDatabase db(dir.path(), replicaOf({"parts", "stock"}));
  db.write([](hills::WriteTxn& txn) { txn.tree("parts").addIdRange(1, 100); });
  db.write([](hills::WriteTxn& txn) { txn.tree("boms").addIdRange(1, 100); });
  auto e = errorOf([&] {
    db.write([](hills::WriteTxn& txn) { txn.tree<plm::Bom>().create(plm::Bom{}); });
  });
  CHECK(e.code() == ErrorCode::kWrongTree);
  CHECK_THAT(e.what(), Catch::Contains("does not replicate tree 'boms'"));
  CHECK(db.replica().replicates("parts"));
  CHECK_FALSE(db.replica().replicates("boms"));
  // Its own trees take creates as before.
  db.write([](hills::WriteTxn& txn) { txn.tree<plm::Part>().create(makePart(1)); });
}

TEST_CASE("a replica that followed the log queues the trees added to it for a snapshot",
          "[client][partial]") {
  TempDir dir;
  {
    ReplicaDatabase db(dir.path(), replicaOf({"parts"}));
    follow(db);
    setCursor(db, 12);
  }
  ReplicaDatabase db(dir.path(), replicaOf({"parts", "boms"}));
  follow(db);
  CHECK(addingOf(db) == std::vector<std::string>{"boms"});
  db.write([&](hills::WriteTxn& txn) { db.replica().startAdding(txn, 40); });
  auto snapshots = db.read([&](const hills::ReadTxn& txn) { return db.replica().treeSnapshots(txn); });
  REQUIRE(snapshots.count("boms") == 1);
  CHECK(snapshots.at("boms") == 40);
  CHECK(snapshots.count("parts") == 0);
  // A second snapshot (the first was cut short) keeps the first's sequence.
  db.write([&](hills::WriteTxn& txn) { db.replica().startAdding(txn, 55); });
  CHECK(db.read([&](const hills::ReadTxn& txn) {
    return db.replica().treeSnapshots(txn).at("boms");
  }) == 40);
  db.write([&](hills::WriteTxn& txn) { db.replica().doneAdding(txn); });
  CHECK(addingOf(db).empty());
}

TEST_CASE("a replica that followed the log refuses to follow fewer trees", "[client][partial]") {
  TempDir dir;
  {
    ReplicaDatabase db(dir.path(), replicaOf({}));
    follow(db);
    setCursor(db, 3);
  }
  ReplicaDatabase db(dir.path(), replicaOf({"parts", "stock"}));
  auto e = errorOf([&] { follow(db); });
  CHECK(e.code() == ErrorCode::kInvalidArgument);
  CHECK_THAT(e.what(), Catch::Contains("boms"));
}

TEST_CASE("a fresh replica may change its trees freely", "[client][partial]") {
  TempDir dir;
  {
    ReplicaDatabase db(dir.path(), replicaOf({"parts", "stock"}));
    follow(db);
  }
  ReplicaDatabase db(dir.path(), replicaOf({"boms"}));
  follow(db);
  CHECK(addingOf(db).empty());  // its first snapshot brings them all
}
