// hills::Client against real hills-server processes on 127.0.0.1.
#include "hills/client.h"

#include <atomic>
#include <catch2/catch.hpp>
#include <filesystem>
#include <optional>
#include <thread>

#include "plm_fixtures.h"
#include "server_process.h"
#include "sync_fixtures.h"
#include "temp_dir.h"

using hills::ErrorCode;
using hills::Key;
using hills::OpaqueKey;
using namespace hills::test;
using namespace std::chrono_literals;

TEST_CASE("records created offline reach another client with events and borrows exclude others",
          "[integration][client][borrow]") {
  TempDir dir;
  auto config = hills::test::writeServerConfig(dir.sub("server.json"));
  const unsigned port = firstContact(dir.sub("server"), config, dir.sub("a"), "A");
  std::string address = "127.0.0.1:" + std::to_string(port);

  // Offline: A creates parts with nobody to tell.
  hills::Client a(dir.sub("a"), clientOptions("A", address));
  std::vector<Key<plm::Part>> keys = a.db().write([](hills::WriteTxn& txn) {
    std::vector<Key<plm::Part>> out;
    for (int i = 0; i < 5; ++i) out.push_back(txn.tree<plm::Part>().create(makePart(i)));
    return out;
  });
  CHECK(a.status().outbox == 5);
  CHECK_FALSE(a.status().connected);

  ServerProcess server(dir.sub("server"), config, port);
  std::optional<Recorder> recorder;
  auto bOptions = clientOptions("B", server.address());
  bOptions.onOpen = [&](hills::Database& db) { recorder.emplace(db); };
  hills::Client b(dir.sub("b"), bOptions);
  Recorder& bEvents = *recorder;
  REQUIRE(a.waitConnected(10s));
  REQUIRE(a.sync(10s));
  CHECK(a.status().outbox == 0);
  REQUIRE(eventually([&] { return bEvents.find(hills::EventKind::kCreated, "A").size() == 5; }));
  for (int i = 0; i < 5; ++i) {
    auto part = partIn(b.db(), keys[i]);
    REQUIRE(part);
    CHECK(part->name == makePart(i).name);
  }

  // A borrows a part; B is refused, by name.
  auto borrow = a.checkOut(keys[0]);
  CHECK(borrow.holder == "A");
  CHECK(borrow.fencing > 0);
  auto refused = errorOf([&] { b.checkOut(keys[0]); });
  CHECK(refused.code() == ErrorCode::kBorrowed);
  CHECK_THAT(refused.what(), Catch::Contains("'A'"));

  // Without a borrow, B cannot edit its replica either.
  auto local = errorOf([&] {
    b.db().write([&](hills::WriteTxn& txn) {
      auto p = *txn.tree<plm::Part>().get(keys[0]);
      p.name = "B was here";
      txn.tree<plm::Part>().update(keys[0], p);
    });
  });
  CHECK(local.code() == ErrorCode::kNotBorrowed);

  // A edits and checks in; B sees the update with the changed field.
  a.db().write([&](hills::WriteTxn& txn) {
    auto p = *txn.tree<plm::Part>().get(keys[0]);
    p.name = "renamed by A";
    txn.tree<plm::Part>().update(keys[0], p);
  });
  a.checkIn(keys[0]);
  REQUIRE(a.sync(10s));
  REQUIRE(eventually([&] { return !bEvents.find(hills::EventKind::kUpdated, "A").empty(); }));
  auto update = bEvents.find(hills::EventKind::kUpdated, "A").front();
  CHECK(update.key == OpaqueKey{"parts", keys[0].id, 0});
  CHECK(update.changedFields == std::vector<std::string>{"name"});
  CHECK(partIn(b.db(), keys[0])->name == "renamed by A");
  REQUIRE(eventually([&] { return !bEvents.find(hills::sync::kCheckedIn, "A").empty(); }));

  // Now B may borrow it.
  auto granted = b.checkOut(keys[0]);
  CHECK(granted.holder == "B");
  CHECK(granted.fencing > borrow.fencing);
}

