// Tables as LMDB keeps them, for tools (hills/inspect.h), and compacted
// copies (Database::copyTo).
#include "hills/inspect.h"

#include <algorithm>
#include <filesystem>
#include <mutex>
#include <shared_mutex>

#include "hills/database.h"
#include "lmdb_util.h"
#include "state.h"
#include "tables.h"
#include "write_path.h"

namespace hills {

namespace detail {

void openAllTables(DatabaseImpl& db, MDB_txn* txn) {
  // The main table (handle 1) names every table of the environment.
  Cursor cursor(txn, MDB_dbi(1), db.path);
  MDB_val k, v;
  int rc = mdb_cursor_get(cursor.get(), &k, &v, MDB_FIRST);
  for (; rc == MDB_SUCCESS; rc = mdb_cursor_get(cursor.get(), &k, &v, MDB_NEXT)) {
    std::string name(static_cast<const char*>(k.mv_data), k.mv_size);
    MDB_dbi dbi = 0;
    // An open table gives its handle again; a key that is no table is skipped.
    int open = mdb_dbi_open(txn, name.c_str(), 0, &dbi);
    if (open == MDB_INCOMPATIBLE || open == MDB_NOTFOUND) continue;
    // Handles are Options::maxTables; the program's own tables came first.
    if (open == MDB_DBS_FULL) break;
    checkLmdb(open, [&] { return "opening table " + name; }, db.path);
    db.allTables.emplace(std::move(name), dbi);
  }
  if (rc != MDB_NOTFOUND) checkLmdb(rc, "listing the tables", db.path);
}

}  // namespace detail

namespace {

MDB_dbi tableNamed(const detail::TxnState& t, std::string_view name) {
  auto it = t.db->allTables.find(name);
  if (it == t.db->allTables.end()) {
    throw Error(ErrorCode::kInvalidArgument,
                "the database " + t.db->path + " has no table '" + std::string(name) + "'");
  }
  return it->second;
}

}  // namespace

std::vector<TableStat> tableStats(const ReadTxn& txn) {
  const detail::TxnState& t = *detail::TxnAccess::state(txn);
  MDB_stat env;
  detail::checkLmdb(mdb_env_stat(t.db->env, &env), "reading the page size", t.db->path);
  std::vector<TableStat> out;
  for (const auto& table : t.db->allTables) {
    const std::string& name = table.first;  // a lambda below names it
    MDB_dbi dbi = table.second;
    MDB_stat s;
    int rc = mdb_stat(t.txn, dbi, &s);
    if (rc == EINVAL) continue;  // not in this snapshot
    detail::checkLmdb(rc, [&] { return "reading the size of table " + name; }, t.db->path);
    unsigned flags = 0;
    mdb_dbi_flags(t.txn, dbi, &flags);
    TableStat ts;
    ts.name = name;
    ts.entries = s.ms_entries;
    ts.pages = s.ms_branch_pages + s.ms_leaf_pages + s.ms_overflow_pages;
    ts.bytes = ts.pages * env.ms_psize;
    ts.depth = s.ms_depth;
    ts.duplicates = (flags & MDB_DUPSORT) != 0;
    out.push_back(std::move(ts));
  }
  return out;
}

void scanTable(const ReadTxn& txn, std::string_view name, std::string_view from,
               kj::FunctionParam<bool(kj::ArrayPtr<const kj::byte> key,
                                      kj::ArrayPtr<const kj::byte> value)>
                   fn) {
  const detail::TxnState& t = *detail::TxnAccess::state(txn);
  detail::Cursor cursor(t.txn, tableNamed(t, name), t.db->path);
  MDB_val k = detail::toVal(from), v;
  int rc = mdb_cursor_get(cursor.get(), &k, &v, from.empty() ? MDB_FIRST : MDB_SET_RANGE);
  for (; rc == MDB_SUCCESS; rc = mdb_cursor_get(cursor.get(), &k, &v, MDB_NEXT)) {
    if (!fn(kj::arrayPtr(static_cast<const kj::byte*>(k.mv_data), k.mv_size),
            kj::arrayPtr(static_cast<const kj::byte*>(v.mv_data), v.mv_size))) {
      return;
    }
  }
  if (rc != MDB_NOTFOUND) {
    detail::checkLmdb(rc, [&] { return "reading table " + std::string(name); }, t.db->path);
  }
}

void scanTree(const GenericTreeView& view, kj::FunctionParam<bool(const TreeEntry& entry)> fn) {
  detail::TxnState& t = *detail::TxnAccess::txnOf(view);
  const detail::TreeState& tree = *detail::TxnAccess::state(view);
  detail::Cursor cursor(t.txn, tree.dbi, t.db->path);
  MDB_val k, v;
  int rc = mdb_cursor_get(cursor.get(), &k, &v, MDB_FIRST);
  while (rc == MDB_SUCCESS) {
    MDB_val key = k, value = v;
    // Step first, so the next value loads while fn reads this one.
    rc = mdb_cursor_get(cursor.get(), &k, &v, MDB_NEXT);
    if (rc == MDB_SUCCESS) {
      const char* p = static_cast<const char*>(v.mv_data);
      for (std::size_t off = 0; off < std::min<std::size_t>(v.mv_size, 512); off += 64) {
        __builtin_prefetch(p + off);
      }
    }
    TreeEntry entry;
    entry.key = kj::arrayPtr(static_cast<const kj::byte*>(key.mv_data), key.mv_size);
    entry.value = kj::arrayPtr(static_cast<const kj::byte*>(value.mv_data), value.mv_size);
    detail::DecodedKey decoded;
    bool called = false;  // errors of fn are fn's
    try {
      if (!detail::decodeKey(key, decoded) || decoded.id == 0) {
        throw Error(ErrorCode::kCorrupt, "tree '" + tree.name + "' holds a key of " +
                                             std::to_string(key.mv_size) +
                                             " bytes that is not a record key");
      }
      detail::InPlace in(&tree, decoded.id, decoded.revision,
                         t.words(value, tree, decoded.id, decoded.revision));
      entry.record = &in.record;
      called = true;
      if (!fn(entry)) return;
    } catch (const Error& e) {
      if (called) throw;
      entry.record = nullptr;
      entry.error = &e;
      if (!fn(entry)) return;
    }
  }
  if (rc != MDB_NOTFOUND) {
    detail::checkLmdb(rc, [&] { return "scanning tree '" + tree.name + "'"; }, t.db->path);
  }
}

void Database::copyTo(const std::string& dir) const {
  detail::DatabaseImpl& db = *impl_;
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) {
    throw Error(ErrorCode::kIo, "cannot create the directory " + dir + " for a copy of the database " +
                                    db.path + ": " + ec.message());
  }
  if (std::filesystem::exists(std::filesystem::path(dir) / "data.mdb", ec)) {
    throw Error(ErrorCode::kInvalidArgument,
                "the directory " + dir + " holds a database already; a copy needs an empty one");
  }
  // The copy reads the map, which this process must not replace meanwhile.
  std::shared_lock lock(db.mapLock);
  detail::checkLmdb(mdb_env_copy2(db.env, dir.c_str(), MDB_CP_COMPACT),
                    "copying the database to " + dir, db.path);
}

}  // namespace hills
