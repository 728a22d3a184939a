// Partial replicas through a real hills-server process on 127.0.0.1: a
// replica that follows some trees only, its snapshot, its read cache, and
// the server's refusals.
#include <algorithm>
#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <string>
#include <vector>

#include <capnp/rpc-twoparty.h>
#include <kj/async-io.h>

#include "contents.h"
#include "error_of.h"
#include "hills/client.h"
#include "plm_fixtures.h"
#include "server_process.h"
#include "sync_fixtures.h"
#include "temp_dir.h"

using hills::ErrorCode;
using hills::Key;
using namespace hills::test;
using namespace std::chrono_literals;

namespace {

// Options of a replica of `trees` only.
hills::ClientOptions partialOptions(const std::string& name, const std::string& server,
                                    std::vector<std::string> trees) {
  auto o = clientOptions(name, server);
  o.replicate = std::move(trees);
  return o;
}

// Records of every tree, as A makes them: `n` parts, a bom over them, a
// stock item of the first.
struct Made {
  std::vector<Key<plm::Part>> parts;
  Key<plm::Bom> bom;
  Key<plm::StockItem> stock;
};

Made makeRecords(hills::Client& client, int n, const std::string& notes) {
  return client.db().write([&](hills::WriteTxn& txn) {
    Made m;
    for (int i = 0; i < n; ++i) m.parts.push_back(txn.tree<plm::Part>().create(makePart(i)));
    plm::Bom bom{};
    bom.assembly = m.parts[0];
    for (std::size_t i = 1; i < m.parts.size(); ++i) {
      bom.lines.push_back(plm::Bom::Line{m.parts[i], 1.0 * i, {}});
    }
    bom.notes = notes;
    m.bom = txn.tree<plm::Bom>().create(bom);
    plm::StockItem s{};
    s.part = m.parts[0];
    s.location = "A-03-2";
    s.quantity = 12;
    m.stock = txn.tree<plm::StockItem>().create(s);
    return m;
  });
}

// Says hello to the server at `port` as client A speaking `protocol`, and
// pulls the log from its start: the trees of the entries it gets, or the
// refusal's text.
std::vector<std::string> pullAs(unsigned port, std::uint32_t protocol, std::string& refusal) {
  auto io = kj::setupAsyncIo();
  auto stream = io.provider->getNetwork()
                    .parseAddress("127.0.0.1", port)
                    .wait(io.waitScope)
                    ->connect()
                    .wait(io.waitScope);
  capnp::TwoPartyClient rpc(*stream);
  auto hello = rpc.bootstrap().castAs<hills::sync::Gate>().helloRequest();
  hello.initHello().setClient("A");
  hello.getHello().setToken("A-token");
  hello.getHello().setProtocol(protocol);
  std::vector<std::string> trees;
  try {
    auto session = hello.send().wait(io.waitScope).getSession();
    auto pull = session.pullRequest();
    pull.setLimit(100);
    auto answer = pull.send().wait(io.waitScope);
    for (auto change : answer.getChanges()) trees.emplace_back(change.getTree().cStr());
  } catch (const kj::Exception& e) {
    refusal = e.getDescription().cStr();
  }
  return trees;
}

template <class T>
std::uint64_t countOf(const hills::Database& db) {
  return db.read([](const hills::ReadTxn& txn) { return txn.tree<T>().size(); });
}

}  // namespace