TEST_CASE("a replica refuses a server whose log went back in time", "[integration][client][pin]") {
  TempDir dir;
  auto config = hills::test::writeServerConfig(dir.sub("server.json"));
  std::string db = dir.sub("server");
  unsigned port;
  {
    ServerProcess server(db, config);
    port = server.port();
    hills::Client a(dir.sub("a"), clientOptions("A", server.address()));
    REQUIRE(a.waitConnected(10s));
    REQUIRE(server.kill(SIGTERM) == 0);
  }
  // The "backup": the server's database before A's records reached it.
  std::filesystem::copy(db, dir.sub("backup"), std::filesystem::copy_options::recursive);
  std::string address = "127.0.0.1:" + std::to_string(port);
  {
    ServerProcess server(db, config, port);
    hills::Client a(dir.sub("a"), clientOptions("A", address));
    a.db().write([](hills::WriteTxn& txn) {
      for (int i = 0; i < 3; ++i) txn.tree<plm::Part>().create(makePart(i));
    });
    REQUIRE(a.waitConnected(10s));
    REQUIRE(a.sync(10s));
    CHECK(a.status().lastApplied == 3);
    REQUIRE(server.kill(SIGTERM) == 0);
  }
  std::filesystem::remove_all(db);
  std::filesystem::rename(dir.sub("backup"), db);
  ServerProcess restored(db, config, port);
  hills::Client a(dir.sub("a"), clientOptions("A", address));
  // Refused for good: the replica must be rebuilt, trying again cannot help.
  CHECK(errorOf([&] { a.waitConnected(10s); }).code() == ErrorCode::kWrongServer);
  CHECK(a.status().refusedBy == ErrorCode::kWrongServer);
  CHECK_THAT(a.status().lastError, Catch::Contains("log ends at 0"));
  CHECK_THAT(restored.log(), Catch::Contains("refused client 'A'"));
}

TEST_CASE("a draft removed under a borrow is removed everywhere when checked in",
          "[integration][client][remove]") {
  TempDir dir;
  auto config = writeServerConfig(dir.sub("server.json"));
  ServerProcess server(dir.sub("server"), config);
  hills::Client a(dir.sub("a"), clientOptions("A", server.address()));
  std::optional<Recorder> recorder;
  auto bOptions = clientOptions("B", server.address());
  bOptions.onOpen = [&](hills::Database& db) { recorder.emplace(db); };
  hills::Client b(dir.sub("b"), bOptions);
  REQUIRE(a.waitConnected(10s));
  auto key = createPart(a, 7);
  REQUIRE(a.sync(10s));
  REQUIRE(eventually([&] { return partIn(b.db(), key).has_value(); }));

  // Without the borrow the removal is refused locally.
  auto refused = errorOf(
      [&] { a.db().write([&](hills::WriteTxn& txn) { txn.tree<plm::Part>().remove(key); }); });
  CHECK(refused.code() == ErrorCode::kNotBorrowed);

  a.checkOut(key);
  a.db().write([&](hills::WriteTxn& txn) { txn.tree<plm::Part>().remove(key); });
  CHECK(partIn(b.db(), key).has_value());  // nothing leaves A before the check-in
  a.checkIn(key);
  REQUIRE(a.sync(10s));
  REQUIRE(eventually([&] { return !partIn(b.db(), key).has_value(); }));
  CHECK(recorder->find(hills::EventKind::kRemoved, "A").size() == 1);
  CHECK(a.borrows().empty());
  REQUIRE(server.kill(SIGTERM) == 0);
  hills::Database serverDb(dir.sub("server"), [] {
    auto o = plmOptions();
    o.changeLog = true;
    return o;
  }());
  CHECK(partCount(serverDb) == 0);
}

