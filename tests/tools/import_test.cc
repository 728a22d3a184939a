#include <catch2/catch.hpp>

#include <fstream>

#include "tools_fixtures.h"

using namespace hills::test;

namespace {

std::string writeLines(const std::string& path, const std::string& text) {
  std::ofstream(path) << text;
  return path;
}

std::uint64_t parts(const std::string& dir) {
  hills::Database db(dir, toolOptions());
  return db.read([](const hills::ReadTxn& txn) { return txn.tree<plm::Part>().size(); });
}

}  // namespace

TEST_CASE("import creates drafts from lines without id and updates drafts with one",
          "[tools][import]") {
  TempDir dir;
  makePlmDatabase(dir.sub("db"), 3);
  auto file = writeLines(dir.sub("in.ndjson"),
                         "{\"number\":\"N-1\",\"name\":\"new one\",\"kind\":\"assembly\"}\n"
                         "{\"data\":{\"number\":\"N-2\",\"mass\":1.5}}\n"
                         "{\"id\":\"2\",\"revision\":0,\"data\":{\"name\":\"renamed\"}}\n");
  auto r = runHills({"import", dir.sub("db"), "parts", file});
  INFO(r.out << r.err);
  REQUIRE(r.status == 0);
  CHECK(r.out.find("2 created, 1 updated, 0 lines refused") != std::string::npos);
  auto got = runHills({"get", dir.sub("db"), "parts", "2/0"});
  CHECK(got.out.find("\"name\":\"renamed\"") != std::string::npos);
  CHECK(parts(dir.sub("db")) == 6);
}

TEST_CASE("import reports refused lines and commits nothing of their batch", "[tools][import]") {
  TempDir dir;
  makePlmDatabase(dir.sub("db"), 3);  // part 1/0 is released
  auto file = writeLines(dir.sub("in.ndjson"),
                         "{\"number\":\"A-1\"}\n"
                         "{\"number\":\"A-2\"}\n"
                         "{\"number\":\"B-1\"}\n"
                         "{\"id\":\"1\",\"data\":{\"name\":\"x\"}}\n"
                         "{\"number\":\"C-1\",\"mass\":\"heavy\"}\n"
                         "{\"number\":\"C-2\",\"colour\":\"red\"}\n");
  auto r = runHills({"import", "--batch", "2", dir.sub("db"), "parts", file});
  CHECK(r.status == 1);
  CHECK(r.out.find("refused line 4:") != std::string::npos);
  CHECK(r.out.find("released") != std::string::npos);
  CHECK(r.out.find("refused line 5: ") != std::string::npos);
  CHECK(r.out.find("mass") != std::string::npos);
  CHECK(r.out.find("refused line 6: ") != std::string::npos);
  CHECK(r.out.find("colour") != std::string::npos);
  CHECK(r.out.find("batch of lines 3-4 not imported") != std::string::npos);
  // Only the first batch (two lines) went in.
  CHECK(r.out.find("2 created, 0 updated, 3 lines refused, 2 batches not imported") !=
        std::string::npos);
  CHECK(parts(dir.sub("db")) == 6);
}

TEST_CASE("a dump imports into another database", "[tools][import]") {
  TempDir dir;
  makePlmDatabase(dir.sub("db"), 10);
  auto dump = runHills({"dump", "--latest", dir.sub("db"), "parts"});
  REQUIRE(dump.status == 0);
  // Lines without their ids create new records.
  std::string lines;
  std::size_t at = 0;
  while (at < dump.out.size()) {
    auto end = dump.out.find('\n', at);
    auto line = dump.out.substr(at, end - at);
    line.replace(0, line.find(",\"revision\""), "{\"id\":null");
    lines += line + "\n";
    at = end + 1;
  }
  { hills::Database fresh(dir.sub("fresh"), toolOptions()); }
  auto r = runHills({"import", dir.sub("fresh"), "parts", writeLines(dir.sub("d.ndjson"), lines)});
  INFO(r.out << r.err);
  REQUIRE(r.status == 0);
  CHECK(r.out.find("10 created") != std::string::npos);
}
