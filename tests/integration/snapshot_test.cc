// A fresh replica starts from the server's snapshot, and the server's log
// compaction leaves every replica able to converge, through a real
// hills-server process on 127.0.0.1.
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "contents.h"
#include "hills/client.h"
#include "hills/inspect.h"
#include "plm_fixtures.h"
#include "server_process.h"
#include "sync_fixtures.h"
#include "temp_dir.h"

using hills::EventKind;
using hills::Key;
using namespace hills::test;
using namespace std::chrono_literals;

namespace {

// The entries the server's change log holds now, read beside the server.
std::uint64_t logEntries(const std::string& serverDb) {
  hills::Options o;
  o.readOnly = true;
  hills::Database db(serverDb, o);
  return db.read([](const hills::ReadTxn& txn) {
    for (const auto& t : hills::tableStats(txn)) {
      if (t.name == "_log") return t.entries;
    }
    return std::uint64_t{0};
  });
}

// Renames every part under a borrow, `rounds` times.
void renameAll(hills::Client& client, const std::vector<Key<plm::Part>>& keys, int rounds) {
  for (auto key : keys) client.checkOut(key);
  for (int round = 0; round < rounds; ++round) {
    for (auto key : keys) {
      client.db().write([&](hills::WriteTxn& txn) {
        auto parts = txn.tree<plm::Part>();
        auto part = *parts.get(key);
        part.name = "part " + std::to_string(key.id) + " round " + std::to_string(round);
        parts.update(key, part);
        client.checkIn(txn, key, round + 1 < rounds);
      });
    }
    REQUIRE(client.sync(20s));
  }
}

}  // namespace

TEST_CASE("a fresh replica starts from the server's snapshot and then follows its log",
          "[integration][snapshot]") {
  TempDir dir;
  auto config = writeServerConfig(dir.path() + "/server.json");
  ServerProcess server(dir.path() + "/server", config);
  hills::Client a(dir.path() + "/a", clientOptions("A", server.address()));
  REQUIRE(hasIds(a));
  std::vector<Key<plm::Part>> keys;
  for (int i = 0; i < 300; ++i) keys.push_back(createPart(a, i));
  REQUIRE(a.sync(20s));
  a.checkOut(keys[7]);  // a borrow the snapshot carries

  hills::ClientOptions options = clientOptions("B", server.address());
  std::vector<hills::Event> events;
  std::mutex mutex;
  std::optional<hills::Subscription> subscription;
  options.onOpen = [&](hills::Database& db) {
    subscription.emplace(db.subscribe({}, [&](const hills::Event& e) {
      std::lock_guard lock(mutex);
      events.push_back(e);
    }));
  };
  hills::Client b(dir.path() + "/b", options);
  REQUIRE(b.sync(20s));
  CHECK(partCount(b.db()) == 300);
  CHECK(digest(b.db()) == digest(a.db()));
  auto held = b.db().read([&](const hills::ReadTxn& txn) {
    return hills::protocol::findBorrow(txn, hills::opaque(keys[7]));
  });
  REQUIRE(held);
  CHECK(held->holder == "A");
  {
    // One event per record, made by A as the snapshot says; a replica
    // that replayed the log would also have seen A's borrow.
    std::lock_guard lock(mutex);
    std::size_t created = 0, other = 0;
    for (auto& e : events) {
      (e.kind == EventKind::kCreated && e.origin == "A" ? created : other) += 1;
    }
    CHECK(created == 300);
    CHECK(other == 0);
  }
  CHECK(b.status().lastApplied == a.status().lastApplied);
  // Then the log, from where the snapshot stands.
  auto later = createPart(a, 1000);
  REQUIRE(a.sync(20s));
  REQUIRE(b.sync(20s));
  CHECK(partIn(b.db(), later));
  CHECK(b.status().lastApplied == a.status().lastApplied);
}

TEST_CASE("after compaction the log stays near the live data and replicas at any cursor converge",
          "[integration][snapshot][compaction]") {
  TempDir dir;
  auto config = writeServerConfig(dir.path() + "/server.json", std::nullopt, R"("logRetentionS": 0)");
  std::string serverDb = dir.path() + "/server";
  ServerProcess server(serverDb, config);
  hills::Client a(dir.path() + "/a", clientOptions("A", server.address()));
  REQUIRE(hasIds(a));
  std::vector<Key<plm::Part>> keys;
  for (int i = 0; i < 100; ++i) keys.push_back(createPart(a, i));
  REQUIRE(a.sync(20s));
  // B follows up to here, then stays away while every part changes.
  {
    hills::Client b(dir.path() + "/b", clientOptions("B", server.address()));
    REQUIRE(b.sync(20s));
  }
  renameAll(a, keys, 5);
  // 100 creations, 500 updates, 100 borrows and 100 check-ins were logged.
  // Compaction keeps one entry per record for its data and one for its
  // borrow: it runs once a second.
  REQUIRE(eventually([&] { return logEntries(serverDb) <= 200; }, 20s));

  hills::Client b(dir.path() + "/b", clientOptions("B", server.address()));
  hills::Client c(dir.path() + "/c", clientOptions("C", server.address()));  // fresh
  REQUIRE(b.sync(20s));
  REQUIRE(c.sync(20s));
  CHECK(digest(b.db()) == digest(a.db()));
  CHECK(digest(c.db()) == digest(a.db()));
  CHECK(partIn(b.db(), keys[42])->name == "part " + std::to_string(keys[42].id) + " round 4");
  for (hills::Client* replica : {&b, &c}) {
    auto borrows = replica->db().read(
        [](const hills::ReadTxn& txn) { return hills::protocol::listBorrows(txn); });
    CHECK(borrows.empty());  // every borrow was returned
  }
}
