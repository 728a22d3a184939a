// Operating a real hills-server (server/src/main.cc, docs/OPERATIONS.md):
// its HTTP endpoint scraped over 127.0.0.1, and its configuration read
// again on SIGHUP.
#include <catch2/catch.hpp>
#include <fstream>

#include "hills/client.h"
#include "http_get.h"
#include "server_process.h"
#include "sync_fixtures.h"
#include "temp_dir.h"

using namespace hills::test;
using namespace std::chrono_literals;
using hills::ErrorCode;

namespace {

// Writes a configuration with `clients` (JSON objects) and `more` members.
std::string writeConfig(const std::string& path, const std::string& clients,
                        const std::string& more = {}) {
  std::ofstream(path) << R"({"clients": [)" << clients << R"(], "plaintext": true)"
                      << (more.empty() ? "" : ", " + more) << "}";
  return path;
}

std::string writer(const std::string& name) {
  return R"({"name": ")" + name + R"(", "token": ")" + name + R"(-token", "write": true})";
}

// The port of the server's HTTP endpoint, from its log; 0 when not logged.
unsigned httpPort(const ServerProcess& server) {
  const std::string marker = "HTTP endpoint (/metrics, /health) listening on 127.0.0.1:";
  std::string log = server.log();
  auto at = log.find(marker);
  return at == std::string::npos
             ? 0
             : static_cast<unsigned>(std::stoul(log.substr(at + marker.size())));
}

}  // namespace

TEST_CASE("hills-server serves /metrics and /health on its httpListen address",
          "[integration][operations][http]") {
  TempDir dir;
  auto config = writeConfig(dir.sub("server.json"), writer("A"), R"("httpListen": "127.0.0.1:0")");
  ServerProcess server(dir.sub("server"), config);
  unsigned port = httpPort(server);
  REQUIRE(port != 0);
  REQUIRE(port != server.port());

  hills::Client a(dir.sub("a"), clientOptions("A", server.address()));
  REQUIRE(a.waitConnected(10s));
  REQUIRE(hasIds(a));
  auto key = createPart(a, 1);
  createPart(a, 2);
  REQUIRE(a.sync(10s));
  a.checkOut(key);

  auto metrics = httpGet(port, "/metrics");
  REQUIRE(metrics.status == 200);
  INFO(metrics.body);
  CHECK(sampleValue(metrics.body, "hills_sessions") == 1);
  CHECK(sampleValue(metrics.body, "hills_connections") == 1);
  CHECK(sampleValue(metrics.body, "hills_sessions_opened_total") == 1);
  CHECK(sampleValue(metrics.body, "hills_commits_total") >= 3);
  CHECK(sampleValue(metrics.body, "hills_commit_requests_count") ==
        sampleValue(metrics.body, "hills_commits_total"));
  CHECK(sampleValue(metrics.body, "hills_log_sequence") >= 3);
  CHECK(sampleValue(metrics.body, "hills_log_entries") ==
        sampleValue(metrics.body, "hills_log_sequence"));
  CHECK(sampleValue(metrics.body, "hills_borrows") == 1);
  CHECK(sampleValue(metrics.body, "hills_received_bytes_total") > 0);
  CHECK(sampleValue(metrics.body, "hills_sent_bytes_total") > 0);
  CHECK(sampleValue(metrics.body, "hills_subscribers") == 1);

  auto health = httpGet(port, "/health");
  CHECK(health.status == 200);
  CHECK_THAT(health.body, Catch::StartsWith("ok: "));
  CHECK(httpGet(port, "/favicon.ico").status == 404);
  CHECK(httpRequest(port, "PUT", "/metrics", "Content-Length: 0\r\n").status == 405);

  // A client refused shows in the next scrape.
  auto options = clientOptions("A", server.address());
  options.token = "wrong";
  hills::Client bad(dir.sub("bad"), options);
  CHECK(errorOf([&] { bad.waitConnected(10s); }).code() == ErrorCode::kDenied);
  CHECK(sampleValue(httpGet(port, "/metrics").body,
                    "hills_sessions_refused_total{reason=\"credentials\"}") == 1);
}

TEST_CASE("a hills-server without httpListen has no HTTP endpoint",
          "[integration][operations][http]") {
  TempDir dir;
  ServerProcess server(dir.sub("server"), writeConfig(dir.sub("server.json"), writer("A")));
  CHECK(httpPort(server) == 0);
  CHECK_THAT(server.log(), !Catch::Contains("HTTP"));
}

TEST_CASE("SIGHUP reloads the configuration of a running hills-server",
          "[integration][operations][reload]") {
  TempDir dir;
  auto config = writeConfig(dir.sub("server.json"), writer("A") + ", " + writer("B"));
  ServerProcess server(dir.sub("server"), config);
  hills::Client a(dir.sub("a"), clientOptions("A", server.address()));
  hills::Client b(dir.sub("b"), clientOptions("B", server.address()));
  REQUIRE(a.waitConnected(10s));
  REQUIRE(b.waitConnected(10s));
  REQUIRE(hasIds(b));
  auto key = createPart(b, 1);
  REQUIRE(b.sync(10s));

  // A removed, B may only read now, D added.
  writeConfig(config, R"({"name": "B", "token": "B-token"}, )" + writer("D"));
  ::kill(server.pid(), SIGHUP);
  REQUIRE(eventually(
      [&] { return server.log().find("configuration reloaded: 2 clients") != std::string::npos; }));
  auto log = server.log();
  CHECK_THAT(log, Catch::Contains("SIGHUP: reading the configuration"));
  CHECK_THAT(log,
             Catch::Contains("client 'A' is no longer in the configuration: closing its session"));
  CHECK_THAT(log, Catch::Contains("may now read (was read write)"));
  REQUIRE(eventually([&] { return a.status().refusedBy == ErrorCode::kDenied; }));

  // B's session goes on, with the new permissions from its next call.
  CHECK(b.status().connected);
  CHECK(b.status().reconnects == 0);
  CHECK(errorOf([&] { b.checkOut(key); }).code() == ErrorCode::kDenied);
  CHECK(b.status().reconnects == 0);
  CHECK(b.sync(10s));

  hills::Client d(dir.sub("d"), clientOptions("D", server.address()));
  REQUIRE(d.waitConnected(10s));
  REQUIRE(eventually([&] { return partCount(d.db()) == 1; }));

  // A configuration that does not read leaves the one in force.
  std::ofstream(config) << R"({"clients": [)" << writer("A") << R"(], "plaintext": true, "idBlok": 1})";
  ::kill(server.pid(), SIGHUP);
  REQUIRE(eventually([&] {
    return server.log().find("the configuration was not reloaded; the one in force stays") !=
           std::string::npos;
  }));
  CHECK_THAT(server.log(), Catch::Contains("idBlok"));
  CHECK(server.alive());
  CHECK(d.status().connected);
  hills::Client d2(dir.sub("d2"), clientOptions("D", server.address()));
  CHECK(d2.waitConnected(10s));
  a.connectTo(server.address(), "A-token");
  CHECK(errorOf([&] { a.waitConnected(10s); }).code() == ErrorCode::kDenied);

  CHECK(server.kill(SIGTERM) == 0);
}
