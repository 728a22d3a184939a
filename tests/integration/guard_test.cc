// The limits of a real hills-server's connections (server/src/sync_server.cc,
// server/src/connection.h): what it closes, and what it refuses to serve.
#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdint>
#include <random>

#include "hills/client.h"
#include "plm_fixtures.h"
#include "raw_socket.h"
#include "server_process.h"
#include "sync_fixtures.h"
#include "temp_dir.h"

using hills::ErrorCode;
using hills::Key;
using namespace hills::test;
using namespace std::chrono_literals;

namespace {

std::vector<std::string> partNames(hills::Database& db) {
  return db.read([](const hills::ReadTxn& txn) {
    std::vector<std::string> out;
    txn.tree<plm::Part>().forEach([&](Key<plm::Part>, hills::RecordTraits<plm::Part>::Reader p) {
      out.emplace_back(p.getName().cStr());
    });
    return out;
  });
}

void putLittleEndian32(std::vector<unsigned char>& out, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<unsigned char>(v >> (8 * i)));
}

}  // namespace

TEST_CASE("garbage bytes and an oversized message are refused while another session goes on",
          "[integration][guard]") {
  TempDir dir;
  auto config = hills::test::writeServerConfig(dir.sub("server.json"));
  ServerProcess server(dir.sub("server"), config);

  hills::Client a(dir.sub("a"), clientOptions("A", server.address()));
  REQUIRE(a.waitConnected(10s));
  REQUIRE(hasIds(a));
  auto before = createPart(a, 1);
  REQUIRE(a.sync(10s));

  // A connection that says nothing is left alone until its hello is due
  // (and shows the wait below can time out).
  RawSocket silent(server.port());
  CHECK_FALSE(silent.closedByPeer(300ms));

  {
    // (a) 4 KiB of random bytes: no Cap'n Proto framing the server can take.
    std::mt19937 random(20240611);
    std::vector<unsigned char> garbage(4096);
    for (auto& byte : garbage) byte = static_cast<unsigned char>(random());
    RawSocket socket(server.port());
    socket.send(garbage);  // the server may close before it took everything
    CHECK(socket.closedByPeer(5s));
  }
  {
    // (b) A valid header announcing one segment of 10,000,000 words (80 MB),
    // far above what may come before a hello: refused from the header alone.
    std::vector<unsigned char> header;
    putLittleEndian32(header, 0);  // segment count - 1
    putLittleEndian32(header, 10'000'000);
    for (int i = 0; i < 1024; ++i) header.push_back(static_cast<unsigned char>(i));
    RawSocket socket(server.port());
    socket.send(header);
    CHECK(socket.closedByPeer(5s));
  }

  // The server logged both, and A's session never noticed.
  REQUIRE(eventually(
      [&] { return occurrences(server.log(), "closed the connection from 127.0.0.1") >= 2; }));
  // Why, in Cap'n Proto's words: the garbage's first word announces billions
  // of segments, the header more words than a hello may have.
  CHECK_THAT(server.log(),
             Catch::Contains("too many segments") && Catch::Contains("Message is too large"));
  auto status = a.status();
  CHECK(status.connected);
  CHECK(status.reconnects == 0);

  // A goes on: creates, checks out, checks in.
  auto after = createPart(a, 2);
  REQUIRE(a.sync(10s));
  auto borrow = a.checkOut(after);
  CHECK(borrow.holder == "A");
  a.db().write([&](hills::WriteTxn& txn) {
    auto p = *txn.tree<plm::Part>().get(after);
    p.name = "after the garbage";
    txn.tree<plm::Part>().update(after, p);
  });
  a.checkIn(after);
  REQUIRE(a.sync(10s));
  CHECK(a.status().refused == 0);
  CHECK(a.status().outbox == 0);

  // B, connecting afterwards, gets all of A's records.
  hills::Client b(dir.sub("b"), clientOptions("B", server.address()));
  REQUIRE(b.waitConnected(10s));
  REQUIRE(b.sync(10s));
  CHECK(partCount(b.db()) == 2);
  REQUIRE(partIn(b.db(), before));
  CHECK(partIn(b.db(), before)->name == makePart(1).name);
  REQUIRE(partIn(b.db(), after));
  CHECK(partIn(b.db(), after)->name == "after the garbage");
  CHECK(b.borrows().empty());

  // The silent connection is closed once its hello is overdue (the test
  // configuration gives 1000 ms).
  CHECK(silent.closedByPeer(5s));
  REQUIRE(eventually(
      [&] { return server.log().find("no valid hello within 1000 ms") != std::string::npos; }));
  // Three refused connections only: the clients' sessions were not among them.
  CHECK(occurrences(server.log(), "closed the connection from 127.0.0.1") == 3);
}

TEST_CASE("a client pinned to one server refuses another", "[integration][guard][pin]") {
  TempDir dir;
  auto config = hills::test::writeServerConfig(dir.sub("server.json"));

  std::string xUuid;
  {
    ServerProcess x(dir.sub("x"), config);
    hills::Client a(dir.sub("a"), clientOptions("A", x.address()));
    REQUIRE(a.waitConnected(10s));
    xUuid = a.status().serverUuid;
    REQUIRE_FALSE(xUuid.empty());
    REQUIRE(hasIds(a));
    createPart(a, 1);
    createPart(a, 2);
    REQUIRE(a.sync(10s));
    REQUIRE(x.kill(SIGTERM) == 0);
  }

  // Another server, with records of its own.
  ServerProcess y(dir.sub("y"), config);
  hills::Client b(dir.sub("b"), clientOptions("B", y.address()));
  REQUIRE(b.waitConnected(10s));
  const std::string yUuid = b.status().serverUuid;
  REQUIRE_FALSE(yUuid.empty());
  REQUIRE(yUuid != xUuid);
  REQUIRE(hasIds(b));
  for (int i = 100; i < 103; ++i) createPart(b, i);
  REQUIRE(b.sync(10s));

  // A's replica, pointed at Y, never gets a session there.
  hills::Client a(dir.sub("a"), clientOptions("A", y.address()));
  Recorder aEvents(a.db());
  CHECK(errorOf([&] { a.waitConnected(10s); }).code() == ErrorCode::kWrongServer);
  REQUIRE(eventually([&] { return !a.status().lastError.empty(); }));
  auto status = a.status();
  CHECK_FALSE(status.connected);
  CHECK(status.serverUuid == xUuid);
  CHECK(status.refusedBy == ErrorCode::kWrongServer);
  CHECK_THAT(status.lastError, Catch::Contains(xUuid) && Catch::Contains(yUuid));
  CHECK(errorOf([&] { a.checkOut(Key<plm::Part>{1, 0}); }).code() == ErrorCode::kOffline);

  // Y's records never arrive: A holds its own two and nothing else.
  CHECK(partCount(a.db()) == 2);
  auto names = partNames(a.db());
  CHECK(std::find(names.begin(), names.end(), makePart(100).name) == names.end());
  CHECK(aEvents.find(hills::EventKind::kCreated).empty());
  // Its cursor still stands where server X left it.
  CHECK(a.status().lastApplied == 2);

  // Y refused it by name and went on serving B.
  REQUIRE(eventually([&] {
    return y.log().find("refused client 'A': it belongs to server " + xUuid) != std::string::npos;
  }));
  CHECK_THAT(y.log(), !Catch::Contains("client 'A' connected"));
  CHECK(b.status().connected);
}
