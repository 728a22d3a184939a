// The internal state behind Database, its transactions and its trees.
#pragma once

#include <capnp/message.h>
#include <capnp/schema-loader.h>
#include <kj/array.h>
#include <lmdb.h>

#include <atomic>
#include <cstdint>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "event_hub.h"
#include "hills/index.h"
#include "hills/meta.capnp.h"
#include "hills/options.h"
#include "hills/record.capnp.h"
#include "lmdb_util.h"
#include "log.h"

namespace hills::detail {

struct IndexState;
struct JsonPlans;
struct ValuePlans;

struct TreeState {
  std::string name;
  MDB_dbi dbi = 0;
  std::size_t ordinal = 0;  // index in DatabaseImpl::trees
  bool versioned = true;
  std::uint64_t typeId = 0;
  bool compiled = false;       // declared in Options::trees
  capnp::StructSchema schema;  // the stored schema (the newest declared), for the dynamic API
  std::shared_ptr<const ValuePlans> plans;  // how checkValue reads values of `schema`
  std::shared_ptr<const JsonPlans> json;    // how records of `schema` are written as JSON
  const std::string* database = nullptr;  // its path, for messages
  std::vector<IndexState*> indexes;       // indexers of this tree
};

struct IndexState {
  std::string name;
  std::shared_ptr<Indexer> indexer;
  TreeState* tree = nullptr;
  MDB_dbi dbi = 0;
  std::size_t ordinal = 0;  // index in DatabaseImpl::indexes
  bool stale = false;       // to be rebuilt at open
};

// Per write transaction and index: a key at least as large as every key of
// the index, so keys that arrive in order are appended.
struct IndexWrite {
  bool lastKnown = false;
  bool empty = false;
  std::string last;
  Appender appender;
};

// Per write transaction and tree: the id range being used and the greatest
// key the tree may hold (so creates can append).
struct TreeWrite {
  bool idsLoaded = false;
  bool idsDirty = false;
  std::vector<std::pair<std::uint64_t, std::uint64_t>> ranges;  // [next, end)
  bool lastKnown = false;
  KeyBytes last{};  // >= every key in the tree
  Appender appender;
};

struct DatabaseImpl;

// Error(kCorrupt) naming the record, its tree and database.
[[noreturn]] void throwCorrupt(const TreeState& tree, std::uint64_t id, std::uint32_t revision,
                               const kj::Exception& e);

// The envelope at the root of a stored value; Error(kCorrupt) naming the
// record when the root does not decode.
wire::Envelope::Reader envelopeOf(capnp::MessageReader& reader, const TreeState& tree,
                                  std::uint64_t id, std::uint32_t revision);

// Whether a value's address is 8-byte aligned, as Cap'n Proto needs.
inline bool isAligned(const void* p) { return (reinterpret_cast<std::uintptr_t>(p) & 7) == 0; }

struct TxnState {
  TxnState() = default;
  TxnState(const TxnState&) = delete;
  TxnState& operator=(const TxnState&) = delete;
  ~TxnState() {
    if (parkedRead != nullptr) mdb_txn_abort(parkedRead);
  }

  DatabaseImpl* db = nullptr;
  MDB_txn* txn = nullptr;
  // A read transaction reset after its last use, renewed for the next read
  // (mdb_txn_renew): beginning one allocates and zeroes LMDB's per-table
  // arrays, a quarter of a MiB with 4,096 tables. Aborted with the state,
  // which must go before the environment closes.
  MDB_txn* parkedRead = nullptr;
  bool writable = false;
  bool mapFull = false;       // a write hit MDB_MAP_FULL: Database::write grows the map, retries
  bool scratchInUse = false;  // a ValueBuilder holds `scratch`
  std::int64_t now = 0;       // nanoseconds, stamped on this transaction's changes
  std::vector<kj::Array<capnp::word>> copies;  // values that were not aligned
  std::vector<TreeWrite> writes;               // by TreeState::ordinal
  std::vector<Event> events;                   // delivered after commit, when anyone listens
  std::exception_ptr failure;                  // an indexer failed: the transaction must not commit
  std::vector<IndexWrite> indexWrites;         // by IndexState::ordinal
  std::vector<capnp::word> snapshot;           // a copy of a record for indexers
  bool snapshotInUse = false;                  // a Snapshot holds `snapshot`
  std::uint64_t nextSequence = 0;              // of the change log; 0: not read yet
  std::string origin;                          // of local changes (WriteTxn::setOrigin)
  CommitSync commitSync = CommitSync::kFull;   // WriteTxn::setCommitSync
  std::vector<std::function<void()>> commitFns;  // WriteTxn::onCommit
  std::vector<std::function<void()>> abortFns;   // WriteTxn::onAbort
  Appender logAppender;
  kj::Array<capnp::word> scratch;  // first segment of built values, zeroed

