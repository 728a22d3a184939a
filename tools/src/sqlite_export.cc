// hills export-sqlite DIR OUT.db: every tree as a SQLite table.
#include <cstdio>
#include <filesystem>

#include "commands.h"
#include "common.h"
#include "progress.h"
#include "sqlite_model.h"

namespace hills::tools {
namespace {

struct ExportArgs {
  std::string dir, out;
  bool replace = false;
};

class Statement {
 public:
  Statement(sqlite3* db, const std::string& sql) : db_(db) {
    sql::check(db, sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt_, nullptr), "preparing " + sql);
  }
  ~Statement() { sqlite3_finalize(stmt_); }
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  sqlite3_stmt* get() const { return stmt_; }
  void run(const std::string& what) {
    sql::check(db_, sqlite3_step(stmt_), what, SQLITE_DONE);
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }
  // Runs the statement; `what` says what it did when it failed. Every
  // parameter is bound again before the next run.
  template <class F>
  void runOr(F&& what) {
    int rc = sqlite3_step(stmt_);
    if (rc != SQLITE_DONE) sql::check(db_, rc, what(), SQLITE_DONE);
    sqlite3_reset(stmt_);
  }

 private:
  sqlite3* db_;
  sqlite3_stmt* stmt_ = nullptr;
};

void exec(sqlite3* db, const std::string& sql) {
  sql::check(db, sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr), sql.substr(0, 60));
}

const char* kindName(sql::Kind kind) {
  switch (kind) {
    case sql::Kind::kValue: return "value";
    case sql::Kind::kEnum: return "enum";
    case sql::Kind::kJson: return "json";
    case sql::Kind::kRefId: return "reference id";
    case sql::Kind::kRefRevision: return "reference revision";
  }
  return "?";
}

void createTable(sqlite3* out, const std::string& tree, const std::vector<sql::Column>& columns) {
  std::string q = sql::quote(tree);
  std::string ddl = "CREATE TABLE " + q +
                    " (id INTEGER, revision INTEGER, _state TEXT, "
                    "_lifecycle INTEGER, _author TEXT, _created TEXT, "
                    "_modified TEXT, _data_iteration INTEGER, "
                    "_meta_iteration INTEGER";
  for (const auto& c : columns) ddl += ", " + sql::quote(c.name) + " " + c.declared;
  ddl += ", PRIMARY KEY (id, revision)";
  for (const auto& c : columns) {
    if (c.kind != sql::Kind::kRefId) continue;
    ddl += ", FOREIGN KEY (" + sql::quote(c.name) + ", " + sql::quote(c.name + "_revision") +
           ") REFERENCES " + sql::quote(c.target) + " (id, revision)";
  }
  exec(out, ddl + ")");
  exec(out, "CREATE VIEW " + sql::quote("latest_" + tree) + " AS SELECT * FROM " + q +
                " AS t WHERE revision = (SELECT MAX(revision) FROM " + q + " WHERE id = t.id)");
  Statement meta(out, "INSERT INTO _hills_columns VALUES (?, ?, ?, ?, ?)");
  for (const auto& c : columns) {
    sql::bind(meta.get(), 1, tree);
    sql::bind(meta.get(), 2, c.name);
    sql::bind(meta.get(), 3, std::string(c.field.getProto().getName().cStr()));
    sql::bind(meta.get(), 4, std::string(kindName(c.kind)));
    sql::bind(meta.get(), 5, c.target.empty() ? sql::Cell{} : sql::Cell{c.target});
    meta.run("describing the columns of " + tree);
  }
}