TEST_CASE("a replica of parts and stock receives their changes and none of the boms",
          "[integration][partial]") {
  TempDir dir;
  ServerProcess server(dir.path() + "/server", writeTreeLimitedConfig(dir.path() + "/server.json"));
  hills::Client a(dir.path() + "/a", clientOptions("A", server.address()));
  hills::Client floor(dir.path() + "/floor",
                      partialOptions("floor", server.address(), {"parts", "stock"}));
  REQUIRE(a.waitConnected(10s));
  REQUIRE(hasIds(a));
  REQUIRE(floor.waitConnected(10s));
  auto made = makeRecords(a, 5, "first");
  // The newest entry of the log is of a tree the replica does not follow.
  auto bom2 = a.db().write([&](hills::WriteTxn& txn) {
    plm::Bom bom{};
    bom.assembly = made.parts[1];
    return txn.tree<plm::Bom>().create(bom);
  });
  REQUIRE(a.sync(20s));
  REQUIRE(floor.sync(20s));
  CHECK(countOf<plm::Part>(floor.db()) == 5);
  CHECK(countOf<plm::StockItem>(floor.db()) == 1);
  CHECK(countOf<plm::Bom>(floor.db()) == 0);
  CHECK(partIn(floor.db(), made.parts[4]));
  // The cursor still counts the server's log, boms included.
  CHECK(floor.status().lastApplied == a.status().lastApplied);
  CHECK(floor.status().lastApplied == floor.status().serverSequence);
  // And later changes too.
  a.checkOut(bom2);
  a.checkOut(made.parts[2]);
  REQUIRE(a.sync(20s));
  REQUIRE(floor.sync(20s));
  CHECK(floor.status().lastApplied == a.status().lastApplied);
  auto borrows = floor.borrows();
  REQUIRE(borrows.size() == 1);
  CHECK(borrows[0].key == hills::opaque(made.parts[2]));
}

TEST_CASE("a fresh partial replica starts from a snapshot of its trees only",
          "[integration][partial][snapshot]") {
  TempDir dir;
  ServerProcess server(dir.path() + "/server", writeTreeLimitedConfig(dir.path() + "/server.json"));
  hills::Client a(dir.path() + "/a", clientOptions("A", server.address()));
  REQUIRE(a.waitConnected(10s));
  REQUIRE(hasIds(a));
  auto made = makeRecords(a, 40, "snapshot");
  REQUIRE(a.sync(20s));  // the server has them before they are borrowed
  a.checkOut(made.bom);
  a.checkOut(made.parts[3]);
  REQUIRE(a.sync(20s));

  std::atomic<std::size_t> created{0};
  auto options = partialOptions("floor", server.address(), {"parts", "stock"});
  std::optional<hills::Subscription> subscription;
  options.onOpen = [&](hills::Database& db) {
    subscription.emplace(db.subscribe({}, [&](const hills::Event& e) {
      if (e.kind == hills::EventKind::kCreated) ++created;
    }));
  };
  hills::Client floor(dir.path() + "/floor", options);
  REQUIRE(floor.sync(20s));
  CHECK(countOf<plm::Part>(floor.db()) == 40);
  CHECK(countOf<plm::StockItem>(floor.db()) == 1);
  CHECK(countOf<plm::Bom>(floor.db()) == 0);
  CHECK(digest(floor.db())["parts"].hash == digest(a.db())["parts"].hash);
  CHECK(created == 41);  // from the snapshot, not from the log
  auto borrows = floor.borrows();
  REQUIRE(borrows.size() == 1);  // the part's, not the bom's
  CHECK(borrows[0].key == hills::opaque(made.parts[3]));
  CHECK(floor.status().lastApplied == a.status().lastApplied);
  // Then the log after the snapshot.
  auto later = createPart(a, 1000);
  REQUIRE(a.sync(20s));
  REQUIRE(floor.sync(20s));
  CHECK(partIn(floor.db(), later));
  CHECK(floor.status().lastApplied == a.status().lastApplied);
}

