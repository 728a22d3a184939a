#include <catch2/catch.hpp>

#include "tools_fixtures.h"

using namespace hills::test;

TEST_CASE("schema prints a tree's stored schema as Cap'n Proto text", "[tools][schema]") {
  TempDir dir;
  makePlmDatabase(dir.sub("db"), 2);
  auto r = runHills({"schema", dir.sub("db"), "boms"});
  REQUIRE(r.status == 0);
  CHECK(r.out.find("struct Bom @0x") != std::string::npos);
  CHECK(r.out.find("$Hills.tree(\"boms\")") != std::string::npos);
  CHECK(r.out.find("assembly @0 :Hills.Ref $Hills.ref(\"parts\");") != std::string::npos);
  CHECK(r.out.find("lines @1 :List(Line);") != std::string::npos);
  CHECK(r.out.find("  struct Line {") != std::string::npos);
  CHECK(r.out.find("designators @2 :List(Text);") != std::string::npos);
  CHECK(r.out.find("struct Part") == std::string::npos);
}

TEST_CASE("schema prints enums, defaults and the unversioned mark", "[tools][schema]") {
  TempDir dir;
  makePlmDatabase(dir.sub("db"), 2);
  auto r = runHills({"schema", dir.sub("db")});
  REQUIRE(r.status == 0);
  CHECK(r.out.find("  enum Kind {") != std::string::npos);
  CHECK(r.out.find("manufactured @1;") != std::string::npos);
  CHECK(r.out.find("maxTemperature @12 :Int16 = 85;") != std::string::npos);
  CHECK(r.out.find("$Hills.tree(\"stock\") $Hills.unversioned") != std::string::npos);
  auto missing = runHills({"schema", dir.sub("db"), "nope"});
  CHECK(missing.status == 1);
  CHECK(missing.err.find("nope") != std::string::npos);
}
