// Many clients writing at once through a real hills-server end with the same
// database everywhere, and nothing written offline is lost on a restart.
#include <algorithm>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <thread>

#include "contents.h"
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

// Creates `count` parts in transactions of 100, numbered from `first`. A
// burst may use up the client's ids before the next range arrives: the
// transaction (all or nothing) is tried again after a short sleep, until
// `deadline`. Returns what went wrong, or an empty string.
std::string createMany(hills::Client& client, int first, int count,
                       std::chrono::steady_clock::time_point deadline, std::uint64_t& retries) {
  int made = 0;
  while (made < count) {
    try {
      client.db().write([&](hills::WriteTxn& txn) {
        auto parts = txn.tree<plm::Part>();
        for (int i = made; i < made + 100 && i < count; ++i) parts.create(makePart(first + i, 16));
      });
      made = std::min(made + 100, count);
    } catch (const hills::Error& e) {
      if (e.code() != ErrorCode::kNoIds) return e.what();
      if (std::chrono::steady_clock::now() >= deadline) {
        return "no ids arrived in time after " + std::to_string(made) + " parts: " + e.what();
      }
      ++retries;
      std::this_thread::sleep_for(2ms);
    }
  }
  return {};
}

}  // namespace

TEST_CASE("three clients creating 10000 records each at once converge to identical trees",
          "[integration][convergence]") {
  using Clock = std::chrono::steady_clock;
  const auto started = Clock::now();
  constexpr int kPerClient = 10'000;
  TempDir dir;
  auto config = hills::test::writeServerConfig(dir.sub("server.json"));
  ServerProcess server(dir.sub("server"), config);

  std::vector<std::unique_ptr<hills::Client>> clients;
  for (const char* name : {"A", "B", "C"}) {
    clients.push_back(
        std::make_unique<hills::Client>(dir.sub(name), clientOptions(name, server.address())));
  }
  for (auto& c : clients) {
    REQUIRE(c->waitConnected(10s));
    REQUIRE(hasIds(*c));
  }

  std::vector<std::string> failures(clients.size());
  std::vector<std::uint64_t> retries(clients.size(), 0);
  {
    const auto deadline = Clock::now() + 60s;
    std::vector<std::thread> threads;
    for (std::size_t i = 0; i < clients.size(); ++i) {
      threads.emplace_back([&, i] {
        try {
          failures[i] = createMany(*clients[i], static_cast<int>(i) * 100'000, kPerClient, deadline,
                                   retries[i]);
        } catch (const std::exception& e) {
          failures[i] = e.what();
        }
      });
    }
    for (auto& t : threads) t.join();
  }
  const auto created = Clock::now();
  for (std::size_t i = 0; i < clients.size(); ++i) {
    INFO("client " << i << " retried " << retries[i] << " times");
    CHECK(failures[i] == "");
  }
  REQUIRE(std::all_of(failures.begin(), failures.end(), [](auto& f) { return f.empty(); }));

  // Every outbox reaches the server; then every replica catches up.
  for (auto& c : clients) REQUIRE(c->sync(60s));
  for (auto& c : clients) {
    REQUIRE(eventually([&] { return partCount(c->db()) == 3 * kPerClient; }, 60s));
    REQUIRE(c->sync(30s));
  }
  const auto synced = Clock::now();

  std::vector<std::map<std::string, TreeDigest>> digests;
  for (auto& c : clients) {
    auto status = c->status();
    CHECK(status.outbox == 0);
    CHECK(status.refused == 0);
    CHECK(c->conflicts().empty());
    digests.push_back(digest(c->db()));
  }

  // The server's own database, read once it stopped.
  REQUIRE(server.kill(SIGTERM) == 0);
  {
    hills::Database serverDb(dir.sub("server"), serverSideOptions());
    digests.push_back(digest(serverDb));
  }
  CHECK(digests[0].at("parts").records == 3 * kPerClient);
  CHECK(digests[0].at("boms").records == 0);
  CHECK(digests[0].at("stock").records == 0);
  for (std::size_t i = 1; i < digests.size(); ++i) {
    INFO("replica A: " << show(digests[0]));
    INFO((i < clients.size() ? "replica " + std::to_string(i) : std::string("server"))
         << ": " << show(digests[i]));
    CHECK(digests[i] == digests[0]);
  }

  auto ms = [](auto d) { return std::chrono::duration_cast<std::chrono::milliseconds>(d).count(); };
  WARN("creates " << ms(created - started) << " ms, sync " << ms(synced - created) << " ms, total "
                  << ms(Clock::now() - started) << " ms; kNoIds retries A/B/C " << retries[0] << "/"
                  << retries[1] << "/" << retries[2]);
  CHECK(Clock::now() - started < 100s);
}

TEST_CASE("a client restarted with a non-empty outbox loses nothing",
          "[integration][convergence][outbox]") {
  TempDir dir;
  auto config = hills::test::writeServerConfig(dir.sub("server.json"));
  const unsigned port = firstContact(dir.sub("server"), config, dir.sub("a"), "A");
  const std::string address = "127.0.0.1:" + std::to_string(port);

  // Offline: 50 parts wait in the outbox, and the client goes away.
  std::vector<Key<plm::Part>> keys;
  {
    hills::Client a(dir.sub("a"), clientOptions("A", address));
    keys = a.db().write([](hills::WriteTxn& txn) {
      std::vector<Key<plm::Part>> out;
      for (int i = 0; i < 50; ++i) out.push_back(txn.tree<plm::Part>().create(makePart(i)));
      return out;
    });
    CHECK(a.status().outbox == 50);
    CHECK_FALSE(a.status().connected);
  }

  // A new Client on the same replica finds them still queued.
  hills::Client a(dir.sub("a"), clientOptions("A", address));
  CHECK(a.status().outbox == 50);
  CHECK(partCount(a.db()) == 50);

  // B is there before the server, so its recorder misses nothing.
  hills::Client b(dir.sub("b"), clientOptions("B", address));
  Recorder bEvents(b.db());

  ServerProcess server(dir.sub("server"), config, port);
  REQUIRE(server.port() == port);
  REQUIRE(a.waitConnected(10s));
  REQUIRE(a.sync(10s));
  CHECK(a.status().outbox == 0);
  CHECK(a.status().refused == 0);
  CHECK(a.conflicts().empty());

  REQUIRE(b.waitConnected(10s));
  // B may have connected before A's push: it gets the parts live.
  REQUIRE(eventually([&] { return partCount(b.db()) == 50; }));
  REQUIRE(b.sync(10s));
  for (int i = 0; i < 50; ++i) {
    auto part = partIn(b.db(), keys[i]);
    REQUIRE(part);
    CHECK(part->name == makePart(i).name);
  }
  CHECK(bEvents.find(hills::EventKind::kCreated, "A").size() == 50);
  CHECK(b.status().outbox == 0);
}