TEST_CASE("a partial replica fetches a bom from the server, caches it and reads it offline",
          "[integration][partial][fetch]") {
  TempDir dir;
  ServerProcess server(dir.path() + "/server", writeTreeLimitedConfig(dir.path() + "/server.json"));
  hills::Client a(dir.path() + "/a", clientOptions("A", server.address()));
  REQUIRE(a.waitConnected(10s));
  REQUIRE(hasIds(a));
  auto made = makeRecords(a, 3, "fetched");
  REQUIRE(a.sync(20s));
  // shelf may read every tree, and follows parts and stock.
  hills::Client floor(dir.path() + "/shelf",
                      partialOptions("shelf", server.address(), {"parts", "stock"}));
  REQUIRE(floor.sync(20s));

  // A reference the stock item holds leads to a part here; the bom is fetched.
  auto bom = floor.fetch(made.bom);
  REQUIRE(bom);
  CHECK(bom->notes == "fetched");
  CHECK(bom->assembly == made.parts[0]);
  auto generic = floor.fetch(hills::opaque(made.bom));
  REQUIRE(generic);
  CHECK_FALSE(generic->fromCache);
  CHECK(generic->origin == "A");
  auto newest = floor.fetchNewest<plm::Bom>(made.bom.id);
  REQUIRE(newest);
  CHECK(newest->first == made.bom);
  CHECK_FALSE(floor.fetch(Key<plm::Bom>{made.bom.id + 1000, 0}));
  // Of a tree it follows, fetch reads the replica.
  auto part = floor.fetch(made.parts[1]);
  REQUIRE(part);
  CHECK(part->name == "part 1");
  // Nothing of the bom entered the replica's trees.
  CHECK(countOf<plm::Bom>(floor.db()) == 0);

  // A changes the bom: online, fetch answers the server's newest.
  a.checkOut(made.bom);
  a.db().write([&](hills::WriteTxn& txn) {
    auto boms = txn.tree<plm::Bom>();
    auto b = *boms.get(made.bom);
    b.notes = "changed";
    boms.update(made.bom, b);
  });
  a.checkIn(made.bom);
  REQUIRE(a.sync(20s));
  CHECK(floor.fetch(made.bom)->notes == "changed");

  // Offline: from the cache.
  REQUIRE(server.kill(SIGTERM) == 0);
  REQUIRE(eventually([&] { return !floor.status().connected; }));
  auto cached = floor.fetch(hills::opaque(made.bom));
  REQUIRE(cached);
  CHECK(cached->fromCache);
  CHECK(floor.fetch(made.bom)->notes == "changed");
  CHECK(floor.fetchNewest<plm::Bom>(made.bom.id)->first == made.bom);
  auto missing = errorOf([&] { floor.fetch(Key<plm::Bom>{made.bom.id + 1, 0}); });
  CHECK(missing.code() == ErrorCode::kOffline);
}

TEST_CASE("a partial replica fetches many records in one call, in order, and reads them offline",
          "[integration][partial][fetch]") {
  TempDir dir;
  ServerProcess server(dir.path() + "/server", writeTreeLimitedConfig(dir.path() + "/server.json"));
  hills::Client a(dir.path() + "/a", clientOptions("A", server.address()));
  REQUIRE(a.waitConnected(10s));
  REQUIRE(hasIds(a));
  // More boms than one Session.fetch takes.
  constexpr int kBoms = 1500;
  static_assert(kBoms > hills::sync::MAX_FETCH);
  auto made = makeRecords(a, 2, "first");
  std::vector<Key<plm::Bom>> boms = a.db().write([&](hills::WriteTxn& txn) {
    std::vector<Key<plm::Bom>> out;
    for (int i = 0; i < kBoms; ++i) {
      plm::Bom bom{};
      bom.assembly = made.parts[0];
      bom.notes = "bom " + std::to_string(i);
      out.push_back(txn.tree<plm::Bom>().create(bom));
    }
    return out;
  });
  REQUIRE(a.sync(20s));
  hills::Client shelf(dir.path() + "/shelf",
                      partialOptions("shelf", server.address(), {"parts", "stock"}));
  REQUIRE(shelf.sync(20s));

  // Every bom, one that does not exist, and a part of a tree it follows,
  // in one call: one answer per key, in the order asked.
  std::vector<hills::OpaqueKey> keys;
  for (auto& key : boms) keys.push_back(hills::opaque(key));
  keys.insert(keys.begin() + 700, hills::OpaqueKey{"boms", boms.back().id + 1000, 0});
  keys.push_back(hills::opaque(made.parts[1]));
  auto records = shelf.fetch(keys);
  REQUIRE(records.size() == keys.size());
  CHECK_FALSE(records[700]);
  for (std::size_t i = 0; i < keys.size() - 1; ++i) {
    if (i == 700) continue;
    INFO(i);
    REQUIRE(records[i]);
    CHECK(records[i]->key == keys[i]);
    CHECK_FALSE(records[i]->fromCache);
    CHECK(records[i]->origin == "A");
  }
  REQUIRE(records.back());
  CHECK(records.back()->key == hills::opaque(made.parts[1]));
  CHECK(countOf<plm::Bom>(shelf.db()) == 0);

  // Typed, the same records decoded.
  auto typed = shelf.fetch(std::vector<Key<plm::Bom>>{boms[0], boms[kBoms - 1]});
  REQUIRE(typed.size() == 2);
  REQUIRE(typed[0]);
  CHECK(typed[0]->notes == "bom 0");
  REQUIRE(typed[1]);
  CHECK(typed[1]->notes == "bom " + std::to_string(kBoms - 1));

  // Offline: all of them from the cache; one it never held names itself.
  REQUIRE(server.kill(SIGTERM) == 0);
  REQUIRE(eventually([&] { return !shelf.status().connected; }));
  keys.erase(keys.begin() + 700);
  auto cached = shelf.fetch(keys);
  REQUIRE(cached.size() == keys.size());
  for (std::size_t i = 0; i < kBoms; ++i) {
    INFO(i);
    REQUIRE(cached[i]);
    CHECK(cached[i]->fromCache);
    CHECK(cached[i]->key == keys[i]);
  }
  CHECK_FALSE(cached.back()->fromCache);  // the part: the replica's own
  keys.push_back(hills::opaque(made.bom));  // never fetched
  auto missing = errorOf([&] { shelf.fetch(keys); });
  CHECK(missing.code() == ErrorCode::kOffline);
  CHECK_THAT(missing.what(), Catch::Contains(std::to_string(made.bom.id)));
  CHECK(shelf.fetch(std::vector<hills::OpaqueKey>{}).empty());
}

