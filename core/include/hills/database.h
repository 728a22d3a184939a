// An embedded database of typed trees, stored in one LMDB environment.
#pragma once

#include <kj/function.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "hills/error.h"
#include "hills/events.h"
#include "hills/options.h"
#include "hills/tree.h"
#include "hills/txn.h"

namespace hills {

namespace detail {
struct DatabaseImpl;

// What a read() or write() function must not return: Cap'n Proto readers
// and the handles that point into the transaction (records, tree views).
template <class R>
    struct IsTxnBound : std::bool_constant < requires {
  typename R::Reads;
} > {};
template <class R>
struct IsTxnBound<std::optional<R>> : IsTxnBound<R> {};
template <TreeRecord T>
struct IsTxnBound<TreeView<T>> : std::true_type {};
template <TreeRecord T>
struct IsTxnBound<Tree<T>> : std::true_type {};
template <>
struct IsTxnBound<GenericTreeView> : std::true_type {};
template <>
struct IsTxnBound<GenericTree> : std::true_type {};
}  // namespace detail

// A tree as the database stores it.
struct TreeInfo {
  std::string name;
  bool versioned = true;
  std::uint64_t typeId = 0;   // Cap'n Proto id of the record struct
  bool compiled = false;      // declared by this program in Options::trees
  std::uint64_t records = 0;  // all revisions counted
};

struct DatabaseStats {
  std::size_t mapSize = 0;                // bytes currently mapped
  std::size_t mapUsed = 0;                // bytes of the map in use
  std::uint64_t mapGrowths = 0;           // times this process grew the map
  std::uint64_t unalignedReads = 0;       // values that had to be copied to be read (expected: 0)
  std::uint64_t staleReadersCleared = 0;  // reader slots of dead processes cleared at open
  std::uint64_t subscriberErrors = 0;     // exceptions event callbacks threw (hills caught them)
  std::uint64_t dataSyncCommits = 0;      // commits of this process made with CommitSync::kData
  bool metaSyncOff = false;               // LMDB's MDB_NOMETASYNC is on now (only inside such a commit)
};

// An open database. Thread-safe: any number of threads may run read() at
// once; write() calls are serialised (across processes too). Move-only.
class Database {
 public:
  // Opens the database in the directory `path`, creating the directory and
  // the database when absent. Creates the trees of options.trees that are
  // missing, stores their schemas, checks each against the stored schema and
  // runs options.migrations. Clears reader slots left by dead processes.
  //
  // Throws Error with:
  //   kAlreadyOpen     this process has that database open already;
  //   kIo              the directory cannot be created, read or written;
  //   kInvalidArgument a tree name in options.trees is empty, starts with
  //                    '_' or is declared twice;
  //   kSchemaMismatch  a compiled type changed a stored field's type (the
  //                    message names the type and the field);
  //   kSchemaVersion   the stored schema version is newer than
  //                    options.schemaVersion;
  //   kCorrupt         the directory holds something that is not a hills
  //                    database, or a damaged one;
  //   kMapFull, kStorage  as write() does, for the opening writes;
  // and passes on what a migration throws.
  explicit Database(const std::string& path, Options options = {});
  ~Database();
  Database(Database&&) noexcept;
  Database& operator=(Database&&) noexcept;

  // Runs fn(const ReadTxn&) in a read transaction (a consistent snapshot)
  // and returns what fn returns. Readers and tree handles obtained inside
  // are valid only there; returning one does not compile. Errors thrown by
  // fn pass through. A read inside a write() on the same thread sees the
  // database as it was before that write. While any read runs, this
  // process cannot grow the map: a write that needs more room waits for
  // the reads of other threads to end, so keep reads short.
  template <class F>
  auto read(F&& fn) const {
    using R = std::invoke_result_t<F&, const ReadTxn&>;
    static_assert(!detail::IsTxnBound<std::decay_t<R>>::value,
                  "a Reader or tree handle must not escape its transaction: return owned data");
    if constexpr (std::is_void_v<R>) {
      runRead([&](const ReadTxn& txn) { fn(txn); });
    } else {
      std::optional<R> out;
      runRead([&](const ReadTxn& txn) { out.emplace(fn(txn)); });
      return std::move(*out);
    }
  }

