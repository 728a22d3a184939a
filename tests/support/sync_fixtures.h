// Clients of a real hills-server for the integration tests: their options,
// what their databases yield and hold.
#pragma once

#include <chrono>
#include <csignal>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "error_of.h"
#include "hills/client.h"
#include "plm_fixtures.h"
#include "server_process.h"

namespace hills::test {

// The options of the test client `name` (token "<name>-token", as
// writeServerConfig gives it) of the server at `server`: plain TCP (TLS
// tests set `plaintext` back to false), short back-offs so that
// reconnections are quick.
inline hills::ClientOptions clientOptions(const std::string& name, const std::string& server) {
  using namespace std::chrono_literals;
  hills::ClientOptions o;
  o.name = name;
  o.token = name + "-token";
  o.server = server;
  o.plaintext = true;
  o.database = plmOptions();
  o.minBackoff = 20ms;
  o.maxBackoff = 200ms;
  o.callTimeout = 10s;
  return o;
}

// Records every event a database yields.
struct Recorder {
  explicit Recorder(hills::Database& db)
      : sub(db.subscribe({}, [this](const hills::Event& e) {
          std::lock_guard lock(mutex);
          events.push_back(e);
        })) {}
  std::vector<hills::Event> find(hills::EventKind kind, const std::string& origin = {}) {
    std::lock_guard lock(mutex);
    std::vector<hills::Event> out;
    for (auto& e : events) {
      if (e.kind == kind && (origin.empty() || e.origin == origin)) out.push_back(e);
    }
    return out;
  }
  std::mutex mutex;
  std::vector<hills::Event> events;
  hills::Subscription sub;
};

// The part `key` in `db`; none when there is no such record.
inline std::optional<plm::Part> partIn(hills::Database& db, Key<plm::Part> key) {
  return db.read([&](const hills::ReadTxn& txn) { return txn.tree<plm::Part>().get(key); });
}

// How many records the parts tree of `db` holds.
inline std::uint64_t partCount(const hills::Database& db) {
  return db.read([](const hills::ReadTxn& txn) { return txn.tree<plm::Part>().size(); });
}

// Waits until the client holds ids of the parts tree (claimed at its first
// start, granted once connected).
inline bool hasIds(hills::Client& client) {
  return eventually([&] { return client.status().idsLeft["parts"] > 0; });
}

// Creates makePart(n) in the client's database and returns its key.
inline Key<plm::Part> createPart(hills::Client& client, int n) {
  return client.db().write(
      [&](hills::WriteTxn& txn) { return txn.tree<plm::Part>().create(makePart(n)); });
}

// Starts a server on `db` once, to learn a free port and give the database
// its identity, and stops it: clients made next find nobody there.
inline unsigned serverPort(const std::string& db, const std::string& config) {
  ServerProcess server(db, config);
  unsigned port = server.port();
  REQUIRE(server.kill(SIGTERM) == 0);
  return port;
}

// The first contact of the client `name`, replica at `replica`, with a server
// on `serverDb`: the client is pinned and gets its id ranges, then the server
// stops. Returns the port the server listened on, to start it there again.
inline unsigned firstContact(const std::string& serverDb, const std::string& config,
                             const std::string& replica, const std::string& name) {
  ServerProcess server(serverDb, config);
  hills::Client client(replica, clientOptions(name, server.address()));
  REQUIRE(client.waitConnected(std::chrono::seconds(10)));
  REQUIRE(hasIds(client));
  REQUIRE(server.kill(SIGTERM) == 0);
  return server.port();
}

}  // namespace hills::test