TEST_CASE("a client call that waits for the server is refused inside an event of the sync thread",
          "[integration][client][threads]") {
  TempDir dir;
  auto config = writeServerConfig(dir.sub("server.json"));
  ServerProcess server(dir.sub("server"), config);
  hills::Client a(dir.sub("a"), clientOptions("A", server.address()));
  REQUIRE(a.waitConnected(10s));
  std::atomic<hills::Client*> self{nullptr};
  std::atomic<int> code{-1};
  hills::Subscription sub;
  auto bOptions = clientOptions("B", server.address());
  bOptions.onOpen = [&](hills::Database& db) {
    sub = db.subscribe({{"parts"}, {hills::EventKind::kCreated}}, [&](const hills::Event& e) {
      if (self == nullptr || e.origin != "A") return;
      try {
        self.load()->checkOut(e.key);
        code = 1000;  // not refused
      } catch (const hills::Error& error) {
        code = static_cast<int>(error.code());
      }
    });
  };
  hills::Client b(dir.sub("b"), bOptions);
  self = &b;
  REQUIRE(b.waitConnected(10s));
  createPart(a, 1);
  REQUIRE(a.sync(10s));
  REQUIRE(eventually([&] { return code != -1; }));
  CHECK(code == static_cast<int>(ErrorCode::kInvalidArgument));
}

TEST_CASE("sync returns only once every change the server had is applied here, 100 times in a row",
          "[integration][client][sync][regression]") {
  TempDir dir;
  auto config = writeServerConfig(dir.sub("server.json"));
  ServerProcess server(dir.sub("server"), config);
  hills::Client a(dir.sub("a"), clientOptions("A", server.address()));
  hills::Client b(dir.sub("b"), clientOptions("B", server.address()));
  REQUIRE(a.waitConnected(10s));
  REQUIRE(b.waitConnected(10s));
  REQUIRE(hasIds(a));
  auto key = createPart(a, 1);
  REQUIRE(a.sync(10s));
  a.checkOut(key);
  for (int i = 0; i < 100; ++i) {
    std::string name = "edit " + std::to_string(i);
    a.db().write([&](hills::WriteTxn& txn) {
      auto p = makePart(1);
      p.name = name;
      txn.tree<plm::Part>().update(key, p);
      a.checkIn(txn, key, true);
    });
    REQUIRE(a.flush(10s));  // the server has the edit, durably
    REQUIRE(b.sync(10s));
    auto part = partIn(b.db(), key);
    REQUIRE(part);
    REQUIRE(part->name == name);
  }
}

TEST_CASE("a refused client does not try again until connectTo gives it new credentials",
          "[integration][client][refusal]") {
  TempDir dir;
  auto config = writeServerConfig(dir.sub("server.json"));
  ServerProcess server(dir.sub("server"), config);
  auto options = clientOptions("A", server.address());
  options.token = "not-A-token";
  hills::Client a(dir.sub("a"), options);
  auto refused = errorOf([&] { a.waitConnected(10s); });
  CHECK(refused.code() == ErrorCode::kDenied);
  CHECK_THAT(refused.what(), Catch::Contains("'A'"));
  CHECK(a.status().refusedBy == ErrorCode::kDenied);

  // Far longer than its back-off (20 ms to 200 ms): it stays refused and
  // silent, so the server's log holds one refusal.
  std::this_thread::sleep_for(1s);
  auto countRefusals = [&] {
    auto log = server.log();
    std::size_t n = 0;
    for (auto at = log.find("the token of client 'A' is wrong"); at != std::string::npos;
         at = log.find("the token of client 'A' is wrong", at + 1)) {
      ++n;
    }
    return n;
  };
  CHECK(countRefusals() == 1);
  CHECK(a.status().refusedBy == ErrorCode::kDenied);

  a.connectTo(server.address(), "A-token");
  REQUIRE(a.waitConnected(10s));
  CHECK_FALSE(a.status().refusedBy);
  CHECK(a.status().lastError.empty());
  CHECK(countRefusals() == 1);
}

