// Replicas that create records before they ever reached their server: the
// ids they claim offline, confirmed or refused at first contact, against
// real hills-server processes on 127.0.0.1.
#include <algorithm>
#include <catch2/catch.hpp>
#include <fstream>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "hills/client.h"
#include "plm_fixtures.h"
#include "server_process.h"
#include "sync_fixtures.h"
#include "temp_dir.h"

using hills::kClaimableIds;
using hills::Key;
using namespace hills::test;
using namespace std::chrono_literals;

namespace {

// A configuration with the writing clients c0 ... c<count-1> and a reader
// "observer".
std::string writeClientsConfig(const std::string& path, int count) {
  std::ofstream out(path);
  out << R"({"clients": [)";
  for (int i = 0; i < count; ++i) {
    out << R"({"name": "c)" << i << R"(", "token": "c)" << i << R"(-token", "write": true}, )";
  }
  out << R"({"name": "observer", "token": "observer-token"}], "idBlock": 4096, "plaintext": true})";
  return path;
}

plm::Part namedPart(const std::string& name) {
  plm::Part p = makePart(1);
  p.name = name;
  return p;
}

// What a client makes offline: `parts` parts named "<client> part <n>", a
// bom over them whose notes name the client, and a stock item of the first.
struct Made {
  std::vector<Key<plm::Part>> parts;
  Key<plm::Bom> bom;
  Key<plm::StockItem> stock;
};

Made makeRecords(hills::Client& client, const std::string& name, int parts) {
  return client.db().write([&](hills::WriteTxn& txn) {
    Made m;
    for (int i = 0; i < parts; ++i) {
      m.parts.push_back(
          txn.tree<plm::Part>().create(namedPart(name + " part " + std::to_string(i))));
    }
    plm::Bom bom{};
    bom.assembly = m.parts[0];
    for (std::size_t i = 1; i < m.parts.size(); ++i) {
      bom.lines.push_back(plm::Bom::Line{m.parts[i], 1.0 * i, {}});
    }
    bom.interchangeable = {{m.parts.back(), m.parts[0]}};
    bom.notes = name;
    m.bom = txn.tree<plm::Bom>().create(bom);
    plm::StockItem s{};
    s.part = m.parts[0];
    s.alternates = {m.parts.back()};
    s.location = name;
    m.stock = txn.tree<plm::StockItem>().create(s);
    return m;
  });
}

// The name of the creator of the part `key` in `db` ("c3 part 7" -> "c3");
// empty when the part is not there.
std::string creatorOf(const hills::ReadTxn& txn, Key<plm::Part> key) {
  auto part = txn.tree<plm::Part>().get(key);
  if (!part) return {};
  return part->name.substr(0, part->name.find(' '));
}

}  // namespace

TEST_CASE("a replica creates records offline from its first start and they reach the server",
          "[integration][claims]") {
  TempDir dir;
  auto config = writeServerConfig(dir.sub("server.json"));
  const unsigned port = serverPort(dir.sub("server"), config);
  const std::string address = "127.0.0.1:" + std::to_string(port);

  Made made;
  {
    hills::Client a(dir.sub("a"), clientOptions("A", address));
    made = makeRecords(a, "A", 5);
    CHECK(made.parts[0].id >= kClaimableIds);
    CHECK(a.status().outbox == 7);
    CHECK_FALSE(a.status().connected);
  }
  // Restarted before it ever reached the server: the claim is the same,
  // the ids go on where they were.
  Key<plm::Part> sixth;
  {
    hills::Client a(dir.sub("a"), clientOptions("A", address));
    sixth = createPart(a, 6);
    CHECK(sixth.id == made.parts.back().id + 1);
  }

  ServerProcess server(dir.sub("server"), config, port);
  {
    hills::Client a(dir.sub("a"), clientOptions("A", address));
    REQUIRE(a.waitConnected(10s));
    REQUIRE(a.sync(10s));
    CHECK(a.status().outbox == 0);
    CHECK(a.status().renumbered == 0);
    CHECK(a.status().refused == 0);
  }
  CHECK_THAT(server.log(), Catch::Contains("confirmed the claim"));

  hills::Client b(dir.sub("b"), clientOptions("B", address));
  REQUIRE(b.waitConnected(10s));
  REQUIRE(b.sync(10s));
  b.db().read([&](const hills::ReadTxn& txn) {
    for (std::size_t i = 0; i < made.parts.size(); ++i) {
      auto part = txn.tree<plm::Part>().get(made.parts[i]);
      REQUIRE(part);
      CHECK(part->name == "A part " + std::to_string(i));
    }
    CHECK(txn.tree<plm::Part>().get(sixth));
    auto bom = txn.tree<plm::Bom>().get(made.bom);
    REQUIRE(bom);
    CHECK(bom->assembly == made.parts[0]);
    CHECK(bom->lines.back().part == made.parts.back());
    auto stock = txn.tree<plm::StockItem>().get(made.stock);
    REQUIRE(stock);
    CHECK(stock->alternates == std::vector{made.parts.back()});
  });

  // The confirmed claim survives a restart: A goes on creating from it, and
  // the server takes those records as A's.
  hills::Client a(dir.sub("a"), clientOptions("A", address));
  auto later = createPart(a, 7);
  CHECK(later.id == sixth.id + 1);
  REQUIRE(a.waitConnected(10s));
  REQUIRE(a.sync(10s));
  CHECK(a.status().refused == 0);
  REQUIRE(b.sync(10s));
  CHECK(partIn(b.db(), later));
}

