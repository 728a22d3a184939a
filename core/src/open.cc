// Opening a database: its environment, the trees it declares or stores,
// their schemas and indexes, the tables of its write hooks; trees declared
// later (Database::declareTrees) and the program's migrations.
#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <filesystem>
#include <random>
#include <set>

#include "hills/database.h"
#include "ids.h"
#include "index_ops.h"
#include "log.h"
#include "schema_registry.h"
#include "state.h"
#include "storage.h"
#include "tables.h"
#include "value_check.h"

namespace hills {

namespace {

constexpr std::uint32_t kFormatVersion = 1;

// Databases this process has open, by (device, inode) of their directory.
std::mutex openMutex;
std::set<std::pair<std::uint64_t, std::uint64_t>> openDatabases;

}  // namespace

void detail::forgetOpen(std::pair<std::uint64_t, std::uint64_t> fileId) {
  std::lock_guard lock(openMutex);
  openDatabases.erase(fileId);
}

using detail::beginTxn;
using detail::checkLmdb;
using detail::DatabaseImpl;
using detail::TreeState;

namespace {

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

// Aborts an LMDB transaction of the opening unless it committed.
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
    std::lock_guard lock(openMutex);
    if (!openDatabases.insert(db.fileId).second) {
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
    meta.putU32("format", kFormatVersion);
    db.uuid = newUuid();
    meta.putText("uuid", db.uuid);
  } else {
    if (*format != kFormatVersion) {
      throw Error(ErrorCode::kCorrupt, "the database " + db.path + " has format version " +
                                           std::to_string(*format) + "; this build reads version " +
                                           std::to_string(kFormatVersion));
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

}  // namespace hills
