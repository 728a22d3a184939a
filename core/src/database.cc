#include "hills/database.h"

#include <capnp/serialize.h>
#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <random>
#include <set>

#include "ids.h"
#include "index_ops.h"
#include "log.h"
#include "schema_registry.h"
#include "state.h"
#include "storage.h"
#include "tables.h"
#include "value_check.h"

namespace hills {

namespace detail {

namespace {

constexpr std::uint32_t kFormatVersion = 1;
constexpr std::size_t kMaxGrowthStep = std::size_t{1} << 30;

// Databases this process has open, by (device, inode) of their directory.
std::mutex openMutex;
std::set<std::pair<std::uint64_t, std::uint64_t>> openDatabases;

// Databases whose transactions the current thread is inside of.
thread_local std::vector<const DatabaseImpl*> activeTxns;

struct ActiveTxn {
  explicit ActiveTxn(const DatabaseImpl* db) { activeTxns.push_back(db); }
  ~ActiveTxn() { activeTxns.pop_back(); }
};

// How many transactions of `db` this thread is inside of.
std::size_t transactionsOf(const DatabaseImpl& db) {
  return static_cast<std::size_t>(std::count(activeTxns.begin(), activeTxns.end(), &db));
}

// At the end of a transaction: events held back while this thread was in
// one (a write to another database from inside it) are delivered now.
struct FlushHeldEvents {
  ~FlushHeldEvents() { EventHub::flushDeferred(); }
};

std::string newUuid() {
  std::random_device rd;
  std::string out;
  static const char* hex = "0123456789abcdef";
  for (int i = 0; i < 16; ++i) {
    auto b = static_cast<unsigned>(rd()) & 0xff;
    if (i == 6) b = (b & 0x0f) | 0x40;  // version 4
    if (i == 8) b = (b & 0x3f) | 0x80;  // variant 1
    out += hex[b >> 4];
    out += hex[b & 15];
  }
  return out;
}

std::int64_t nowNanos() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

bool insideTransaction() { return !activeTxns.empty(); }

DatabaseImpl::~DatabaseImpl() {
  spare.clear();  // their parked read transactions, before the environment closes
  if (env != nullptr) mdb_env_close(env);
  std::lock_guard lock(openMutex);
  openDatabases.erase(fileId);
}

std::unique_ptr<TxnState> DatabaseImpl::takeTxnState(bool writable) {
  std::unique_ptr<TxnState> state;
  {
    std::lock_guard lock(spareMutex);
    if (!spare.empty()) {
      state = std::move(spare.back());
      spare.pop_back();
    }
  }
  if (!state) state = std::make_unique<TxnState>();
  if (writable && state->parkedRead != nullptr) {
    // A reader slot held through a write is one a reader may need.
    mdb_txn_abort(state->parkedRead);
    state->parkedRead = nullptr;
  }
  state->db = this;
  state->writable = writable;
  state->mapFull = false;
  state->now = writable ? nowNanos() : 0;
  if (writable) {
    state->writes.assign(trees.size(), TreeWrite{});
    state->indexWrites.assign(indexes.size(), IndexWrite{});
    if (state->scratch.size() == 0) {
      // Cap'n Proto requires a zeroed first segment, and zeroes what it used
      // when the builder goes away, so this is done once.
      state->scratch = kj::heapArray<capnp::word>(kScratchWords);
      std::memset(state->scratch.begin(), 0, state->scratch.size() * sizeof(capnp::word));
    }
  }
  return state;
}

bool DatabaseImpl::dropParkedReads() {
  bool dropped = false;
  std::lock_guard lock(spareMutex);
  for (auto& state : spare) {
    if (state->parkedRead == nullptr) continue;
    mdb_txn_abort(state->parkedRead);
    state->parkedRead = nullptr;
    dropped = true;
  }
  return dropped;
}

void DatabaseImpl::returnTxnState(std::unique_ptr<TxnState> state) {
  state->reset();
  std::lock_guard lock(spareMutex);
  if (spare.size() < 8) spare.push_back(std::move(state));
}

std::size_t DatabaseImpl::mapSize() const {
  MDB_envinfo info;
  mdb_env_info(env, &info);
  return info.me_mapsize;
}

void DatabaseImpl::growMap(std::size_t sizeAtFailure) {
  std::unique_lock lock(mapLock);
  std::size_t current = mapSize();
  if (current > sizeAtFailure) return;  // another writer of this process grew it already
  std::size_t limit = options.maxMapSize;
  if (limit != 0 && current >= limit) {
    throw Error(ErrorCode::kMapFull, "the database map is full at " + std::to_string(current) +
                                         " bytes, the configured maximum (database " + path + ")");
  }
  std::size_t next = current + std::min(current, kMaxGrowthStep);
  if (limit != 0) next = std::min(next, limit);
  checkLmdb(mdb_env_set_mapsize(env, next), "growing the map", path);
  mapGrowths.fetch_add(1, std::memory_order_relaxed);
}

void DatabaseImpl::adoptMapSize() {
  std::unique_lock lock(mapLock);
  adoptMapSizeLocked();
}

void DatabaseImpl::adoptMapSizeLocked() {
  checkLmdb(mdb_env_set_mapsize(env, 0), "adopting the map size of another process", path);
}

}  // namespace detail

using detail::checkLmdb;
using detail::DatabaseImpl;
using detail::TreeState;
using detail::TxnState;

namespace {

// Commits a write transaction the way it asked (WriteTxn::setCommitSync).
// LMDB reads its environment's flags when mdb_txn_commit writes the meta
// page (mdb_env_write_meta: MDB_NOMETASYNC picks the file handle without
// O_DSYNC); the data pages are still synced first (mdb_env_sync, which
// only MDB_NOSYNC skips). mdb_env_set_flags takes no lock, and only the
// thread holding LMDB's writer lock commits, so the flag set around this
// one commit applies to it alone; read transactions of other threads do
// not look at it. Restoring it cannot fail: LMDB refuses only flags
// outside its changeable set, which MDB_NOMETASYNC is in.
int commitTxn(DatabaseImpl& db, TxnState& state) {
  bool dataOnly = state.commitSync == CommitSync::kData && db.options.durable;
  if (!dataOnly || mdb_env_set_flags(db.env, MDB_NOMETASYNC, 1) != MDB_SUCCESS) {
    return mdb_txn_commit(state.txn);
  }
  int rc = mdb_txn_commit(state.txn);
  if (mdb_env_set_flags(db.env, MDB_NOMETASYNC, 0) != MDB_SUCCESS) {
    // Every later commit would skip its meta sync: durability silently lost.
    std::fprintf(stderr, "hills: cannot restore the meta page's sync of %s\n", db.path.c_str());
    std::abort();
  }
  if (rc == MDB_SUCCESS) db.dataSyncCommits.fetch_add(1, std::memory_order_relaxed);
  return rc;
}

// Begins an LMDB transaction, adopting a map another process grew. `lock`
// is this thread's shared hold on the map, released while adopting.
MDB_txn* beginTxn(DatabaseImpl& db, unsigned flags, std::shared_lock<std::shared_mutex>* lock) {
  for (int attempt = 0;; ++attempt) {
    MDB_txn* txn = nullptr;
    int rc = mdb_txn_begin(db.env, nullptr, flags, &txn);
    if (rc == MDB_READERS_FULL && (flags & MDB_RDONLY) && attempt < 3 && db.dropParkedReads()) {
      continue;  // their slots are free now
    }
    if (rc == MDB_MAP_RESIZED && attempt < 3) {
      // Adopting the new size needs every transaction of this process ended;
      // a thread already inside one of this database's transactions would
      // wait for itself.
      if (detail::transactionsOf(db) > 1) {
        throw Error(ErrorCode::kStorage,
                    "another process grew the map of the database " + db.path +
                        "; this thread must end its open transaction before it starts another");
      }
      if (lock) lock->unlock();
      db.adoptMapSize();
      if (lock) lock->lock();
      continue;
    }
    checkLmdb(rc,
              flags & MDB_RDONLY ? "beginning a read transaction" : "beginning a write transaction",
              db.path);
    return txn;
  }
}

// Ends a transaction of Database::read/write: aborts it unless it committed,
// and keeps its state for the next transaction.
struct TxnEnd {
  DatabaseImpl& db;
  std::unique_ptr<TxnState>& state;
  ~TxnEnd() {
    if (state->txn != nullptr) {
      if (state->writable) {
        mdb_txn_abort(state->txn);
      } else {
        mdb_txn_reset(state->txn);
        state->parkedRead = state->txn;
      }
    }
    state->txn = nullptr;
    db.returnTxnState(std::move(state));
  }
};

// A read transaction for `state`: its parked one renewed, or a new one.
MDB_txn* beginRead(DatabaseImpl& db, TxnState& state, std::shared_lock<std::shared_mutex>* lock) {
  if (MDB_txn* parked = std::exchange(state.parkedRead, nullptr)) {
    if (mdb_txn_renew(parked) == MDB_SUCCESS) return parked;
    // The map grew in another process, or the reader slot is gone: a new
    // transaction deals with it.
    mdb_txn_abort(parked);
  }
  return beginTxn(db, MDB_RDONLY, lock);
}

// Runs a write transaction's onAbort callbacks, while it still holds the
// writer lock (they undo what an extension keeps in memory for it).
void runAbortFns(TxnState& state) {
  auto fns = std::move(state.abortFns);
  state.abortFns.clear();
  state.commitFns.clear();
  for (auto& fn : fns) fn();
}

struct TxnGuard {
  MDB_txn* txn;
  ~TxnGuard() {
    if (txn != nullptr) mdb_txn_abort(txn);
  }
};

void openTree(DatabaseImpl& db, MDB_txn* txn, const std::string& name, bool versioned,
              std::uint64_t typeId, bool compiled) {
  auto tree = std::make_unique<TreeState>();
  tree->name = name;
  tree->database = &db.path;
  tree->versioned = versioned;
  tree->typeId = typeId;
  tree->compiled = compiled;
  tree->ordinal = db.trees.size();
  unsigned flags = db.options.readOnly ? 0 : MDB_CREATE;
  int rc = mdb_dbi_open(txn, name.c_str(), flags, &tree->dbi);
  if (rc == MDB_NOTFOUND) return;  // read-only and never written: nothing to read
  checkLmdb(rc, "opening tree '" + name + "'", db.path);
  checkLmdb(mdb_set_compare(txn, tree->dbi, &detail::compareRecordKeys),
            "setting the key order of tree '" + name + "'", db.path);
  db.byName.emplace(name, tree.get());
  db.trees.push_back(std::move(tree));
}

// Checks `type` against the stored schema of its tree, stores the schema
// when it is newer, and opens the tree when it is not open yet.
void declareTree(DatabaseImpl& db, MDB_txn* txn, detail::MetaStore& meta, const TreeType& type,
                 bool compiled) {
  std::string key = "schema:" + type.tree;
  bool store = true;
  if (auto stored = meta.getMessage(key)) {
    auto reader = stored->getRoot<wire::TreeSchema>();
    store = detail::checkTreeSchema(reader, type);
    if (!store) detail::loadTreeSchema(db.schemas, reader);
  }
  if (store) {
    capnp::MallocMessageBuilder msg;
    detail::buildTreeSchema(type, msg.initRoot<wire::TreeSchema>());
    detail::loadTreeSchema(db.schemas, msg.getRoot<wire::TreeSchema>().asReader());
    if (!db.options.readOnly && !meta.holds(key, msg)) meta.putMessage(key, msg);
  }
  auto open = db.byName.find(type.tree);
  if (open == db.byName.end()) {
    openTree(db, txn, type.tree, type.versioned, type.schema.getProto().getId(), compiled);
  } else {
    detail::setSchema(*open->second, db.schemas.get(open->second->typeId).asStruct());
  }
}

void openIndexes(DatabaseImpl& db, MDB_txn* txn, detail::MetaStore& meta) {
  const bool readOnly = db.options.readOnly;
  for (const auto& indexer : db.options.indexers) {
    if (!indexer)
      throw Error(ErrorCode::kInvalidArgument, "Options::indexers holds a null indexer");
    std::string name = indexer->name(), tree = indexer->tree();
    bool valid = !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
      return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.';
    });
    if (!valid) {
      throw Error(ErrorCode::kInvalidArgument,
                  "indexer name '" + name +
                      "' is empty or has characters other than letters, "
                      "digits, '-', '_' and '.'");
    }
    if (db.indexByName.count(name)) {
      throw Error(ErrorCode::kInvalidArgument, "two indexers are named '" + name + "'");
    }
    auto treeIt = db.byName.find(tree);
    if (treeIt == db.byName.end()) {
      throw Error(ErrorCode::kInvalidArgument, "indexer '" + name + "' indexes tree '" + tree +
                                                   "', which the database " + db.path +
                                                   " does not have");
    }
    auto ix = std::make_unique<detail::IndexState>();
    ix->name = name;
    ix->indexer = indexer;
    ix->tree = treeIt->second;
    ix->ordinal = db.indexes.size();
    unsigned flags = MDB_DUPSORT | MDB_DUPFIXED | (readOnly ? 0 : MDB_CREATE);
    int rc = mdb_dbi_open(txn, ("_index:" + name).c_str(), flags, &ix->dbi);
    auto stamp = detail::IndexOps::stamp(*ix);
    if (rc == MDB_SUCCESS) ix->stale = meta.getText("index:" + name) != stamp;
    if (readOnly && (rc == MDB_NOTFOUND || ix->stale)) {
      throw Error(ErrorCode::kInvalidArgument,
                  "index '" + name + "' of the database " + db.path +
                      " is missing or was built by another version; a read-write open rebuilds it");
    }
    checkLmdb(
        rc, [&] { return "opening index '" + name + "'"; }, db.path);
    treeIt->second->indexes.push_back(ix.get());
    db.indexByName.emplace(name, ix.get());
    db.indexes.push_back(std::move(ix));
  }
}

void openDatabase(DatabaseImpl& db) {
  std::error_code ec;
  if (!db.options.readOnly) std::filesystem::create_directories(db.path, ec);
  struct stat st {};
  if (ec || ::stat(db.path.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    throw Error(ErrorCode::kIo, "cannot create or open the database directory " + db.path + ": " +
                                    (ec ? ec.message() : std::string(std::strerror(errno))));
  }
  db.fileId = {static_cast<std::uint64_t>(st.st_dev), static_cast<std::uint64_t>(st.st_ino)};
  {
    std::lock_guard lock(detail::openMutex);
    if (!detail::openDatabases.insert(db.fileId).second) {
      db.fileId = {};  // not ours to unregister
      throw Error(ErrorCode::kAlreadyOpen,
                  "the database " + db.path +
                      " is open in this process already; share that Database object instead");
    }
  }

  const auto& o = db.options;
  checkLmdb(mdb_env_create(&db.env), "creating the environment", db.path);
  checkLmdb(mdb_env_set_maxreaders(db.env, o.maxReaders), "setting max readers", db.path);
  checkLmdb(mdb_env_set_maxdbs(db.env, o.maxTables), "setting max tables", db.path);
  std::error_code existsError;
  bool fresh = !std::filesystem::exists(std::filesystem::path(db.path) / "data.mdb", existsError);
  if (fresh)
    checkLmdb(mdb_env_set_mapsize(db.env, o.initialMapSize), "setting the map size", db.path);
  unsigned flags = MDB_NOTLS | (o.durable ? 0 : MDB_NOSYNC) | (o.readOnly ? MDB_RDONLY : 0);
  checkLmdb(mdb_env_open(db.env, db.path.c_str(), flags, 0664), "opening the database", db.path);
  int dead = 0;
  checkLmdb(mdb_reader_check(db.env, &dead), "clearing stale readers", db.path);
  db.staleReadersCleared = static_cast<std::uint64_t>(dead);

  MDB_txn* txn = beginTxn(db, o.readOnly ? MDB_RDONLY : 0, nullptr);
  TxnGuard guard{txn};

  int rc = mdb_dbi_open(txn, "_meta", o.readOnly ? 0 : MDB_CREATE, &db.meta);
  if (rc == MDB_NOTFOUND) {
    throw Error(ErrorCode::kCorrupt, "the directory " + db.path + " holds no hills database");
  }
  checkLmdb(rc, "opening _meta", db.path);

  detail::MetaStore meta(txn, db.meta, db.path);
  auto format = meta.getU32("format");
  if (!format) {
    MDB_stat stat;
    checkLmdb(mdb_stat(txn, MDB_dbi(1), &stat), "reading the main table", db.path);
    if (!fresh && stat.ms_entries > 1) {
      throw Error(ErrorCode::kCorrupt, "the directory " + db.path +
                                           " holds an LMDB database that is not a hills database");
    }
    if (o.readOnly) throw Error(ErrorCode::kCorrupt, "the database " + db.path + " is empty");
    meta.putU32("format", detail::kFormatVersion);
    db.uuid = detail::newUuid();
    meta.putText("uuid", db.uuid);
  } else {
    if (*format != detail::kFormatVersion) {
      throw Error(ErrorCode::kCorrupt, "the database " + db.path + " has format version " +
                                           std::to_string(*format) + "; this build reads version " +
                                           std::to_string(detail::kFormatVersion));
    }
    db.uuid = meta.getText("uuid").value_or("");
  }

  // Stored schemas are decoded here: a damaged one is a clear error, not a
  // Cap'n Proto exception from deep inside.
  try {
    // Declared trees: check against the stored schema, store the newer one.
    std::set<std::string> declared;
    for (const auto& type : o.trees) {
      if (type.tree.empty() || type.tree[0] == '_') {
        throw Error(ErrorCode::kInvalidArgument,
                    "tree name '" + type.tree + "' is reserved or empty");
      }
      if (!declared.insert(type.tree).second) {
        throw Error(ErrorCode::kInvalidArgument, "tree '" + type.tree + "' is declared twice");
      }
      declareTree(db, txn, meta, type, true);
    }

    // Trees only stored: generic access through their stored schemas.
    meta.forEachPrefix("schema:", [&](std::string_view key, capnp::MessageReader& msg) {
      std::string name(key.substr(7));
      if (declared.count(name)) return true;
      auto reader = msg.getRoot<wire::TreeSchema>();
      detail::loadTreeSchema(db.schemas, reader);
      openTree(db, txn, name, reader.getVersioned(), reader.getTypeId(), false);
      return true;
    });

    for (auto& tree : db.trees) detail::setSchema(*tree, db.schemas.get(tree->typeId).asStruct());
  } catch (const kj::Exception& e) {
    throw Error(ErrorCode::kCorrupt, "the stored schemas of the database " + db.path +
                                         " do not decode: " + e.getDescription().cStr());
  }

  openIndexes(db, txn, meta);
  detail::openChangeLog(db, txn);
  detail::openHookTables(db, txn);
  detail::openAllTables(db, txn);
  // A database that took its ids from ranges another one granted must never
  // mint its own: they could be the grantor's.
  bool rangesOnly = meta.getU32(detail::kRangesOnlyKey).value_or(0) == 1;
  db.rangesOnly = rangesOnly || o.ids == Options::IdSource::kRanges;
  if (db.rangesOnly && !rangesOnly && !o.readOnly) meta.putU32(detail::kRangesOnlyKey, 1);

  // Committing (a read-only transaction too) keeps the DBI handles opened in it.
  guard.txn = nullptr;
  checkLmdb(mdb_txn_commit(txn), "committing the opening transaction", db.path);
}

}  // namespace

void Database::declareTrees(const std::vector<TreeType>& types) {
  DatabaseImpl& db = *impl_;
  if (db.options.readOnly) {
    throw Error(ErrorCode::kInvalidArgument,
                "trees cannot be declared in the read-only database " + db.path);
  }
  for (const auto& type : types) {
    if (type.tree.empty() || type.tree[0] == '_') {
      throw Error(ErrorCode::kInvalidArgument,
                  "tree name '" + type.tree + "' is reserved or empty");
    }
  }
  if (detail::transactionsOf(db) > 0) {
    throw Error(ErrorCode::kInvalidArgument,
                "declareTrees() called inside a read() or write() of the database " + db.path);
  }
  // Nothing to do when every tree is open with exactly these schemas (a
  // server hears them from every peer): checked without stopping
  // anyone.
  bool current = true;
  runRead([&](const ReadTxn& txn) {
    detail::MetaStore meta(txn.state_->txn, db.meta, db.path);
    for (const auto& type : types) {
      capnp::MallocMessageBuilder msg;
      detail::buildTreeSchema(type, msg.initRoot<wire::TreeSchema>());
      if (!db.byName.count(type.tree) || !meta.holds("schema:" + type.tree, msg)) {
        current = false;
        return;
      }
    }
  });
  if (current) return;
  // No transaction of this process may run while trees are added.
  std::unique_lock lock(db.mapLock);
  MDB_txn* txn = nullptr;
  int rc = mdb_txn_begin(db.env, nullptr, 0, &txn);
  if (rc == MDB_MAP_RESIZED) {
    // Another process grew the map: adopted here, where this thread holds
    // the map lock already.
    db.adoptMapSizeLocked();
    rc = mdb_txn_begin(db.env, nullptr, 0, &txn);
  }
  checkLmdb(rc, "beginning a write transaction", db.path);
  TxnGuard guard{txn};
  detail::MetaStore meta(txn, db.meta, db.path);
  // Every schema is checked before anything is opened, so a refusal leaves
  // the database as it was.
  for (const auto& type : types) {
    if (auto stored = meta.getMessage("schema:" + type.tree)) {
      try {
        detail::checkTreeSchema(stored->getRoot<wire::TreeSchema>(), type);
      } catch (const kj::Exception& e) {
        throw Error(ErrorCode::kCorrupt, "the stored schema of tree '" + type.tree +
                                             "' does not decode (database " + db.path +
                                             "): " + e.getDescription().cStr());
      }
    }
  }
  std::size_t opened = db.trees.size();
  try {
    for (const auto& type : types) declareTree(db, txn, meta, type, false);
    for (std::size_t i = opened; i < db.trees.size(); ++i) {
      detail::setSchema(*db.trees[i], db.schemas.get(db.trees[i]->typeId).asStruct());
    }
    guard.txn = nullptr;
    checkLmdb(mdb_txn_commit(txn), "committing new trees", db.path);
  } catch (...) {
    // Trees opened by a transaction that did not commit have no handle.
    while (db.trees.size() > opened) {
      db.byName.erase(db.trees.back()->name);
      db.trees.pop_back();
    }
    throw;
  }
}

Database::Database(const std::string& path, Options options)
    : impl_(std::make_unique<DatabaseImpl>()) {
  impl_->path = path;
  impl_->options = std::move(options);
  openDatabase(*impl_);
  for (auto& ix : impl_->indexes) {
    if (!ix->stale) continue;
    write([&](WriteTxn& txn) {
      detail::IndexOps::rebuild(*txn.state_, *ix, impl_->options.indexProgress);
    });
    ix->stale = false;
  }
  migrate();
}

void Database::migrate() {
  const Options& o = impl_->options;
  // A program that declares no schema version does not take part.
  if (o.schemaVersion == 0 && o.migrations.empty()) return;
  auto tooNew = [&](std::uint32_t stored) {
    return Error(ErrorCode::kSchemaVersion,
                 "the database " + impl_->path + " has schema version " + std::to_string(stored) +
                     ", newer than this program's " + std::to_string(o.schemaVersion) +
                     "; an older program must not rewrite newer data");
  };
  auto storedVersion = [&](MDB_txn* txn) {
    return detail::MetaStore(txn, impl_->meta, impl_->path).getU32("schemaVersion").value_or(0);
  };
  std::uint32_t stored = read([&](const ReadTxn& txn) { return storedVersion(txn.state_->txn); });
  if (stored > o.schemaVersion) throw tooNew(stored);
  if (stored == o.schemaVersion) return;
  if (o.readOnly) {
    throw Error(ErrorCode::kSchemaVersion, "the database " + impl_->path + " has schema version " +
                                               std::to_string(stored) + " and needs migrating to " +
                                               std::to_string(o.schemaVersion) +
                                               ", which a read-only open cannot do");
  }
  auto migrations = o.migrations;
  std::sort(migrations.begin(), migrations.end(),
            [](const Migration& a, const Migration& b) { return a.toVersion < b.toVersion; });
  write([&](WriteTxn& txn) {
    std::uint32_t current = storedVersion(txn.state_->txn);  // another process may have migrated
    if (current > o.schemaVersion) throw tooNew(current);
    for (const auto& m : migrations) {
      if (m.toVersion <= current || m.toVersion > o.schemaVersion) continue;
      if (m.run) m.run(txn);
    }
    detail::MetaStore(txn.state_->txn, impl_->meta, impl_->path, &txn.state_->mapFull)
        .putU32("schemaVersion", o.schemaVersion);
  });
}

Database::~Database() = default;
Database::Database(Database&&) noexcept = default;
Database& Database::operator=(Database&&) noexcept = default;

void Database::runRead(kj::FunctionParam<void(const ReadTxn&)> fn) const {
  DatabaseImpl& db = *impl_;
  detail::FlushHeldEvents flush;
  std::shared_lock lock(db.mapLock);
  detail::ActiveTxn active(&db);
  auto state = db.takeTxnState(false);
  state->txn = beginRead(db, *state, &lock);
  TxnEnd end{db, state};
  ReadTxn txn(state.get());
  fn(txn);
}

void Database::runWrite(kj::FunctionParam<void(WriteTxn&)> fn) {
  DatabaseImpl& db = *impl_;
  if (db.options.readOnly) {
    throw Error(ErrorCode::kInvalidArgument, "the database " + db.path + " is open read-only");
  }
  if (detail::transactionsOf(db) > 0) {
    throw Error(ErrorCode::kInvalidArgument,
                "write() called inside a read() or write() of the same database on the same "
                "thread (database " +
                    db.path + ")");
  }
  detail::FlushHeldEvents flush;
  for (;;) {
    std::size_t sizeAtStart = 0;
    int rc = MDB_SUCCESS;
    bool notify = false;
    std::uint64_t ticket = 0;
    std::vector<Event> events;
    std::vector<std::function<void()>> committed;
    {
      std::shared_lock lock(db.mapLock);
      detail::ActiveTxn active(&db);
      sizeAtStart = db.mapSize();
      auto state = db.takeTxnState(true);
      state->txn = beginTxn(db, 0, &lock);
      TxnEnd end{db, state};
      WriteTxn txn(state.get());
      try {
        fn(txn);
        // An indexer's or hook's failure aborts the transaction even when fn
        // caught it.
        if (state->failure && !state->mapFull) std::rethrow_exception(state->failure);
        if (!state->mapFull) detail::flushIds(*state);
      } catch (...) {
        if (!state->mapFull) {
          runAbortFns(*state);
          throw;
        }
      }
      if (state->mapFull) {
        runAbortFns(*state);
        rc = MDB_MAP_FULL;
      } else {
        // The ticket is taken under LMDB's writer lock, so tickets follow
        // commit order.
        notify = !state->events.empty();
        if (notify) ticket = db.hub->takeTicket();
        rc = commitTxn(db, *state);
        state->txn = nullptr;
        if (rc == MDB_SUCCESS) {
          events = std::move(state->events);
          committed = std::move(state->commitFns);
        } else {
          runAbortFns(*state);
        }
      }
    }
    // Delivered with no transaction of ours active, so subscribers may read
    // and write; a failed commit passes its turn on with no events.
    if (notify) db.hub->deliver(ticket, std::move(events));
    for (auto& done : committed) done();
    if (rc == MDB_SUCCESS) return;
    if (rc != MDB_MAP_FULL) checkLmdb(rc, "committing a write transaction", db.path);
    db.growMap(sizeAtStart);
  }
}

std::vector<TreeInfo> Database::trees() const {
  std::vector<TreeInfo> out;
  read([&](const ReadTxn& txn) {
    for (const auto& [name, tree] : impl_->byName) {
      out.push_back(
          TreeInfo{name, tree->versioned, tree->typeId, tree->compiled, txn.tree(name).size()});
    }
  });
  return out;
}

Subscription Database::subscribe(EventFilter filter, std::function<void(const Event&)> fn) {
  return Subscription(impl_->hub, impl_->hub->add(std::move(filter), std::move(fn)));
}

EventQueue Database::queue(EventFilter filter) {
  auto state = std::make_shared<detail::QueueState>();
  auto sub = subscribe(std::move(filter), [state](const Event& e) { state->push(e); });
  return EventQueue(std::move(state), std::move(sub));
}

capnp::StructSchema Database::storedSchema(std::string_view tree) const {
  // declareTrees() adds trees under the map lock; a thread inside one of
  // this database's transactions holds it shared already.
  std::shared_lock lock(impl_->mapLock, std::defer_lock);
  if (detail::transactionsOf(*impl_) == 0) {
    lock.lock();
  }
  auto it = impl_->byName.find(tree);
  if (it == impl_->byName.end()) {
    throw Error(ErrorCode::kUnknownTree,
                "the database " + impl_->path + " has no tree '" + std::string(tree) + "'");
  }
  return impl_->schemas.get(it->second->typeId).asStruct();
}

std::string Database::uuid() const { return impl_->uuid; }

const std::string& Database::path() const { return impl_->path; }

DatabaseStats Database::stats() const {
  DatabaseStats s;
  // mdb_env_info and mdb_env_stat read the map, which growing it replaces.
  std::shared_lock lock(impl_->mapLock);
  MDB_envinfo info;
  MDB_stat stat;
  mdb_env_info(impl_->env, &info);
  mdb_env_stat(impl_->env, &stat);
  s.mapSize = info.me_mapsize;
  s.mapUsed = (info.me_last_pgno + 1) * static_cast<std::size_t>(stat.ms_psize);
  s.mapGrowths = impl_->mapGrowths.load(std::memory_order_relaxed);
  s.unalignedReads = impl_->unalignedReads.load(std::memory_order_relaxed);
  s.subscriberErrors = impl_->hub->subscriberErrors();
  s.staleReadersCleared = impl_->staleReadersCleared;
  s.dataSyncCommits = impl_->dataSyncCommits.load(std::memory_order_relaxed);
  unsigned flags = 0;
  s.metaSyncOff = mdb_env_get_flags(impl_->env, &flags) == MDB_SUCCESS && (flags & MDB_NOMETASYNC);
  return s;
}

}  // namespace hills
