// hills import-sqlite OUT.db DIR: edited drafts and new rows of an
// exported SQLite database, back into hills.
#include <cmath>
#include <cstdio>

#include "commands.h"
#include "common.h"
#include "hills/generic.h"
#include "import.h"
#include "progress.h"
#include "sqlite_model.h"

namespace hills::tools {
namespace {

struct ImportSqliteArgs {
  std::string in, dir;
};

// The cell as the JSON value of its field, for hills' JSON path.
void appendValue(std::string& out, const sql::Column& c, const sql::Cell& cell) {
  using W = capnp::schema::Type;
  auto asText = [&](const sql::Cell& v) -> std::string {
    switch (v.index()) {
      case 1: return std::to_string(std::get<1>(v));
      case 2: {
        char buf[40];
        std::snprintf(buf, sizeof(buf), "%.17g", std::get<2>(v));
        return buf;
      }
      case 3: return std::get<3>(v);
      case 4: return std::get<4>(v).bytes;
    }
    return {};
  };
  if (c.kind == sql::Kind::kJson) {
    out += asText(cell);
    return;
  }
  if (c.kind == sql::Kind::kEnum) {
    if (cell.index() == 1) {
      out += asText(cell);
    } else {
      appendJsonString(out, asText(cell));
    }
    return;
  }
  auto which = c.field.getType().which();
  switch (which) {
    case W::BOOL:
      if (cell.index() == 1) {
        out += std::get<1>(cell) ? "true" : "false";
      } else {
        appendJsonString(out, asText(cell));
      }
      return;
    case W::UINT64:
      if (cell.index() == 1) {
        out += '"' + std::to_string(static_cast<std::uint64_t>(std::get<1>(cell))) + '"';
        return;
      }
      break;
    case W::FLOAT32: case W::FLOAT64:
      if (cell.index() == 1 || cell.index() == 2) {
        out += asText(cell);
        return;
      }
      break;
    case W::DATA: {
      std::string bytes = asText(cell);
      out += '[';
      for (std::size_t i = 0; i < bytes.size(); ++i) {
        if (i) out += ',';
        out += std::to_string(static_cast<unsigned char>(bytes[i]));
      }
      out += ']';
      return;
    }
    case W::TEXT:
      appendJsonString(out, asText(cell));
      return;
    default:
      break;
  }
  // Integers: strings carry every 64-bit value; anything else is passed on
  // as a string for hills' check to judge.
  appendJsonString(out, asText(cell));
}

// The JSON object of the columns `changed` (indexes into columns).
std::string jsonOf(const std::vector<sql::Column>& columns, const std::vector<sql::Cell>& row,
                   const std::vector<std::size_t>& changed) {
  std::string out = "{";
  bool first = true;
  for (std::size_t i : changed) {
    const auto& c = columns[i];
    if (c.kind == sql::Kind::kRefRevision) continue;  // with its id
    if (!first) out += ',';
    first = false;
    appendJsonString(out, c.field.getProto().getName().cStr());
    out += ':';
    if (c.kind == sql::Kind::kRefId) {
      auto rev = i + 1 < row.size() && row[i + 1].index() == 1 ? std::get<1>(row[i + 1]) : 0;
      auto id = row[i].index() == 1 ? static_cast<std::uint64_t>(std::get<1>(row[i])) : 0;
      out += "{\"id\":\"" + std::to_string(id) + "\",\"revision\":" + std::to_string(rev) + "}";
    } else {
      appendValue(out, c, row[i]);
    }
  }
  return out + "}";
}

struct Counts {
  std::uint64_t created = 0, updated = 0, unchanged = 0, refused = 0;
};

void importTree(sqlite3* in, GenericTree& tree, Counts& counts) {
  auto schema = tree.schema();
  JsonWriter json(tree);
  auto columns = sql::columnsOf(schema);
  FieldReader fields(schema);
  std::string select = "SELECT rowid, id, revision";
  for (const auto& c : columns) select += ", " + sql::quote(c.name);
  select += " FROM " + sql::quote(tree.name()) + " ORDER BY rowid";
  sqlite3_stmt* raw = nullptr;
  sql::check(in, sqlite3_prepare_v2(in, select.c_str(), -1, &raw, nullptr),
             "reading table " + tree.name() + " (exported with another schema?)");
  std::unique_ptr<sqlite3_stmt, int (*)(sqlite3_stmt*)> stmt(raw, sqlite3_finalize);
  std::vector<sql::Cell> row, stored;
  Progress progress("import " + tree.name(), 0, "rows");
  int rc;
  while ((rc = sqlite3_step(raw)) == SQLITE_ROW) {
    progress.add();
    auto rowid = sqlite3_column_int64(raw, 0);
    row.clear();
    for (std::size_t i = 0; i < columns.size(); ++i) row.push_back(sql::cellAt(raw, static_cast<int>(3 + i)));
    std::string where = tree.name() + " row " + std::to_string(rowid);
    try {
      if (sqlite3_column_type(raw, 1) == SQLITE_NULL) {
        std::vector<std::size_t> set;
        for (std::size_t i = 0; i < row.size(); ++i)
          if (row[i].index() != 0) set.push_back(i);
        auto id = createFromJson(tree, jsonOf(columns, row, set));
        std::printf("created %s %llu/0 from %s\n", tree.name().c_str(),
                    static_cast<unsigned long long>(id), where.c_str());
        ++counts.created;
        continue;
      }
      auto id = static_cast<std::uint64_t>(sqlite3_column_int64(raw, 1));
      auto revision = static_cast<std::uint32_t>(sqlite3_column_int64(raw, 2));
      where += " (" + std::to_string(id) + "/" + std::to_string(revision) + ")";
      std::vector<std::size_t> changed;
      {
        auto rec = tree.require(id, revision);
        try {
          sql::cellsOf(columns, fields, rec.body().getAs<capnp::DynamicStruct>(schema), json, stored);
        } catch (const kj::Exception& e) {
          rec.throwCorrupt(e);
        }
      }
      for (std::size_t i = 0; i < row.size(); ++i) {
        // NULL leaves a field as it is; a reference is written whole (its
        // id column with its revision).
        if (row[i].index() == 0 || row[i] == stored[i]) continue;
        std::size_t at = columns[i].kind == sql::Kind::kRefRevision ? i - 1 : i;
        if (changed.empty() || changed.back() != at) changed.push_back(at);
      }
      if (changed.empty()) {
        ++counts.unchanged;
        continue;
      }
      updateFromJson(tree, id, revision, jsonOf(columns, row, changed));
      ++counts.updated;
    } catch (const Error& e) {
      // A refusal changes nothing: the other rows go on.
      std::printf("refused %s: %s\n", where.c_str(), e.what());
      ++counts.refused;
    }
  }
  sql::check(in, rc, "reading table " + tree.name(), SQLITE_DONE);
  progress.finish();
}

std::uint64_t importSqlite(const ImportSqliteArgs& args) {
  sqlite3* in = nullptr;
  int rc = sqlite3_open_v2(args.in.c_str(), &in, SQLITE_OPEN_READONLY, nullptr);
  std::unique_ptr<sqlite3, int (*)(sqlite3*)> guard(in, sqlite3_close);
  sql::check(in, rc, "opening " + args.in);
  auto db = openDatabase(args.dir, true);
  requirePlain(*db);
  Counts counts;
  db->write([&](WriteTxn& txn) {
    counts = Counts{};
    for (const auto& info : db->trees()) {
      std::string probe = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?";
      sqlite3_stmt* s = nullptr;
      sql::check(in, sqlite3_prepare_v2(in, probe.c_str(), -1, &s, nullptr), "reading " + args.in);
      sql::bind(s, 1, info.name);
      bool present = sqlite3_step(s) == SQLITE_ROW;
      sqlite3_finalize(s);
      if (!present) continue;
      auto tree = txn.tree(info.name);
      importTree(in, tree, counts);
    }
  });
  std::printf("%llu created, %llu updated, %llu unchanged, %llu refused\n",
              static_cast<unsigned long long>(counts.created),
              static_cast<unsigned long long>(counts.updated),
              static_cast<unsigned long long>(counts.unchanged),
              static_cast<unsigned long long>(counts.refused));
  return counts.refused;
}

}  // namespace

kj::MainFunc importSqliteCommand(kj::ProcessContext& context) {
  auto args = std::make_shared<ImportSqliteArgs>();
  return kj::MainBuilder(
             context, kVersion,
             "Brings the edits made to a SQLite database that `hills export-sqlite` wrote back "
             "into the plain database in DIR, in one transaction: a row whose field columns "
             "differ from its record updates that draft (NULL leaves a field as it is; meta "
             "columns are not read), a row whose id is NULL creates a draft. A row hills "
             "refuses (a released record, a record that does not exist, a value of the wrong "
             "type) is reported with why and left out; the others are imported. Exits with 1 "
             "when a row was refused.")
      .expectArg("IN", [args](kj::StringPtr v) { args->in = v; return true; })
      .expectArg("DIR", [args](kj::StringPtr v) { args->dir = v; return true; })
      .callAfterParsing([args, &context]() {
        return guarded(context, [&]() -> kj::MainBuilder::Validity {
          auto refused = importSqlite(*args);
          std::fflush(stdout);
          if (refused) context.exitError(kj::str(refused, " rows refused"));
          return true;
        });
      })
      .build();
}

}  // namespace hills::tools