TEST_CASE("the read cache of a partial replica refuses local edits", "[integration][partial]") {
  TempDir dir;
  ServerProcess server(dir.path() + "/server", writeTreeLimitedConfig(dir.path() + "/server.json"));
  hills::Client a(dir.path() + "/a", clientOptions("A", server.address()));
  REQUIRE(a.waitConnected(10s));
  REQUIRE(hasIds(a));
  auto made = makeRecords(a, 2, "kept");
  REQUIRE(a.sync(20s));
  hills::Client floor(dir.path() + "/shelf",
                      partialOptions("shelf", server.address(), {"parts", "stock"}));
  REQUIRE(floor.sync(20s));
  auto bom = floor.fetch(made.bom);
  REQUIRE(bom);

  bom->notes = "edited here";
  auto update = errorOf([&] {
    floor.db().write([&](hills::WriteTxn& txn) { txn.tree<plm::Bom>().update(made.bom, *bom); });
  });
  // The replica has no such record to edit, whatever its cache holds.
  CHECK((update.code() == ErrorCode::kWrongTree || update.code() == ErrorCode::kNotFound));
  auto create = errorOf([&] {
    floor.db().write([&](hills::WriteTxn& txn) { txn.tree<plm::Bom>().create(*bom); });
  });
  CHECK(create.code() == ErrorCode::kWrongTree);
  CHECK_THAT(create.what(), Catch::Contains("boms"));
  auto borrow = errorOf([&] { floor.checkOut(made.bom); });
  CHECK(borrow.code() == ErrorCode::kWrongTree);
  CHECK_THAT(borrow.what(), Catch::Contains("boms"));
  CHECK(floor.fetch(made.bom)->notes == "kept");
  CHECK(floor.outbox().empty());
}

