// The tools benchmark: the hills command on one tree of --records parts
// (1,000,000 by default), each against what it is measured by, in one run:
//   export-sqlite   vs a plain SQLite bulk insert of the same rows
//   dump (NDJSON)   records per second
//   verify          records per second
//   backup          vs mdb_copy -c of the same database
// Each is run --rounds times (3) in turns; medians are printed.
//   --hills PATH     the hills binary to measure (the build's by default)
//   --baseline PATH  another hills binary (an older build) measured in the
//                    same turns; its figures are printed beside
//   --db DIR         build the database in DIR and leave it there; a DIR
//                    that holds one already is used as it is
#include <sqlite3.h>
#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "bench_util.h"
#include "hills/hills.h"
#include "plm.hills.h"
#include "plm_fixtures.h"
#include "temp_dir.h"

namespace {

using hills::bench::interleavedMedians;

void run(const std::string& cmd) {
  int rc = std::system(cmd.c_str());
  if (!WIFEXITED(rc) || WEXITSTATUS(rc) != 0) {
    std::fprintf(stderr, "failed: %s\n", cmd.c_str());
    std::exit(1);
  }
}

void sqliteExec(sqlite3* db, const std::string& sql) {
  if (sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr) != SQLITE_OK) {
    std::fprintf(stderr, "sqlite: %s\n", sqlite3_errmsg(db));
    std::exit(1);
  }
}

// The rows of the parts table of an export, held in memory, and the plain
// bulk insert of them into a fresh file with the same table.
struct Rows {
  std::string ddl;
  int columns = 0;
  std::vector<std::vector<sqlite3_value*>> rows;
  ~Rows() {
    for (auto& r : rows)
      for (auto* v : r) sqlite3_value_free(v);
  }
  void load(const std::string& file) {
    sqlite3* db = nullptr;
    sqlite3_open_v2(file.c_str(), &db, SQLITE_OPEN_READONLY, nullptr);
    sqlite3_stmt* s = nullptr;
    sqlite3_prepare_v2(db, "SELECT sql FROM sqlite_master WHERE name = 'parts'", -1, &s, nullptr);
    sqlite3_step(s);
    ddl = reinterpret_cast<const char*>(sqlite3_column_text(s, 0));
    sqlite3_finalize(s);
    sqlite3_prepare_v2(db, "SELECT * FROM parts", -1, &s, nullptr);
    columns = sqlite3_column_count(s);
    while (sqlite3_step(s) == SQLITE_ROW) {
      std::vector<sqlite3_value*> row;
      for (int i = 0; i < columns; ++i) row.push_back(sqlite3_value_dup(sqlite3_column_value(s, i)));
      rows.push_back(std::move(row));
    }
    sqlite3_finalize(s);
    sqlite3_close(db);
  }
  void insert(const std::string& file) const {
    std::filesystem::remove(file);
    sqlite3* db = nullptr;
    sqlite3_open(file.c_str(), &db);
    sqliteExec(db, "PRAGMA journal_mode = OFF");
    sqliteExec(db, "PRAGMA synchronous = OFF");
    sqliteExec(db, "BEGIN");
    sqliteExec(db, ddl);
    std::string sql = "INSERT INTO parts VALUES (?";
    for (int i = 1; i < columns; ++i) sql += ", ?";
    sqlite3_stmt* s = nullptr;
    sqlite3_prepare_v2(db, (sql + ")").c_str(), -1, &s, nullptr);
    for (const auto& row : rows) {
      for (int i = 0; i < columns; ++i) sqlite3_bind_value(s, i + 1, row[static_cast<std::size_t>(i)]);
      sqlite3_step(s);
      sqlite3_reset(s);
    }
    sqlite3_finalize(s);
    sqliteExec(db, "COMMIT");
    sqlite3_close(db);
  }
};

}  // namespace

int main(int argc, char** argv) {
  std::size_t records = 1000000;
  int rounds = 3;
  hills::test::TempDir dir;
  std::string db = dir.sub("db"), hillsBin = HILLS_BIN, baseline;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--records") records = std::stoul(argv[i + 1]);
    if (a == "--rounds") rounds = std::stoi(argv[i + 1]);
    if (a == "--hills") hillsBin = argv[i + 1];
    if (a == "--baseline") baseline = argv[i + 1];
    if (a == "--db") db = argv[i + 1];
  }
  if (!std::filesystem::exists(db + "/data.mdb")) hills::test::writeParts(db, records);
  std::printf("tools benchmark: %zu parts, %d rounds, medians\n", records, rounds);

  // export-sqlite vs the plain bulk insert of the rows it writes.
  run(hillsBin + " export-sqlite " + db + " " + dir.sub("first.db") + " > /dev/null");
  Rows rows;
  rows.load(dir.sub("first.db"));
  // Each measurement of hills, then the same with the baseline binary when
  // there is one (its figures come last).
  auto withBaseline = [&](std::vector<std::function<void()>> fns,
                          const std::function<void(const std::string&)>& hillsRun) {
    fns.insert(fns.begin(), [&, hillsRun] { hillsRun(hillsBin); });
    if (!baseline.empty()) fns.push_back([&, hillsRun] { hillsRun(baseline); });
    return fns;
  };
  auto exportNs = interleavedMedians(rounds, records, withBaseline(
      {[&] { rows.insert(dir.sub("plain.db")); }},
      [&](const std::string& bin) {
        run(bin + " export-sqlite --replace " + db + " " + dir.sub("out.db") + " > /dev/null");
      }));
  std::printf("export-sqlite        %10.0f records/s\n", 1e9 / exportNs[0]);
  std::printf("sqlite bulk insert   %10.0f records/s\n", 1e9 / exportNs[1]);
  if (!baseline.empty()) {
    std::printf("baseline export      %10.0f records/s, %.2fx of the insert\n", 1e9 / exportNs[2],
                exportNs[1] / exportNs[2]);
  }
  std::printf("RATIO export_vs_sqlite_insert %.2f (target >= 0.7)\n", exportNs[1] / exportNs[0]);

  for (const char* command : {"dump", "verify"}) {
    std::string cmd = command;
    auto ns = interleavedMedians(rounds, records, withBaseline({}, [&](const std::string& bin) {
      run(bin + " " + cmd + " " + db + (cmd == "dump" ? " parts" : "") + " > /dev/null");
    }));
    if (!baseline.empty()) {
      std::printf("baseline %-11s %10.0f records/s\n", command, 1e9 / ns[1]);
    }
    std::printf("RATIO %s_records_per_second %.0f (target >= %s)\n", command, 1e9 / ns[0],
                cmd == "dump" ? "300000" : "1000000");
  }

  auto copyNs = interleavedMedians(rounds, 1, withBaseline(
      {[&] {
        std::filesystem::remove_all(dir.sub("c"));
        std::filesystem::create_directories(dir.sub("c"));
        run("mdb_copy -c " + db + " " + dir.sub("c"));
      }},
      [&](const std::string& bin) {
        std::filesystem::remove_all(dir.sub("b"));
        run(bin + " backup " + db + " " + dir.sub("b") + " > /dev/null");
      }));
  std::printf("backup               %10.3f s\n", copyNs[0] / 1e9);
  std::printf("mdb_copy -c          %10.3f s\n", copyNs[1] / 1e9);
  if (!baseline.empty()) std::printf("baseline backup      %10.3f s\n", copyNs[2] / 1e9);
  std::printf("RATIO backup_vs_mdb_copy %.2f (target <= 1.2)\n", copyNs[0] / copyNs[1]);
  return 0;
}