  // Runs fn(WriteTxn&) in a write transaction and commits it when fn
  // returns; when fn throws, nothing of it is kept and the exception passes
  // through. When the map is full, hills aborts, grows the map and runs fn
  // again from the start, so fn must not have effects outside the
  // transaction that cannot be repeated. Returns what fn returns. Blocks
  // while another write transaction runs (in this or another process).
  // Events of the commit are delivered before it returns (see subscribe).
  //
  // Throws what fn throws, and Error with:
  //   kInvalidArgument the database is open read-only, or this thread is
  //                    inside a read() or write() of the same database;
  //   kMapFull         the map reached Options::maxMapSize;
  //   kIo              the disk refused the commit (full, read-only...);
  //   kStorage         any other LMDB failure.
  template <class F>
  auto write(F&& fn) {
    using R = std::invoke_result_t<F&, WriteTxn&>;
    static_assert(!detail::IsTxnBound<std::decay_t<R>>::value,
                  "a Reader or tree handle must not escape its transaction: return owned data");
    if constexpr (std::is_void_v<R>) {
      runWrite([&](WriteTxn& txn) { fn(txn); });
    } else {
      std::optional<R> out;
      runWrite([&](WriteTxn& txn) { out.emplace(fn(txn)); });
      return std::move(*out);
    }
  }

  // Calls fn(event) for every committed change that `filter` matches, on the
  // committing thread, after the commit, in commit order; never for a
  // transaction that did not commit. An exception fn throws is caught and
  // counted (DatabaseStats::subscriberErrors): other subscribers still get
  // the event and the commit stands. fn may read and write the database;
  // the events of a write it makes are delivered after the current event's
  // delivery is over. A subscriber never runs inside a transaction: the
  // events of a write made inside another database's read() or write() are
  // delivered when that transaction ends. Thread-safe.
  Subscription subscribe(EventFilter filter, std::function<void(const Event&)> fn);

  // The same for the changes of T's tree, with typed keys. `kinds` empty: all.
  template <TreeRecord T>
  Subscription subscribe(std::function<void(const Event&, Key<T>)> fn,
                         std::vector<EventKind> kinds = {}) {
    EventFilter filter{{std::string(RecordTraits<T>::tree)}, std::move(kinds)};
    return subscribe(std::move(filter), [fn = std::move(fn)](const Event& e) {
      fn(e, Key<T>{e.key.id, e.key.revision});
    });
  }

  // A queue that receives every matching event, for another thread to take
  // (see EventQueue).
  EventQueue queue(EventFilter filter = {});

  // The trees the database holds, by name.
  std::vector<TreeInfo> trees() const;

  // Adds the trees of `types` that the database lacks and stores schemas
  // newer than the stored ones, as opening with them in Options::trees
  // would; the trees are not "compiled" (TreeInfo::compiled). What a
  // service does with the schemas its peers bring. Waits for this
  // process's transactions to end. Throws kSchemaMismatch naming the type
  // and field (and changes nothing), kInvalidArgument for a reserved name, a
  // read-only database, or a call from inside read() or write().
  void declareTrees(const std::vector<TreeType>& types);

  // The stored schema of a tree, complete enough to decode its records with
  // Cap'n Proto's dynamic API. Throws kUnknownTree.
  capnp::StructSchema storedSchema(std::string_view tree) const;

  // The 128-bit identity of this database, made when it was created, as 32
  // hex digits.
  std::string uuid() const;

  // The directory of the database.
  const std::string& path() const;

  DatabaseStats stats() const;

  // Writes a compacted copy of the database (LMDB's mdb_env_copy2 with
  // MDB_CP_COMPACT: free pages left out) into the directory `dir`, created
  // when absent. The copy is one consistent snapshot, read in a read
  // transaction: writers, in this and other processes, go on meanwhile.
  // It opens as a database of its own, with the same uuid. Throws
  // Error(kInvalidArgument) when `dir` holds a database already, kIo when
  // it cannot be created or written, kStorage for other LMDB failures.
  void copyTo(const std::string& dir) const;

 private:
  void migrate();
  void runRead(kj::FunctionParam<void(const ReadTxn&)> fn) const;
  void runWrite(kj::FunctionParam<void(WriteTxn&)> fn);

  std::unique_ptr<detail::DatabaseImpl> impl_;
};

}  // namespace hills