TEST_CASE("a client is refused clearly when it asks for a tree its configuration forbids",
          "[integration][partial][denied]") {
  TempDir dir;
  ServerProcess server(dir.path() + "/server", writeTreeLimitedConfig(dir.path() + "/server.json"));
  hills::Client a(dir.path() + "/a", clientOptions("A", server.address()));
  REQUIRE(a.waitConnected(10s));
  REQUIRE(hasIds(a));
  auto made = makeRecords(a, 2, "secret");
  REQUIRE(a.sync(20s));

  SECTION("a replica of boms") {
    hills::Client floor(dir.path() + "/floor",
                        partialOptions("floor", server.address(), {"parts", "boms"}));
    auto e = errorOf([&] { floor.waitConnected(10s); });
    CHECK(e.code() == ErrorCode::kDenied);
    CHECK_THAT(e.what(), Catch::Contains("may not read tree 'boms'"));
    CHECK(floor.status().refusedBy == ErrorCode::kDenied);
  }
  SECTION("a replica of every tree") {
    hills::Client floor(dir.path() + "/floor", clientOptions("floor", server.address()));
    auto e = errorOf([&] { floor.waitConnected(10s); });
    CHECK(e.code() == ErrorCode::kDenied);
    CHECK_THAT(e.what(), Catch::Contains("boms"));
  }
  SECTION("a tree the server does not hold") {
    hills::Client shelf(dir.path() + "/shelf",
                        partialOptions("shelf", server.address(), {"parts", "pallets"}));
    auto e = errorOf([&] { shelf.waitConnected(10s); });
    CHECK(e.code() == ErrorCode::kUnknownTree);
    CHECK_THAT(e.what(), Catch::Contains("pallets"));
  }
  SECTION("a fetch of a bom") {
    hills::Client floor(dir.path() + "/floor",
                        partialOptions("floor", server.address(), {"parts"}));
    REQUIRE(floor.waitConnected(10s));
    auto e = errorOf([&] { floor.fetch(made.bom); });
    CHECK(e.code() == ErrorCode::kDenied);
    CHECK_THAT(e.what(), Catch::Contains("may not read tree 'boms'"));
    auto borrow = errorOf([&] { floor.checkOut(made.bom); });
    CHECK(borrow.code() == ErrorCode::kDenied);
    CHECK_THAT(borrow.what(), Catch::Contains("tree 'boms'"));
    // What it may read, it fetches.
    CHECK(floor.fetch(made.stock));
  }
}

TEST_CASE("creating and checking out work for replicated trees and are refused for others",
          "[integration][partial]") {
  TempDir dir;
  ServerProcess server(dir.path() + "/server", writeTreeLimitedConfig(dir.path() + "/server.json"));
  hills::Client a(dir.path() + "/a", clientOptions("A", server.address()));
  // shelf may read and write every tree, and follows parts and stock.
  hills::Client floor(dir.path() + "/shelf",
                      partialOptions("shelf", server.address(), {"parts", "stock"}));
  REQUIRE(a.waitConnected(10s));
  REQUIRE(hasIds(a));
  REQUIRE(floor.waitConnected(10s));
  REQUIRE(hasIds(floor));
  CHECK(floor.status().idsLeft["boms"] == 0);  // no ids of a tree it does not follow
  auto made = makeRecords(a, 2, "theirs");
  REQUIRE(a.sync(20s));

  auto mine = createPart(floor, 7);
  REQUIRE(floor.sync(20s));
  REQUIRE(a.sync(20s));
  CHECK(partIn(a.db(), mine));

  REQUIRE(floor.sync(20s));
  floor.checkOut(made.parts[1]);
  floor.db().write([&](hills::WriteTxn& txn) {
    auto parts = txn.tree<plm::Part>();
    auto p = *parts.get(made.parts[1]);
    p.name = "renamed on the floor";
    parts.update(made.parts[1], p);
  });
  floor.checkIn(made.parts[1]);
  REQUIRE(floor.sync(20s));
  REQUIRE(a.sync(20s));
  CHECK(partIn(a.db(), made.parts[1])->name == "renamed on the floor");

  auto created = errorOf([&] {
    floor.db().write([&](hills::WriteTxn& txn) {
      plm::Bom bom{};
      txn.tree<plm::Bom>().create(bom);
    });
  });
  CHECK(created.code() == ErrorCode::kWrongTree);
  CHECK_THAT(created.what(), Catch::Contains("does not replicate tree 'boms'"));
  auto borrowed = errorOf([&] { floor.checkOut(made.bom); });
  CHECK(borrowed.code() == ErrorCode::kWrongTree);
  CHECK_THAT(borrowed.what(), Catch::Contains("tree 'boms'"));
  auto released = errorOf([&] { floor.release(made.bom); });
  CHECK(released.code() == ErrorCode::kWrongTree);
}

