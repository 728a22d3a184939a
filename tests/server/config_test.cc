// hills-server's configuration file (server/src/config.cc): the limits it
// reads, their defaults, and what it refuses.
#include <catch2/catch.hpp>
#include <fstream>
#include <string>

#include "error_of.h"
#include "hills/server.h"
#include "temp_dir.h"

using hills::ErrorCode;
using namespace hills::test;

namespace {

std::string writeFile(const std::string& path, const std::string& text) {
  std::ofstream(path) << text;
  return path;
}

}  // namespace

TEST_CASE("the server's limits have defaults and can be set", "[server][config][limits]") {
  TempDir dir;
  auto defaults = hills::loadServerConfig(
      writeFile(dir.sub("a.json"), R"({"clients": [{"name": "A", "token": "t"}]})"));
  CHECK(defaults.maxConnectionsPerSource == 64);
  CHECK(defaults.maxHelloFailures == 5);
  CHECK(defaults.helloDelay.count() == 200);
  CHECK(defaults.helloDelayMax.count() == 10000);
  CHECK(defaults.maxBytesInFlight == 16u << 20);
  CHECK(defaults.acceptRetry.count() == 100);
  CHECK(defaults.logBurst == 5);
  CHECK(defaults.logWindow.count() == 10000);

  auto set = hills::loadServerConfig(writeFile(
      dir.sub("b.json"),
      R"({"clients": [], "maxConnectionsPerSource": 3, "maxHelloFailures": 2, "helloDelayMs": 7,
          "helloDelayMaxMs": 70, "maxBytesInFlight": 4096, "acceptRetryMs": 9, "logBurst": 1,
          "logWindowMs": 250})"));
  CHECK(set.maxConnectionsPerSource == 3);
  CHECK(set.maxHelloFailures == 2);
  CHECK(set.helloDelay.count() == 7);
  CHECK(set.helloDelayMax.count() == 70);
  CHECK(set.maxBytesInFlight == 4096);
  CHECK(set.acceptRetry.count() == 9);
  CHECK(set.logBurst == 1);
  CHECK(set.logWindow.count() == 250);
}

TEST_CASE("a configuration with a misspelt or impossible limit is refused, naming it",
          "[server][config][limits]") {
  TempDir dir;
  auto misspelt = errorOf([&] {
    hills::loadServerConfig(
        writeFile(dir.sub("a.json"), R"({"clients": [], "maxConnectionPerSource": 3})"));
  });
  CHECK(misspelt.code() == ErrorCode::kInvalidArgument);
  CHECK_THAT(misspelt.what(), Catch::Contains("maxConnectionPerSource"));

  auto zero = errorOf([&] {
    hills::loadServerConfig(writeFile(dir.sub("b.json"), R"({"clients": [], "logBurst": 0})"));
  });
  CHECK(zero.code() == ErrorCode::kInvalidArgument);
  CHECK_THAT(zero.what(), Catch::Contains("sets logBurst to 0"));

  auto below = errorOf([&] {
    hills::loadServerConfig(writeFile(
        dir.sub("c.json"), R"({"clients": [], "helloDelayMs": 500, "helloDelayMaxMs": 100})"));
  });
  CHECK(below.code() == ErrorCode::kInvalidArgument);
  CHECK_THAT(below.what(), Catch::Contains("helloDelayMaxMs (100) below helloDelayMs (500)"));
}

TEST_CASE("the HTTP endpoint's address is read, and there is none by default",
          "[server][config][http]") {
  TempDir dir;
  auto none = hills::loadServerConfig(writeFile(dir.sub("a.json"), R"({"clients": []})"));
  CHECK(none.httpListen.empty());
  auto set = hills::loadServerConfig(
      writeFile(dir.sub("b.json"), R"({"clients": [], "httpListen": "10.0.9.1:9420"})"));
  CHECK(set.httpListen == "10.0.9.1:9420");
}
