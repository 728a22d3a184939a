// A database's transactions: their states kept for reuse, begun and
// committed as they asked, the map grown under them; and what a program
// reads of the database as a whole (trees, schemas, statistics). Opening
// it is in open.cc.
#include "hills/database.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>

#include "ids.h"
#include "state.h"
#include "storage.h"

namespace hills {

namespace detail {

namespace {

constexpr std::size_t kMaxGrowthStep = std::size_t{1} << 30;

// Databases whose transactions the current thread is inside of.
thread_local std::vector<const DatabaseImpl*> activeTxns;

struct ActiveTxn {
  explicit ActiveTxn(const DatabaseImpl* db) { activeTxns.push_back(db); }
  ~ActiveTxn() { activeTxns.pop_back(); }
};

// At the end of a transaction: events held back while this thread was in
// one (a write to another database from inside it) are delivered now.
struct FlushHeldEvents {
  ~FlushHeldEvents() { EventHub::flushDeferred(); }
};

std::int64_t nowNanos() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

bool insideTransaction() { return !activeTxns.empty(); }

// How many transactions of `db` this thread is inside of.
std::size_t transactionsOf(const DatabaseImpl& db) {
  return static_cast<std::size_t>(std::count(activeTxns.begin(), activeTxns.end(), &db));
}


DatabaseImpl::~DatabaseImpl() {
  spare.clear();  // their parked read transactions, before the environment closes
  if (env != nullptr) mdb_env_close(env);
  forgetOpen(fileId);
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

}  // namespace detail

using detail::beginTxn;
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

}  // namespace

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