TEST_CASE("a replica opened again with more trees takes a snapshot of the added ones",
          "[integration][partial][snapshot]") {
  TempDir dir;
  ServerProcess server(dir.path() + "/server", writeTreeLimitedConfig(dir.path() + "/server.json"));
  hills::Client a(dir.path() + "/a", clientOptions("A", server.address()));
  REQUIRE(a.waitConnected(10s));
  REQUIRE(hasIds(a));
  auto first = makeRecords(a, 3, "before");
  REQUIRE(a.sync(20s));
  std::string path = dir.path() + "/shelf";
  {
    hills::Client shelf(path, partialOptions("shelf", server.address(), {"parts"}));
    REQUIRE(shelf.sync(20s));
    CHECK(countOf<plm::Bom>(shelf.db()) == 0);
  }
  // While it is closed, boms change.
  a.checkOut(first.bom);
  a.db().write([&](hills::WriteTxn& txn) {
    auto boms = txn.tree<plm::Bom>();
    auto b = *boms.get(first.bom);
    b.notes = "while away";
    boms.update(first.bom, b);
  });
  a.checkIn(first.bom, true);
  auto second = makeRecords(a, 2, "second");
  REQUIRE(a.sync(20s));

  SECTION("with fewer trees it is refused") {
    auto e = errorOf([&] {
      hills::Client shelf(path, partialOptions("shelf", server.address(), {"stock"}));
    });
    CHECK(e.code() == ErrorCode::kInvalidArgument);
    CHECK_THAT(e.what(), Catch::Contains("parts"));
  }
  SECTION("with more trees it takes theirs") {
    hills::Client shelf(path, partialOptions("shelf", server.address(), {"parts", "boms"}));
    REQUIRE(shelf.sync(20s));
    CHECK(countOf<plm::Bom>(shelf.db()) == 2);
    CHECK(countOf<plm::StockItem>(shelf.db()) == 0);
    CHECK(digest(shelf.db())["boms"].hash == digest(a.db())["boms"].hash);
    CHECK(digest(shelf.db())["parts"].hash == digest(a.db())["parts"].hash);
    auto held = shelf.borrows();
    REQUIRE(held.size() == 1);
    CHECK(held[0].key == hills::opaque(first.bom));
    // And follows them from there.
    a.db().write([&](hills::WriteTxn& txn) {
      auto boms = txn.tree<plm::Bom>();
      auto b = *boms.get(first.bom);
      b.notes = "after";
      boms.update(first.bom, b);
    });
    a.checkIn(first.bom);
    REQUIRE(a.sync(20s));
    REQUIRE(shelf.sync(20s));
    auto bom = shelf.db().read(
        [&](const hills::ReadTxn& txn) { return txn.tree<plm::Bom>().get(first.bom); });
    REQUIRE(bom);
    CHECK(bom->notes == "after");
    CHECK(shelf.borrows().empty());
    CHECK(shelf.status().lastApplied == a.status().lastApplied);
    CHECK(digest(shelf.db())["boms"].hash == digest(a.db())["boms"].hash);
    (void)second;
  }
}

TEST_CASE("a client of protocol 3 is still served every tree, and one of protocol 2 is refused",
          "[integration][partial][protocol]") {
  TempDir dir;
  ServerProcess server(dir.path() + "/server", writeTreeLimitedConfig(dir.path() + "/server.json"));
  hills::Client a(dir.path() + "/a", clientOptions("A", server.address()));
  REQUIRE(a.waitConnected(10s));
  REQUIRE(hasIds(a));
  makeRecords(a, 1, "old");
  REQUIRE(a.sync(20s));
  std::string refusal;
  auto trees = pullAs(server.port(), 3, refusal);
  CHECK(refusal.empty());
  std::sort(trees.begin(), trees.end());
  CHECK(trees == std::vector<std::string>{"boms", "parts", "stock"});
  CHECK(pullAs(server.port(), 2, refusal).empty());
  CHECK_THAT(refusal, Catch::Contains("speaks protocol 2; this server speaks 3 to 4"));
}
