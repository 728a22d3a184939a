// What write hooks keep: their internal tables, properties, and the
// callbacks of a transaction's end.
#include "hills/table.h"

#include <algorithm>

#include "hills/txn.h"
#include "hills/write_hook.h"
#include "lmdb_util.h"
#include "state.h"
#include "storage.h"
#include "tables.h"
#include "write_path.h"

namespace hills {

using detail::MetaStore;
using detail::TableState;
using detail::TxnState;

namespace detail {

namespace {

constexpr std::size_t kMaxTableKey = 500;  // LMDB's limit is 511 bytes

// _meta keys hills keeps for itself; properties may not use them.
bool reservedProperty(std::string_view key) {
  static const std::string_view exact[] = {"format", "uuid", "changeLog", "schemaVersion",
                                           kRangesOnlyKey};
  static const std::string_view prefixes[] = {"schema:", "ids:", "index:"};
  if (std::find(std::begin(exact), std::end(exact), key) != std::end(exact)) return true;
  return std::any_of(std::begin(prefixes), std::end(prefixes),
                     [&](std::string_view p) { return key.substr(0, p.size()) == p; });
}

bool reservedTable(std::string_view name) {
  return name == "_meta" || name == "_log" || name.substr(0, 7) == "_index:";
}

MetaStore store(TxnState& t, const TableState& table) {
  return MetaStore(t, table.dbi, table.name);
}

}  // namespace

void openHookTables(DatabaseImpl& db, MDB_txn* txn) {
  for (const auto& hook : db.options.hooks) {
    if (!hook) throw Error(ErrorCode::kInvalidArgument, "Options::hooks holds a null hook");
    for (const auto& name : hook->tables()) {
      if (name.size() < 2 || name[0] != '_' || reservedTable(name)) {
        throw Error(ErrorCode::kInvalidArgument,
                    "a write hook's table '" + name +
                        "' must start with '_' and not be one of hills' own (_meta, _log, "
                        "_index:...)");
      }
      if (db.tables.count(name)) continue;  // two hooks may share a table
      auto table = std::make_unique<TableState>();
      table->name = name;
      int rc = mdb_dbi_open(txn, name.c_str(), db.options.readOnly ? 0 : MDB_CREATE, &table->dbi);
      // Read-only, and never written: it reads as empty.
      if (rc != MDB_NOTFOUND) {
        checkLmdb(rc, "opening table " + name, db.path);
        table->open = true;
      }
      db.tables.emplace(name, std::move(table));
    }
  }
}

}  // namespace detail

namespace {

const TableState& tableNamed(TxnState& t, std::string_view name) {
  auto it = t.db->tables.find(name);
  if (it == t.db->tables.end()) {
    throw Error(ErrorCode::kInvalidArgument, "the database " + t.db->path + " has no table '" +
                                                 std::string(name) +
                                                 "': tables are those of Options::hooks");
  }
  return *it->second;
}

void requireKey(const TableState& table, std::string_view key) {
  if (key.empty() || key.size() > detail::kMaxTableKey) {
    throw Error(ErrorCode::kInvalidArgument, "a key of " + std::to_string(key.size()) +
                                                 " bytes for table " + table.name +
                                                 " (keys have 1 to 500 bytes)");
  }
}

}  // namespace

// --- TableView, Table ------------------------------------------------------

const std::string& TableView::name() const { return table_->name; }

std::unique_ptr<capnp::MessageReader> TableView::get(std::string_view key) const {
  if (!table_->open || key.empty()) return nullptr;
  return detail::store(*txn_, *table_).getMessage(key);
}

bool TableView::contains(std::string_view key) const {
  return table_->open && !key.empty() && detail::store(*txn_, *table_).has(key);
}

void TableView::scan(
    std::string_view prefix,
    kj::FunctionParam<bool(std::string_view key, capnp::MessageReader& value)> fn) const {
  if (!table_->open) return;
  detail::store(*txn_, *table_).forEachPrefix(prefix, fn);
}

std::unique_ptr<capnp::MessageReader> TableView::floor(std::string_view prefix,
                                                       std::string_view key) const {
  if (!table_->open || key.empty()) return nullptr;
  return detail::store(*txn_, *table_).floor(prefix, key);
}

std::size_t TableView::size() const {
  return table_->open ? detail::store(*txn_, *table_).size() : 0;
}

void Table::put(std::string_view key, capnp::MessageBuilder& value) {
  requireKey(*table_, key);
  detail::store(*txn_, *table_).putMessage(key, value);
}

bool Table::remove(std::string_view key) {
  if (key.empty()) return false;
  return detail::store(*txn_, *table_).remove(key);
}

TableView ReadTxn::table(std::string_view name) const {
  return TableView(state_, &tableNamed(*state_, name));
}

Table WriteTxn::table(std::string_view name) {
  detail::requireWritable(*state_);
  return Table(state_, &tableNamed(*state_, name));
}

// --- record keys -------------------------------------------------------------

std::string recordKey(std::string_view tree, std::uint64_t id, std::uint32_t revision) {
  std::string key(tree);
  key.push_back('\0');
  detail::KeyBytes bytes = detail::encodeKey(id, revision);
  key.append(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  return key;
}

OpaqueKey parseRecordKey(std::string_view key, std::string_view table, std::size_t trailing) {
  auto nul = key.find('\0');
  if (nul == std::string_view::npos || key.size() != nul + 1 + detail::kKeySize + trailing) {
    throw Error(ErrorCode::kCorrupt, "a malformed key in " + std::string(table));
  }
  auto* bytes = reinterpret_cast<const unsigned char*>(key.data() + nul + 1);
  return OpaqueKey{std::string(key.substr(0, nul)), detail::loadBigEndian64(bytes),
                   static_cast<std::uint32_t>(detail::loadBigEndian64(bytes + 8) >> 32)};
}

// --- properties and the end of a transaction ----------------------------------

std::optional<std::string> ReadTxn::property(std::string_view key) const {
  if (key.empty()) return std::nullopt;
  return MetaStore(*state_, state_->db->meta).getText(key);
}

void WriteTxn::setProperty(std::string_view key, std::string_view value) {
  detail::requireWritable(*state_);
  if (key.empty() || detail::reservedProperty(key)) {
    throw Error(ErrorCode::kInvalidArgument, "'" + std::string(key) +
                                                 "' is not a property name: it is empty or one "
                                                 "of hills' own keys (database " +
                                                 state_->db->path + ")");
  }
  MetaStore(*state_, state_->db->meta).putText(key, value);
}

void WriteTxn::setOrigin(std::string_view origin) { state_->origin = origin; }

void WriteTxn::setCommitSync(CommitSync sync) { state_->commitSync = sync; }

void WriteTxn::onCommit(std::function<void()> fn) { state_->commitFns.push_back(std::move(fn)); }

void WriteTxn::onAbort(std::function<void()> fn) { state_->abortFns.push_back(std::move(fn)); }

}  // namespace hills