TEST_CASE("many fresh replicas at once never use an id twice", "[integration][claims]") {
  constexpr int kClients = 8;
  constexpr int kParts = 20;
  constexpr std::uint64_t kRecords = kParts + 2;  // and a bom and a stock item
  TempDir dir;
  auto config = writeClientsConfig(dir.sub("server.json"), kClients);
  const unsigned port = serverPort(dir.sub("server"), config);
  const std::string address = "127.0.0.1:" + std::to_string(port);

  // Made while the server is down; c0 and c1 claim the very same blocks,
  // so one of them is refused and must move its records.
  std::vector<std::unique_ptr<hills::Client>> clients;
  std::vector<Made> made;
  for (int i = 0; i < kClients; ++i) {
    std::string name = "c" + std::to_string(i);
    auto options = clientOptions(name, address);
    if (i < 2) options.claimStart = kClaimableIds + 123'456;
    clients.push_back(std::make_unique<hills::Client>(dir.sub(name), options));
    made.push_back(makeRecords(*clients.back(), name, kParts));
  }
  CHECK(made[0].parts[0] == made[1].parts[0]);

  ServerProcess server(dir.sub("server"), config, port);
  for (auto& c : clients) {
    REQUIRE(c->waitConnected(20s));
    REQUIRE(c->sync(20s));
  }
  std::uint64_t renumbered = 0;
  for (auto& c : clients) {
    auto status = c->status();
    INFO("last error: " << status.lastError);
    CHECK(status.outbox == 0);
    CHECK(status.refused == 0);
    CHECK(c->conflicts().empty());
    renumbered += status.renumbered;
  }
  // All of the loser's records moved, nobody else's. Each tree's claim is
  // settled on its own, so c0 may lose the parts' block and c1 the boms':
  // of each tree, one of the two moved its records.
  CHECK(renumbered == kRecords);
  for (int i = 2; i < kClients; ++i) CHECK(clients[i]->status().renumbered == 0);
  // What each of the two moved is whole trees: the parts (20), the bom
  // (1), the stock item (1), in any split.
  const std::set<std::uint64_t> wholeTrees{0, 1, 2, kParts, kParts + 1, kParts + 2};
  CHECK(wholeTrees.count(clients[0]->status().renumbered) == 1);
  CHECK(wholeTrees.count(clients[1]->status().renumbered) == 1);

  // A third client sees every record once, and every reference names a
  // part of the record's own creator: the loser's moved with its records.
  hills::Client observer(dir.sub("observer"), clientOptions("observer", address));
  REQUIRE(observer.waitConnected(10s));
  REQUIRE(observer.sync(20s));
  observer.db().read([&](const hills::ReadTxn& txn) {
    CHECK(txn.tree<plm::Part>().size() == kClients * kParts);
    std::map<std::string, int> parts, boms, stock;
    txn.tree<plm::Part>().forEach([&](Key<plm::Part> key, plm::Part::Reader part) {
      std::string name = part.getName();
      ++parts[name.substr(0, name.find(' '))];
      return true;
    });
    txn.tree<plm::Bom>().forEach([&](Key<plm::Bom> key, plm::Bom::Reader) {
      auto bom = txn.tree<plm::Bom>().get(key);
      std::string owner = bom->notes;
      ++boms[owner];
      CHECK(creatorOf(txn, bom->assembly) == owner);
      for (auto& line : bom->lines) CHECK(creatorOf(txn, line.part) == owner);
      for (auto& group : bom->interchangeable) {
        for (auto& part : group) CHECK(creatorOf(txn, part) == owner);
      }
      return true;
    });
    txn.tree<plm::StockItem>().forEach([&](Key<plm::StockItem> key, plm::StockItem::Reader) {
      auto item = txn.tree<plm::StockItem>().get(key);
      ++stock[item->location];
      CHECK(creatorOf(txn, item->part) == item->location);
      for (auto& part : item->alternates) CHECK(creatorOf(txn, part) == item->location);
      return true;
    });
    for (int i = 0; i < kClients; ++i) {
      std::string name = "c" + std::to_string(i);
      INFO(name);
      CHECK(parts[name] == kParts);
      CHECK(boms[name] == 1);
      CHECK(stock[name] == 1);
    }
  });
  // And every replica holds the same.
  for (auto& c : clients) {
    REQUIRE(c->sync(20s));
    CHECK(partCount(c->db()) == kClients * kParts);
  }
}
