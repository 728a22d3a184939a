// Partial replicas on the server (server/src/tree_scope.cc): which trees a
// client may read, the scope a hello asks for, and the log batches, pulls
// and fetches filtered by it.
#include <capnp/message.h>

#include <catch2/catch.hpp>
#include <optional>
#include <string>
#include <vector>

#include "replication.h"
#include "server_impl.h"
#include "temp_dir.h"
#include "tree_scope.h"

using hills::ErrorCode;
using hills::server::TreeScope;
using namespace hills::test;

namespace {

hills::ClientAccount floorAccount() {
  return hills::ClientAccount{"floor", "t", true, true, false, {"parts", "stock"}};
}

// The scope a hello naming `trees` gets from `db`.
TreeScope scopeOf(hills::Database& db, const hills::ClientAccount& account,
                  std::vector<std::string> trees) {
  capnp::MallocMessageBuilder msg;
  auto list = msg.initRoot<hills::sync::Hello>().initTrees(static_cast<unsigned>(trees.size()));
  for (unsigned i = 0; i < trees.size(); ++i) list.set(i, trees[i]);
  return TreeScope::ofHello(db, account, list.asReader());
}

// A part, a bom and a stock item, then another part: entries 1 to 4.
void fillLog(hills::Database& db) {
  db.write([](hills::WriteTxn& txn) {
    txn.tree<plm::Part>().create(makePart(1));
    txn.tree<plm::Bom>().create(plm::Bom{});
    txn.tree<plm::StockItem>().create(plm::StockItem{});
  });
  db.write([](hills::WriteTxn& txn) { txn.tree<plm::Bom>().create(plm::Bom{}); });
}

// fillChanges' `init` for a list in `results`.
auto initIn(hills::sync::Session::PullResults::Builder results) {
  return [results](const hills::server::Filled& f) mutable {
    return results.initChanges(static_cast<unsigned>(f.count));
  };
}

std::vector<std::string> treesOf(capnp::List<hills::wire::Change>::Reader changes) {
  std::vector<std::string> out;
  for (auto c : changes) out.emplace_back(c.getTree().cStr());
  return out;
}

}  // namespace

TEST_CASE("a hello is given the trees it names, and refused a tree the client may not read",
          "[server][partial]") {
  TempDir dir;
  hills::Database db(dir.path(), serverOptions());
  auto account = floorAccount();
  CHECK(hills::server::mayRead(account, "parts"));
  CHECK_FALSE(hills::server::mayRead(account, "boms"));

  auto scope = scopeOf(db, account, {"parts"});
  CHECK_FALSE(scope.all());
  CHECK(scope.follows("parts"));
  CHECK_FALSE(scope.follows("stock"));
  auto outside = errorOf([&] { scope.require("stock", "floor", "check out records"); });
  CHECK(outside.code() == ErrorCode::kWrongTree);
  CHECK_THAT(outside.what(), Catch::Contains("tree 'stock'") && Catch::Contains("follows parts"));

  auto denied = errorOf([&] { scopeOf(db, account, {"parts", "boms"}); });
  CHECK(denied.code() == ErrorCode::kDenied);
  CHECK_THAT(denied.what(), Catch::Contains("may not read tree 'boms'"));
  auto every = errorOf([&] { scopeOf(db, account, {}); });
  CHECK(every.code() == ErrorCode::kDenied);
  auto unknown = errorOf([&] { scopeOf(db, account, {"pallets"}); });
  CHECK(unknown.code() == ErrorCode::kUnknownTree);
  CHECK_THAT(unknown.what(), Catch::Contains("pallets"));

  hills::ClientAccount all{"A", "t", true, true, false, {}};
  CHECK(scopeOf(db, all, {}).all());
}

TEST_CASE("a partial session's batch leaves out other trees and still covers the log",
          "[server][partial]") {
  TempDir dir;
  hills::Database db(dir.path(), serverOptions());
  fillLog(db);
  auto scope = scopeOf(db, floorAccount(), {"parts", "stock"});
  capnp::MallocMessageBuilder msg;
  auto results = msg.initRoot<hills::sync::Session::PullResults>();
  db.read([&](const hills::ReadTxn& txn) {
    auto all = hills::server::fillChanges(txn, 0, 10, TreeScope{}, initIn(results));
    CHECK(all.count == 4);
    CHECK(all.through == 4);
    auto filled = hills::server::fillChanges(txn, 0, 10, scope, initIn(results));
    CHECK(filled.count == 2);
    CHECK(filled.through == 4);  // the last entry, a bom's
    CHECK(treesOf(results.getChanges()) == std::vector<std::string>{"parts", "stock"});
    // Three entries read: the batch ends at the third.
    auto some = hills::server::fillChanges(txn, 0, 3, scope, initIn(results));
    CHECK(some.count == 2);
    CHECK(some.through == 3);
    // Only other trees' entries: none sent, and the cursor moves all the same.
    auto none = hills::server::fillChanges(txn, 3, 10, scope, initIn(results));
    CHECK(none.count == 0);
    CHECK(none.through == 4);
  });
}

