#include <sqlite3.h>

#include <catch2/catch.hpp>

#include "tools_fixtures.h"

using namespace hills::test;

namespace {

// Every row of every table (but SQLite's own), as text, in key order.
std::string content(const std::string& file) {
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open_v2(file.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK);
  std::vector<std::string> tables;
  sqlite3_exec(
      db, "SELECT name FROM sqlite_master WHERE type IN ('table', 'view') ORDER BY name",
      [](void* out, int, char** v, char**) {
        static_cast<std::vector<std::string>*>(out)->push_back(v[0]);
        return 0;
      },
      &tables, nullptr);
  std::string out;
  for (auto& t : tables) {
    out += "== " + t + "\n";
    sqlite3_stmt* s = nullptr;
    REQUIRE(sqlite3_prepare_v2(db, ("SELECT * FROM \"" + t + "\" ORDER BY 1, 2").c_str(), -1, &s,
                               nullptr) == SQLITE_OK);
    while (sqlite3_step(s) == SQLITE_ROW) {
      for (int i = 0; i < sqlite3_column_count(s); ++i) {
        out += std::to_string(sqlite3_column_type(s, i)) + ":";
        auto* b = static_cast<const char*>(sqlite3_column_blob(s, i));
        out += std::string(b ? b : "", static_cast<std::size_t>(sqlite3_column_bytes(s, i))) + "|";
      }
      out += "\n";
    }
    sqlite3_finalize(s);
  }
  sqlite3_close(db);
  return out;
}

void exec(const std::string& file, const std::string& sql) {
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open(file.c_str(), &db) == SQLITE_OK);
  char* err = nullptr;
  int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err);
  INFO((err ? err : ""));
  CHECK(rc == SQLITE_OK);
  sqlite3_free(err);
  sqlite3_close(db);
}

std::string query(const std::string& file, const std::string& sql) {
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open(file.c_str(), &db) == SQLITE_OK);
  std::string out;
  sqlite3_exec(
      db, sql.c_str(),
      [](void* o, int n, char** v, char**) {
        for (int i = 0; i < n; ++i) *static_cast<std::string*>(o) += std::string(v[i] ? v[i] : "NULL") + "|";
        return 0;
      },
      &out, nullptr);
  sqlite3_close(db);
  return out;
}

}  // namespace

TEST_CASE("export-sqlite writes a table per tree with typed columns and a latest view",
          "[tools][sqlite]") {
  TempDir dir;
  makePlmDatabase(dir.sub("db"), 20);
  auto r = runHills({"export-sqlite", dir.sub("db"), dir.sub("out.db")});
  INFO(r.err);
  REQUIRE(r.status == 0);
  auto f = dir.sub("out.db");
  CHECK(query(f, "SELECT COUNT(*) FROM parts") == "21|");
  CHECK(query(f, "SELECT COUNT(*) FROM latest_parts") == "20|");
  CHECK(query(f, "SELECT revision, _state FROM latest_parts WHERE id = 1") == "1|draft|");
  CHECK(query(f, "SELECT number, kind, typeof(mass), typeof(leadTimeDays) FROM parts WHERE id = 2") ==
        "P-100001|purchased|real|integer|");
  CHECK(query(f, "SELECT tags, dimensions FROM parts WHERE id = 2") ==
        "[\"t1\",\"common\"]|NULL|");
  CHECK(query(f, "SELECT assembly, assembly_revision, typeof(lines) FROM boms WHERE id = 1") ==
        "1|0|text|");
  CHECK(query(f, "SELECT kind, target FROM _hills_columns WHERE tree = 'boms' AND \"column\" = 'assembly'") ==
        "reference id|parts|");
  // Exporting over a file needs --replace.
  CHECK(runHills({"export-sqlite", dir.sub("db"), f}).status == 1);
  CHECK(runHills({"export-sqlite", "--replace", dir.sub("db"), f}).status == 0);
}

TEST_CASE("export, import without edits, export gives identical SQLite content",
          "[tools][sqlite]") {
  TempDir dir;
  makePlmDatabase(dir.sub("db"), 30);
  REQUIRE(runHills({"export-sqlite", dir.sub("db"), dir.sub("one.db")}).status == 0);
  auto back = runHills({"import-sqlite", dir.sub("one.db"), dir.sub("db")});
  INFO(back.out << back.err);
  REQUIRE(back.status == 0);
  CHECK(back.out.find("0 created, 0 updated, 37 unchanged, 0 refused") != std::string::npos);
  REQUIRE(runHills({"export-sqlite", dir.sub("db"), dir.sub("two.db")}).status == 0);
  CHECK(content(dir.sub("one.db")) == content(dir.sub("two.db")));
}

TEST_CASE("import-sqlite brings edited drafts and new rows back and refuses released ones",
          "[tools][sqlite]") {
  TempDir dir;
  makePlmDatabase(dir.sub("db"), 10);
  auto f = dir.sub("out.db");
  REQUIRE(runHills({"export-sqlite", dir.sub("db"), f}).status == 0);
  exec(f, "UPDATE parts SET name = 'edited', kind = 'software', tags = '[\"x\"]' WHERE id = 2");
  exec(f, "UPDATE parts SET name = 'frozen' WHERE id = 4 AND revision = 0");  // released
  exec(f, "UPDATE parts SET leadTimeDays = 'soon' WHERE id = 3");
  exec(f, "INSERT INTO parts (id, number, name) VALUES (NULL, 'NEW-1', 'from sql')");
  exec(f, "UPDATE boms SET assembly = 3, assembly_revision = 0 WHERE id = 1");
  auto r = runHills({"import-sqlite", f, dir.sub("db")});
  INFO(r.out << r.err);
  CHECK(r.status == 1);
  CHECK(r.out.find("refused parts row") != std::string::npos);
  CHECK(r.out.find("(4/0): ") != std::string::npos);
  CHECK(r.out.find("released") != std::string::npos);
  CHECK(r.out.find("(3/0): ") != std::string::npos);
  CHECK(r.out.find("leadTimeDays") != std::string::npos);
  CHECK(r.out.find("created parts 11/0") != std::string::npos);
  CHECK(r.out.find("1 created, 2 updated") != std::string::npos);
  auto part = runHills({"get", dir.sub("db"), "parts", "2/0"});
  CHECK(part.out.find("\"name\":\"edited\"") != std::string::npos);
  CHECK(part.out.find("\"kind\":\"software\"") != std::string::npos);
  CHECK(part.out.find("\"tags\":[\"x\"]") != std::string::npos);
  auto bom = runHills({"get", dir.sub("db"), "boms", "1/0"});
  CHECK(bom.out.find("\"assembly\":{\"id\":\"3\"") != std::string::npos);
}