TEST_CASE("connectTo moves a client to its server at another address",
          "[integration][client][connect]") {
  TempDir dir;
  auto config = writeServerConfig(dir.sub("server.json"));
  std::optional<ServerProcess> server(std::in_place, dir.sub("server"), config);
  hills::Client a(dir.sub("a"), clientOptions("A", server->address()));
  REQUIRE(a.waitConnected(10s));
  REQUIRE(hasIds(a));
  auto first = createPart(a, 1);
  REQUIRE(a.sync(10s));
  REQUIRE(server->kill(SIGTERM) == 0);
  server.reset();

  // The same server, moved to another port.
  server.emplace(dir.sub("server"), config);
  auto second = createPart(a, 2);  // offline meanwhile
  a.connectTo(server->address(), "A-token");
  REQUIRE(a.waitConnected(10s));
  REQUIRE(a.sync(10s));
  hills::Client b(dir.sub("b"), clientOptions("B", server->address()));
  REQUIRE(b.waitConnected(10s));
  REQUIRE(b.sync(10s));
  CHECK(partIn(b.db(), first));
  CHECK(partIn(b.db(), second));
}

TEST_CASE("release, new revision, lifecycle and breakBorrow take typed keys",
          "[integration][client][keys]") {
  TempDir dir;
  auto config = writeServerConfig(dir.sub("server.json"));
  ServerProcess server(dir.sub("server"), config);
  hills::Client a(dir.sub("a"), clientOptions("A", server.address()));
  hills::Client admin(dir.sub("admin"), clientOptions("admin", server.address()));
  REQUIRE(a.waitConnected(10s));
  REQUIRE(admin.waitConnected(10s));
  REQUIRE(hasIds(a));
  Key<plm::Part> key = createPart(a, 1);
  REQUIRE(a.sync(10s));

  a.release(key);
  Key<plm::Part> next = a.newRevision(key);
  CHECK(next == Key<plm::Part>{key.id, 1});
  a.setLifecycle(key, 3);
  auto released = a.db().read(
      [&](const hills::ReadTxn& txn) { return txn.tree<plm::Part>().meta(key); });
  REQUIRE(released);
  CHECK(released->lifecycle == 3);
  hills::BorrowInfo broken = admin.breakBorrow(next);
  CHECK(broken.holder == "A");
  CHECK(broken.key == hills::opaque(next));
}

TEST_CASE("a durable replica syncs the server's batches once and its own edits fully",
          "[integration][client][durable]") {
  TempDir dir;
  auto config = hills::test::writeServerConfig(dir.sub("server.json"));
  ServerProcess server(dir.sub("server"), config);
  const auto applied = GENERATE(hills::CommitSync::kData, hills::CommitSync::kFull);
  auto aOptions = clientOptions("A", server.address());
  hills::Client a(dir.sub("a"), aOptions);
  auto bOptions = clientOptions("B", server.address());
  bOptions.database.durable = true;
  bOptions.appliedChanges = applied;
  hills::Client b(dir.sub("b"), bOptions);
  REQUIRE(a.waitConnected(10s));
  REQUIRE(b.waitConnected(10s));
  REQUIRE(b.sync(10s));
  REQUIRE(eventually([&] { return a.status().idsLeft["parts"] > 0; }));
  REQUIRE(eventually([&] { return b.status().idsLeft["parts"] > 0; }));
  const auto before = b.db().stats().dataSyncCommits;

  // A's records reach B in batches; with kData each commits with one sync.
  for (int i = 0; i < 3; ++i) {
    a.db().write([&](hills::WriteTxn& txn) { txn.tree<plm::Part>().create(makePart(i)); });
    REQUIRE(a.sync(10s));
  }
  const auto target = a.status().lastApplied;
  REQUIRE(eventually([&] { return b.status().lastApplied >= target; }));
  const auto afterBatches = b.db().stats().dataSyncCommits;
  if (applied == hills::CommitSync::kData) {
    CHECK(afterBatches > before);
    CHECK(afterBatches - before <= 3);
  } else {
    CHECK(afterBatches == before);
  }

  // B's own edit, its outbox entry and the push that settles it are full
  // commits: none of them is counted, and LMDB's flag is off between them.
  auto key =
      b.db().write([](hills::WriteTxn& txn) { return txn.tree<plm::Part>().create(makePart(9)); });
  CHECK(b.db().stats().dataSyncCommits == afterBatches);
  CHECK_FALSE(b.db().stats().metaSyncOff);
  REQUIRE(b.sync(10s));
  CHECK(b.status().outbox == 0);
  REQUIRE(eventually([&] { return partIn(a.db(), key).has_value(); }));
  CHECK_FALSE(b.db().stats().metaSyncOff);
}