TEST_CASE("a batch of changes fits the first segment of a message of the size it gives",
          "[server][sync]") {
  TempDir dir;
  hills::Database db(dir.path(), serverOptions());
  fillLog(db);
  db.read([&](const hills::ReadTxn& txn) {
    for (std::uint64_t count : {1, 2, 4}) {
      std::uint64_t hint = 0;
      std::optional<capnp::MallocMessageBuilder> msg;
      auto filled = hills::server::fillChanges(
          txn, 0, count, TreeScope{}, [&](const hills::server::Filled& f) {
            hint = f.messageSize().wordCount;
            msg.emplace(static_cast<unsigned>(hint), capnp::AllocationStrategy::FIXED_SIZE);
            auto results = msg->initRoot<hills::sync::Session::PullResults>();
            results.setLast(4);
            results.setThrough(4);
            return results.initChanges(static_cast<unsigned>(f.count));
          });
      CHECK(filled.count == count);
      CHECK(filled.words > 0);
      auto segments = msg->getSegmentsForOutput();
      CHECK(segments.size() == 1);  // a second one means the hint was short
      CHECK(segments[0].size() <= hint);
    }
  });
}

TEST_CASE("a fetch reads records of trees the client may read, and refuses the others",
          "[server][partial][fetch]") {
  TempDir dir;
  hills::Database db(dir.path(), serverOptions());
  fillLog(db);
  auto fetch = [&](const hills::ClientAccount& account, std::vector<hills::OpaqueKey> keys,
                   bool newest, capnp::MallocMessageBuilder& msg) {
    auto params = msg.initRoot<hills::sync::Session::FetchParams>();
    auto wanted = params.initWanted(static_cast<unsigned>(keys.size()));
    for (unsigned i = 0; i < keys.size(); ++i) {
      hills::protocol::setKey(wanted[i].initKey(), keys[i]);
      wanted[i].setNewest(newest);
    }
    auto results = msg.getOrphanage().newOrphan<hills::sync::Session::FetchResults>();
    hills::server::fetchRecords(db, account, params.asReader().getWanted(), results.get());
    return results;
  };
  hills::ClientAccount all{"A", "t", true, true, false, {}};
  capnp::MallocMessageBuilder msg;
  auto found = fetch(all, {{"boms", 1, 0}, {"boms", 9, 0}}, false, msg);
  auto records = found.getReader().getRecords();
  REQUIRE(records.size() == 2);
  CHECK(records[0].getFound());
  CHECK(records[0].getValue().size() > 0);
  CHECK_FALSE(records[1].getFound());
  CHECK(found.getReader().getLast() == 4);
  capnp::MallocMessageBuilder msg2;
  auto newest = fetch(all, {{"boms", 2, 7}}, true, msg2);
  CHECK(newest.getReader().getRecords()[0].getFound());
  CHECK(newest.getReader().getRecords()[0].getKey().getRevision() == 0);

  capnp::MallocMessageBuilder msg3;
  auto denied = errorOf([&] { fetch(floorAccount(), {{"parts", 1, 0}, {"boms", 1, 0}}, false, msg3); });
  CHECK(denied.code() == ErrorCode::kDenied);
  CHECK_THAT(denied.what(), Catch::Contains("tree 'boms'"));
}

TEST_CASE("a hello that names no trees follows only those its account may read, "
          "even trees the server comes to hold later",
          "[server][partial]") {
  TempDir dir;
  auto o = serverOptions();
  o.trees = hills::treeTypes<plm::Part, plm::StockItem>();  // no boms yet
  hills::Database db(dir.path(), o);
  auto scope = scopeOf(db, floorAccount(), {});
  CHECK_FALSE(scope.all());
  CHECK(scope.follows("parts"));
  CHECK(scope.follows("stock"));
  CHECK_FALSE(scope.follows("boms"));
  CHECK(scopeOf(db, hills::ClientAccount{"A", "t", true, true, false, {}}, {}).all());
}