void exportTree(sqlite3* out, const GenericTreeView& tree) {
  auto schema = tree.schema();
  auto columns = sql::columnsOf(schema);
  FieldReader fields(schema);
  createTable(out, tree.name(), columns);
  std::string insert = "INSERT INTO " + sql::quote(tree.name()) + " VALUES (?";
  for (std::size_t i = 1; i < 9 + columns.size(); ++i) insert += ", ?";
  Statement stmt(out, insert + ")");
  JsonWriter json(tree);
  Progress progress("export " + tree.name(), tree.size());
  // Cells and times are kept until the row is inserted: SQLite reads them
  // in place (as it reads the author, in the map, in place).
  std::vector<sql::Cell> cells;
  std::string created, modified;
  std::uint64_t done = 0;
  auto* s = stmt.get();
  tree.scan(0, UINT64_MAX, [&](const StoredRecord& rec) {
    try {
      auto env = rec.envelope();
      sqlite3_bind_int64(s, 1, static_cast<std::int64_t>(rec.id()));
      sqlite3_bind_int64(s, 2, rec.revision());
      sqlite3_bind_text(s, 3, env.getState() == wire::State::RELEASED ? "released" : "draft", -1,
                        SQLITE_STATIC);
      sqlite3_bind_int64(s, 4, env.getLifecycle());
      auto author = env.getAuthor();
      sqlite3_bind_text(s, 5, author.cStr(), static_cast<int>(author.size()), SQLITE_STATIC);
      created.clear();
      appendIsoTime(created, env.getCreated());
      sqlite3_bind_text(s, 6, created.data(), static_cast<int>(created.size()), SQLITE_STATIC);
      modified.clear();
      appendIsoTime(modified, env.getModified());
      sqlite3_bind_text(s, 7, modified.data(), static_cast<int>(modified.size()), SQLITE_STATIC);
      sqlite3_bind_int64(s, 8, env.getDataIteration());
      sqlite3_bind_int64(s, 9, env.getMetaIteration());
      sql::cellsOf(columns, fields, rec.body().getAs<capnp::DynamicStruct>(schema), json, cells);
    } catch (const kj::Exception& e) {
      rec.throwCorrupt(e);
    }
    for (std::size_t i = 0; i < cells.size(); ++i) {
      sql::bind(s, static_cast<int>(10 + i), cells[i], true);
    }
    stmt.runOr([&] {
      return "inserting " + tree.name() + " " + std::to_string(rec.id()) + "/" +
             std::to_string(rec.revision());
    });
    progress.update(++done);
    return true;
  });
  progress.finish();
}

void exportSqlite(const ExportArgs& args) {
  std::error_code ec;
  if (std::filesystem::exists(args.out, ec)) {
    if (!args.replace) {
      throw Error(ErrorCode::kInvalidArgument,
                  args.out + " exists already (--replace writes over it)");
    }
    std::filesystem::remove(args.out, ec);
  }
  auto db = openDatabase(args.dir, false);
  sqlite3* out = nullptr;
  // One thread uses the connection: no locking of SQLite's mutexes per call.
  int rc = sqlite3_open_v2(args.out.c_str(), &out,
                           SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  std::unique_ptr<sqlite3, int (*)(sqlite3*)> guard(out, sqlite3_close);
  sql::check(out, rc, "creating " + args.out);
  // A fresh file: a failed export leaves nothing worth protecting.
  exec(out, "PRAGMA journal_mode = OFF");
  exec(out, "PRAGMA synchronous = OFF");
  exec(out, "BEGIN");
  exec(out,
       "CREATE TABLE _hills_columns (tree TEXT NOT NULL, \"column\" TEXT NOT NULL, field TEXT "
       "NOT NULL, kind TEXT NOT NULL, target TEXT, PRIMARY KEY (tree, \"column\"))");
  std::uint64_t rows = 0;
  db->read([&](const ReadTxn& txn) {
    for (const auto& info : db->trees()) {
      auto tree = txn.tree(info.name);
      exportTree(out, tree);
      rows += tree.size();
    }
  });
  exec(out, "COMMIT");
  std::printf("exported %llu records of %zu trees to %s\n", static_cast<unsigned long long>(rows),
              db->trees().size(), args.out.c_str());
}

}  // namespace

kj::MainFunc exportSqliteCommand(kj::ProcessContext& context) {
  auto args = std::make_shared<ExportArgs>();
  return kj::MainBuilder(
             context, kVersion,
             "Writes every tree of the database in DIR to a new SQLite database OUT: one table "
             "per tree keyed by (id, revision), with the meta columns _state, _lifecycle, "
             "_author, _created, _modified, _data_iteration, _meta_iteration, and one column per "
             "top-level field: numbers as INTEGER or REAL, Text as TEXT, Data as BLOB, enums by "
             "name, nested structs, groups and lists as JSON text, references as two INTEGER "
             "columns (<field> and <field>_revision) with a foreign key to the tree they name. "
             "A view latest_<tree> holds the newest revision of every id; the table "
             "_hills_columns says which field each column holds. `hills import-sqlite` brings "
             "edits back.")
      .addOption({"replace"}, [args]() { args->replace = true; return true; },
                 "Write over OUT when it exists.")
      .expectArg("DIR", [args](kj::StringPtr v) { args->dir = v; return true; })
      .expectArg("OUT", [args](kj::StringPtr v) { args->out = v; return true; })
      .callAfterParsing([args, &context]() {
        return guarded(context, [&]() -> kj::MainBuilder::Validity {
          exportSqlite(*args);
          return true;
        });
      })
      .build();
}

}  // namespace hills::tools