  // Words of a stored value, in place when aligned (always, by the layout),
  // else copied and counted. Throws kCorrupt when the size is not whole words.
  kj::ArrayPtr<const capnp::word> words(const MDB_val& v, const TreeState& tree, std::uint64_t id,
                                        std::uint32_t revision) {
    if (v.mv_size != 0 && v.mv_size % sizeof(capnp::word) == 0 && isAligned(v.mv_data)) [[likely]] {
      return {static_cast<const capnp::word*>(v.mv_data), v.mv_size / sizeof(capnp::word)};
    }
    return unusualWords(v, tree, id, revision);
  }
  // words() for values that are empty, not whole words, or not aligned.
  kj::ArrayPtr<const capnp::word> unusualWords(const MDB_val& v, const TreeState& tree,
                                               std::uint64_t id, std::uint32_t revision);
  void reset();

  // Checks the result of an LMDB write call: MDB_MAP_FULL marks the
  // transaction for a retry after growing (LMDB has failed it; the mark
  // survives a caller's catch), and every failure throws.
  template <class What>
  void checkWrite(int rc, What&& what);
};

// An internal table of a write hook.
struct TableState {
  std::string name;
  MDB_dbi dbi = 0;
  bool open = false;  // false: a read-only open did not find it
};

struct DatabaseImpl {
  std::string path;
  Options options;
  MDB_env* env = nullptr;
  MDB_dbi meta = 0;
  std::string uuid;
  std::pair<std::uint64_t, std::uint64_t> fileId{};  // (device, inode) of the directory

  std::vector<std::unique_ptr<TreeState>> trees;
  std::map<std::string, TreeState*, std::less<>> byName;
  std::vector<std::unique_ptr<IndexState>> indexes;
  ChangeLogState log;
  std::map<std::string, IndexState*, std::less<>> indexByName;
  std::map<std::string, std::unique_ptr<TableState>, std::less<>> tables;  // of write hooks
  // Every table of the environment at open, for tools (hills/inspect.h).
  std::map<std::string, MDB_dbi, std::less<>> allTables;

  // Stored schemas of every tree, loaded for the dynamic API.
  capnp::SchemaLoader schemas;

  // Subscribers; shared with Subscription handles, which may outlive this.
  std::shared_ptr<EventHub> hub = std::make_shared<EventHub>();

  // Held shared by every transaction of this process and exclusively to
  // resize the map, which LMDB allows only with no transaction active.
  mutable std::shared_mutex mapLock;
  std::atomic<std::uint64_t> unalignedReads{0};
  std::atomic<std::uint64_t> mapGrowths{0};
  std::uint64_t staleReadersCleared = 0;  // at open
  std::atomic<std::uint64_t> dataSyncCommits{0};  // committed with CommitSync::kData
  bool rangesOnly = false;                // ids only from ranges added (Options::IdSource::kRanges)

  std::mutex spareMutex;
  std::vector<std::unique_ptr<TxnState>> spare;  // recycled transaction states

  ~DatabaseImpl();

  std::unique_ptr<TxnState> takeTxnState(bool writable);
  void returnTxnState(std::unique_ptr<TxnState> state);
  // Aborts the read transactions the spare states keep (TxnState::
  // parkedRead), giving their reader slots back; false when none kept one.
  bool dropParkedReads();

  // Grows the map after a write found it full at `sizeAtFailure` bytes.
  // Throws kMapFull at Options::maxMapSize.
  void growMap(std::size_t sizeAtFailure);
  // Adopts the size another process gave the map.
  void adoptMapSize();
  // The same, for a caller that holds mapLock exclusively.
  void adoptMapSizeLocked();
  std::size_t mapSize() const;
};

// database.cc: how many transactions of `db` this thread is inside of, and
// an LMDB transaction begun, adopting a map another process grew (`lock`:
// this thread's shared hold on the map, released while adopting).
std::size_t transactionsOf(const DatabaseImpl& db);
MDB_txn* beginTxn(DatabaseImpl& db, unsigned flags, std::shared_lock<std::shared_mutex>* lock);

// open.cc: this process no longer has the database of `fileId` open.
void forgetOpen(std::pair<std::uint64_t, std::uint64_t> fileId);

}  // namespace hills::detail

namespace hills::detail {

template <class What>
void TxnState::checkWrite(int rc, What&& what) {
  if (rc == MDB_MAP_FULL) mapFull = true;
  checkLmdb(rc, std::forward<What>(what), db->path);
}

// The message builder for one value: the transaction's zeroed scratch
// segment, or the heap when a body writer builds another value while the
// scratch is taken (it called back into the transaction).
class ValueBuilder {
 public:
  explicit ValueBuilder(TxnState& t) : t_(t) {
    if (!t.scratchInUse) {
      t.scratchInUse = true;
      owner_ = true;
      msg_.emplace(t.scratch.asPtr());
    } else {
      msg_.emplace();
    }
  }
  ~ValueBuilder() {
    msg_.reset();  // zeroes what it used of the scratch
    if (owner_) t_.scratchInUse = false;
  }
  ValueBuilder(const ValueBuilder&) = delete;
  ValueBuilder& operator=(const ValueBuilder&) = delete;

  capnp::MallocMessageBuilder& get() { return *msg_; }

 private:
  TxnState& t_;
  bool owner_ = false;
  std::optional<capnp::MallocMessageBuilder> msg_;
};

}  // namespace hills::detail