TEST_CASE("reserveIds gets ids for a transaction that creates more records than a client holds",
          "[integration][client][ids]") {
  TempDir dir;
  auto config = writeServerConfig(dir.sub("server.json"));
  ServerProcess server(dir.sub("server"), config);
  hills::Client a(dir.sub("a"), clientOptions("A", server.address()));
  REQUIRE(a.waitConnected(10s));
  REQUIRE(hasIds(a));

  // Without it, a transaction that outgrows the ranges on hand is refused
  // whole, and the message says what to do.
  const std::uint64_t held = a.status().idsLeft["parts"];
  REQUIRE(held < 20'000);
  auto createParts = [&](std::uint64_t count) {
    a.db().write([&](hills::WriteTxn& txn) {
      for (std::uint64_t i = 0; i < count; ++i) {
        txn.tree<plm::Part>().create(makePart(static_cast<int>(i)));
      }
    });
  };
  auto refused = errorOf([&] { createParts(held + 1); });
  CHECK(refused.code() == ErrorCode::kNoIds);
  CHECK_THAT(refused.what(), Catch::Contains("reserveIds"));
  CHECK(partCount(a.db()) == 0);

  // With it: 20,000 parts in one transaction (the server grants 4,096 at a
  // time), which reach the server and another client.
  const std::uint64_t reserved = a.reserveIds<plm::Part>(20'000);
  CHECK(reserved >= 20'000);
  CHECK(reserved < 20'000 + 4096);  // grants of the server's idBlock until enough
  CHECK(a.status().idsLeft["parts"] == reserved);
  CHECK(a.reserveIds("parts", 10) == reserved);  // enough on hand: nothing asked
  createParts(20'000);
  REQUIRE(a.sync(30s));
  CHECK(a.status().outbox == 0);
  CHECK(a.status().refused == 0);
  hills::Client b(dir.sub("b"), clientOptions("B", server.address()));
  REQUIRE(b.waitConnected(10s));
  REQUIRE(b.sync(30s));
  CHECK(partCount(b.db()) == 20'000);

  // What it refuses, by name.
  CHECK(errorOf([&] { a.reserveIds("parts", 0); }).code() == ErrorCode::kInvalidArgument);
  CHECK(errorOf([&] { a.reserveIds("parts", hills::Client::kMaxReservedIds + 1); }).code() ==
        ErrorCode::kInvalidArgument);
  CHECK(errorOf([&] { a.reserveIds("no such tree", 1); }).code() == ErrorCode::kUnknownTree);
  hills::Client reader(dir.sub("reader"), clientOptions("reader", server.address()));
  REQUIRE(reader.waitConnected(10s));
  auto denied = errorOf([&] { reader.reserveIds("parts", 1); });
  CHECK(denied.code() == ErrorCode::kDenied);
  CHECK_THAT(denied.what(), Catch::Contains("reader"));
  CHECK_THAT(denied.what(), Catch::Contains("parts"));
  auto partialOptions = clientOptions("C", server.address());
  partialOptions.replicate = {"parts"};
  hills::Client c(dir.sub("c"), partialOptions);
  CHECK(errorOf([&] { c.reserveIds("boms", 1); }).code() == ErrorCode::kWrongTree);
  REQUIRE(server.kill(SIGTERM) == 0);
  REQUIRE(eventually([&] { return !a.status().connected; }));
  auto offline = errorOf([&] { a.reserveIds("parts", 1'000'000); });
  CHECK(offline.code() == ErrorCode::kOffline);
  CHECK_THAT(offline.what(), Catch::Contains("1000000 ids of tree 'parts'"));
}
