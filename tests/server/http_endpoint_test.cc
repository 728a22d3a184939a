// The sync server's HTTP endpoint (server/src/http_endpoint.cc), in process:
// what it answers, and what it refuses to hold.
#include <catch2/catch.hpp>

#include "http_get.h"
#include "server_thread.h"
#include "sync_fixtures.h"
#include "temp_dir.h"

using namespace hills::test;
using namespace std::chrono_literals;

namespace {

hills::ServerConfig oneWriter() {
  hills::ServerConfig config;
  config.plaintext = true;
  config.clients.push_back({"A", "A-token", true, true, false, {}});
  return config;
}

}  // namespace

TEST_CASE("the HTTP endpoint serves /metrics and /health and refuses the rest", "[server][http]") {
  TempDir dir;
  ServerThread server(dir.sub("server"), oneWriter());
  hills::Client a(dir.sub("a"), clientOptions("A", server.address()));
  REQUIRE(a.waitConnected(10s));
  REQUIRE(hasIds(a));
  createPart(a, 1);
  REQUIRE(a.sync(10s));

  auto metrics = httpGet(server.httpPort(), "/metrics");
  REQUIRE(metrics.status == 200);
  CHECK_THAT(metrics.headers, Catch::Contains("Content-Type: text/plain; version=0.0.4"));
  CHECK(sampleValue(metrics.body, "hills_sessions") == 1);
  CHECK(sampleValue(metrics.body, "hills_sessions_opened_total") == 1);
  CHECK(sampleValue(metrics.body, "hills_commits_total") >= 2);
  CHECK(sampleValue(metrics.body, "hills_log_sequence") >= 1);
  CHECK(sampleValue(metrics.body, "hills_sessions_refused_total{reason=\"credentials\"}") == 0);
  // A query string changes nothing.
  CHECK(httpGet(server.httpPort(), "/metrics?name=x").status == 200);

  auto health = httpGet(server.httpPort(), "/health");
  CHECK(health.status == 200);
  CHECK_THAT(health.body, Catch::StartsWith("ok: serving 1 sessions"));

  CHECK(httpGet(server.httpPort(), "/").status == 404);
  CHECK(httpGet(server.httpPort(), "/metrics/x").status == 404);
  auto post = httpRequest(server.httpPort(), "POST", "/metrics", "Content-Length: 3\r\n");
  CHECK(post.status == 405);
  CHECK_THAT(post.headers, Catch::Contains("Allow: GET"));
  CHECK(httpRequest(server.httpPort(), "DELETE", "/health").status == 405);

  // The scrapes were not sync connections.
  CHECK(server.metrics().connections == 1);
}

TEST_CASE("/health answers 503 while the server accepts no connections", "[server][http]") {
  TempDir dir;
  ServerThread server(dir.sub("server"), oneWriter(), ServerThread::Settings{false});
  auto health = httpGet(server.httpPort(), "/health");
  CHECK(health.status == 503);
  CHECK_THAT(health.body, Catch::Contains("not accepting connections"));
  CHECK(server.run([](hills::SyncServer& s) { return s.health().ok; }) == false);
  // Metrics are served all the same.
  CHECK(httpGet(server.httpPort(), "/metrics").status == 200);
}

TEST_CASE("the HTTP endpoint holds a bounded number of connections, each for a bounded time",
          "[server][http][limits]") {
  TempDir dir;
  ServerThread server(dir.sub("server"), oneWriter());
  std::vector<std::unique_ptr<RawSocket>> idle;
  for (int i = 0; i < 16; ++i) idle.push_back(std::make_unique<RawSocket>(server.httpPort()));
  // The 17th is closed at once, while the first 16 say nothing.
  RawSocket extra(server.httpPort());
  CHECK(extra.closedByPeer(2s));
  CHECK(httpGet(server.httpPort(), "/health").status == 0);
  // A connection that sends no request is closed after 5 s; then the
  // endpoint answers again.
  auto started = std::chrono::steady_clock::now();
  CHECK(idle.front()->closedByPeer(8s));
  CHECK(std::chrono::steady_clock::now() - started < 7s);
  REQUIRE(eventually([&] { return httpGet(server.httpPort(), "/health").status == 200; }, 4s));

  // Headers without end are refused, not collected.
  RawSocket big(server.httpPort());
  std::string request = "GET /metrics HTTP/1.1\r\nX-Filler: " + std::string(1 << 20, 'x');
  big.send(std::vector<unsigned char>(request.begin(), request.end()));
  CHECK(big.closedByPeer(8s));
}
