// A configuration applied to a running server (server/src/reload.cc): who
// keeps their session, who loses it, and what waits for a restart.
#include <catch2/catch.hpp>

#include "raw_socket.h"
#include "server_thread.h"
#include "sync_fixtures.h"
#include "temp_dir.h"

using namespace hills::test;
using namespace std::chrono_literals;
using hills::ErrorCode;

namespace {

void reload(ServerThread& server, hills::ServerConfig config) {
  server.run([&](hills::SyncServer& s) { s.reload(config); });
}

}  // namespace

TEST_CASE("a reload closes the sessions of removed clients and changed tokens, and no other",
          "[server][reload]") {
  TempDir dir;
  ServerThread server(dir.sub("server"), plainConfig({"A", "B", "C"}));
  hills::Client a(dir.sub("a"), clientOptions("A", server.address()));
  hills::Client b(dir.sub("b"), clientOptions("B", server.address()));
  hills::Client c(dir.sub("c"), clientOptions("C", server.address()));
  for (auto* client : {&a, &b, &c}) REQUIRE(client->waitConnected(10s));

  auto next = plainConfig({"B", "C", "D"});
  next.clients[0].token = "B-new-token";
  reload(server, next);

  // A is gone and B's token changed: their sessions end, and their
  // reconnections are refused.
  REQUIRE(eventually([&] { return a.status().refusedBy == ErrorCode::kDenied; }));
  REQUIRE(eventually([&] { return b.status().refusedBy == ErrorCode::kDenied; }));
  auto log = server.log();
  CHECK_THAT(log,
             Catch::Contains("client 'A' is no longer in the configuration: closing its session"));
  CHECK_THAT(log, Catch::Contains("the token of client 'B' changed: closing its session"));
  CHECK_THAT(log, Catch::Contains(
                      "configuration reloaded: 3 clients; clients added: D; clients removed: A"));

  // C never noticed.
  CHECK(c.status().connected);
  CHECK(c.status().reconnects == 0);
  REQUIRE(hasIds(c));
  createPart(c, 1);
  CHECK(c.sync(10s));

  // D, new, connects; B with its new token does.
  hills::Client d(dir.sub("d"), clientOptions("D", server.address()));
  CHECK(d.waitConnected(10s));
  b.connectTo(server.address(), "B-new-token");
  CHECK(b.waitConnected(10s));

  auto m = server.metrics();
  CHECK(m.sessionsClosedByReload == 2);
  CHECK(m.reloads == 1);
  CHECK(m.sessions == 3);
}

TEST_CASE("a reload changes a session's permissions from its next call", "[server][reload]") {
  TempDir dir;
  ServerThread server(dir.sub("server"), plainConfig({"A", "B"}));
  hills::Client a(dir.sub("a"), clientOptions("A", server.address()));
  REQUIRE(a.waitConnected(10s));
  REQUIRE(hasIds(a));
  auto key = createPart(a, 1);
  REQUIRE(a.sync(10s));

  auto readOnly = plainConfig({"A", "B"});
  readOnly.clients[0].write = false;
  reload(server, readOnly);
  CHECK(errorOf([&] { a.checkOut(key); }).code() == ErrorCode::kDenied);
  CHECK_THAT(server.log(), Catch::Contains("client 'A' (127.0.0.1:"));
  CHECK_THAT(server.log(), Catch::Contains("may now read (was read write), from its next call"));

  reload(server, plainConfig({"A", "B"}));
  a.checkOut(key);
  CHECK(a.status().connected);
  CHECK(a.status().reconnects == 0);
  CHECK(server.metrics().sessionsClosedByReload == 0);

  // Without read, the session (and its subscription) ends.
  auto none = plainConfig({"A", "B"});
  none.clients[0].read = false;
  reload(server, none);
  REQUIRE(eventually([&] {
    auto status = a.status();
    return !status.connected || status.reconnects > 0;
  }));
  CHECK(server.metrics().sessionsClosedByReload == 1);
  CHECK_THAT(server.log(), Catch::Contains("client 'A' may no longer read: closing its session"));
}

TEST_CASE("a reload applies new limits and leaves httpListen for a restart", "[server][reload]") {
  TempDir dir;
  auto config = plainConfig({"A"});
  config.httpListen = "127.0.0.1:9999";
  ServerThread server(dir.sub("server"), config);

  auto next = plainConfig({"A"});
  next.httpListen = "127.0.0.1:9998";
  next.idBlock = 10;
  next.logBurst = 2;
  reload(server, next);
  auto log = server.log();
  CHECK_THAT(log, Catch::Contains("httpListen ('127.0.0.1:9999', the file says '127.0.0.1:9998') "
                                  "needs a restart"));
  CHECK_THAT(log, Catch::Contains("idBlock 4096 -> 10; "));
  CHECK_THAT(log, Catch::Contains("logBurst 5 -> 2"));

  // A limit counts from the next time it is used: one connection per
  // source now, and A's is open already.
  hills::Client a(dir.sub("a"), clientOptions("A", server.address()));
  REQUIRE(a.waitConnected(10s));
  auto tight = plainConfig({"A"});
  tight.maxConnectionsPerSource = 1;
  reload(server, tight);
  RawSocket second(server.port());
  CHECK(second.closedByPeer(5s));
  CHECK(server.metrics().sessionsRefused["max_connections_per_source"] == 1);
  CHECK(a.status().connected);
}

TEST_CASE("a reload leaves a changed discovery for a restart", "[server][reload][discovery]") {
  TempDir dir;
  ServerThread server(dir.sub("server"), plainConfig({"A"}));
  auto next = plainConfig({"A"});
  next.discovery.name = "plm";
  reload(server, next);
  CHECK_THAT(server.log(), Catch::Contains("discovery (off, the file says 'plm' on "
                                           "239.255.74.20:7420) needs a restart"));
}

TEST_CASE("a reload that takes a tree from a client closes its sessions, and one that adds trees does not",
          "[server][reload][partial]") {
  TempDir dir;
  auto config = plainConfig({"A", "B"});
  config.clients[1].trees = {"parts", "stock"};
  ServerThread server(dir.sub("server"), config);
  auto options = clientOptions("B", server.address());
  options.replicate = {"parts"};
  hills::Client b(dir.sub("b"), options);
  REQUIRE(b.waitConnected(10s));

  // More trees: the session goes on.
  auto more = plainConfig({"A", "B"});
  more.clients[1].trees = {"parts", "stock", "boms"};
  reload(server, more);
  CHECK(b.status().connected);
  CHECK(b.status().reconnects == 0);

  // Without parts, its session ends and its hello is refused.
  auto without = plainConfig({"A", "B"});
  without.clients[1].trees = {"stock", "boms"};
  reload(server, without);
  REQUIRE(eventually([&] { return b.status().refusedBy == ErrorCode::kDenied; }));
  CHECK_THAT(server.log(),
             Catch::Contains("client 'B' may no longer read tree 'parts': closing its session"));
  CHECK_THAT(b.status().lastError, Catch::Contains("tree 'parts'"));
}
