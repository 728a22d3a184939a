#include <catch2/catch.hpp>

#include <algorithm>

#include "tools_fixtures.h"

using namespace hills::test;

TEST_CASE("get prints a record with its key, meta and data", "[tools][get]") {
  TempDir dir;
  makePlmDatabase(dir.sub("db"), 5);
  auto r = runHills({"get", dir.sub("db"), "parts", "2/0"});
  REQUIRE(r.status == 0);
  CHECK(r.out.find("{\"id\":\"2\",\"revision\":0,\"state\":\"draft\"") == 0);
  CHECK(r.out.find("\"author\":\"test\"") != std::string::npos);
  CHECK(r.out.find("\"number\":\"P-100001\"") != std::string::npos);
  // Without a revision: the newest (part 1 has two).
  auto latest = runHills({"get", dir.sub("db"), "parts", "1"});
  REQUIRE(latest.status == 0);
  CHECK(latest.out.find("\"revision\":1") != std::string::npos);
}

TEST_CASE("get names the tree and key it did not find", "[tools][get]") {
  TempDir dir;
  makePlmDatabase(dir.sub("db"), 2);
  auto r = runHills({"get", dir.sub("db"), "parts", "77/0"});
  CHECK(r.status == 1);
  CHECK(r.err.find("parts") != std::string::npos);
  CHECK(r.err.find("77") != std::string::npos);
  auto bad = runHills({"get", dir.sub("db"), "parts", "x/1"});
  CHECK(bad.status != 0);
}

TEST_CASE("dump writes one JSON line per record in key order", "[tools][dump]") {
  TempDir dir;
  makePlmDatabase(dir.sub("db"), 20);
  auto r = runHills({"dump", dir.sub("db"), "parts"});
  REQUIRE(r.status == 0);
  CHECK(std::count(r.out.begin(), r.out.end(), '\n') == 21);
  CHECK(r.out.find("{\"id\":\"1\",\"revision\":0,\"state\":\"released\"") == 0);
  CHECK(r.out.find("{\"id\":\"1\",\"revision\":1,\"state\":\"draft\"") != std::string::npos);
  CHECK(r.err.empty());  // no progress when stderr is not a terminal
  auto latest = runHills({"dump", "--latest", dir.sub("db"), "parts"});
  REQUIRE(latest.status == 0);
  CHECK(std::count(latest.out.begin(), latest.out.end(), '\n') == 20);
  CHECK(latest.out.find("\"id\":\"1\",\"revision\":0") == std::string::npos);
}

TEST_CASE("log prints the change log after a sequence number", "[tools][log]") {
  TempDir dir;
  makePlmDatabase(dir.sub("db"), 4);
  auto all = runHills({"log", dir.sub("db")});
  REQUIRE(all.status == 0);
  CHECK(all.out.find("1 ") == 0);
  CHECK(all.out.find(" created parts 1/0 origin=(local)") != std::string::npos);
  CHECK(all.out.find(" released parts 1/0") != std::string::npos);
  auto lines = std::count(all.out.begin(), all.out.end(), '\n');
  auto after = runHills({"log", dir.sub("db"), "--after", "3"});
  REQUIRE(after.status == 0);
  CHECK(std::count(after.out.begin(), after.out.end(), '\n') == lines - 3);
  CHECK(after.out.find("4 ") == 0);
}
