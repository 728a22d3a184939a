#include <catch2/catch.hpp>

#include "tools_fixtures.h"

using namespace hills::test;

TEST_CASE("info shows format, uuid, role, trees with counts, indexes and the log", "[tools][info]") {
  TempDir dir;
  std::string uuid;
  {
    hills::Database db(dir.sub("db"), toolOptions());
    fillPlm(db, 30);
    uuid = db.uuid();
  }
  auto r = runHills({"info", dir.sub("db")});
  REQUIRE(r.status == 0);
  CHECK(r.out.find("format          1") != std::string::npos);
  CHECK(r.out.find("uuid            " + uuid) != std::string::npos);
  CHECK(r.out.find("role            plain") != std::string::npos);
  CHECK(r.out.find("newest sequence") != std::string::npos);
  // 30 parts and one new revision.
  CHECK(r.out.find("parts                versioned           31 records") != std::string::npos);
  CHECK(r.out.find("stock                unversioned          3 records") != std::string::npos);
  CHECK(r.out.find("bomRefs              version 1    tree boms") != std::string::npos);
  CHECK(r.out.find("partNumbers") != std::string::npos);
  CHECK(r.out.find("_log") != std::string::npos);
}

TEST_CASE("info tells a sync server's database by its tables", "[tools][info]") {
  TempDir dir;
  makePlmDatabase(dir.sub("db"), 3);
  {
    // What the server keeps: _grants (and _borrows), made by a hook.
    struct ServerTables final : hills::WriteHook {
      std::vector<std::string> tables() const override { return {"_grants", "_borrows"}; }
    };
    auto o = toolOptions();
    o.hooks = {std::make_shared<ServerTables>()};
    hills::Database db(dir.sub("db"), o);
  }
  auto r = runHills({"info", dir.sub("db")});
  REQUIRE(r.status == 0);
  CHECK(r.out.find("role            sync server") != std::string::npos);
}

TEST_CASE("info names the directory that holds no database", "[tools][info]") {
  TempDir dir;
  auto r = runHills({"info", dir.sub("nothing")});
  CHECK(r.status == 1);
  CHECK(r.err.find(dir.sub("nothing")) != std::string::npos);
}

TEST_CASE("info reads a database another process holds open for writing", "[tools][info]") {
  TempDir dir;
  hills::Database db(dir.sub("db"), toolOptions());
  fillPlm(db, 10);
  auto r = runHills({"info", dir.sub("db")});
  REQUIRE(r.status == 0);
  CHECK(r.out.find("parts ") != std::string::npos);
  // The writer goes on afterwards.
  db.write([](hills::WriteTxn& txn) { txn.tree<plm::Part>().create(makePart(99)); });
}

TEST_CASE("every subcommand answers --help", "[tools][help]") {
  for (const char* cmd : {"info", "schema", "get", "dump", "log", "verify", "backup", "import",
                          "export-sqlite", "import-sqlite", "borrows", "break"}) {
    auto r = runHills({cmd, "--help"});
    INFO(cmd);
    CHECK(r.status == 0);
    CHECK(r.out.find("Usage:") != std::string::npos);
  }
}
