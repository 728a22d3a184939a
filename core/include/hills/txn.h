// Transactions and untyped access to trees.
//
// Database::read and Database::write hand a ReadTxn or WriteTxn to a function
// and end the transaction when it returns. Typed code then works through
// txn.tree<T>() (hills/tree.h); generic code (the viewer, tools, extensions) works
// through txn.tree("name"), which this header declares. Extensions (write
// hooks, hills/write_hook.h) keep their own tables (hills/table.h) and
// properties in the same transactions.
#pragma once

#include <capnp/any.h>
#include <capnp/message.h>
#include <capnp/schema.h>
#include <kj/exception.h>
#include <kj/function.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "hills/error.h"
#include "hills/events.h"
#include "hills/key.h"
#include "hills/record.capnp.h"
#include "hills/record_traits.h"
#include "hills/table.h"

namespace hills {

namespace detail {
struct TxnState;
struct TreeState;
struct IndexOps;
struct TxnAccess;
struct Snapshot;
struct InPlace;
}  // namespace detail

template <TreeRecord T>
class TreeView;
template <TreeRecord T>
class Tree;
class GenericTreeView;
class GenericTree;
class IndexView;

enum class State : std::uint8_t {
  kDraft,     // may be updated and removed
  kReleased,  // frozen: data never changes, cannot be removed
};

std::string_view toString(State state);

// The bookkeeping hills keeps beside every record's data.
struct RecordMeta {
  State state = State::kDraft;
  std::uint32_t lifecycle = 0;  // the application's own state of the record
  std::chrono::system_clock::time_point created;
  std::chrono::system_clock::time_point modified;
  std::string author;
  std::uint32_t dataIteration = 0;  // bumped on every change of the data
  std::uint32_t metaIteration = 0;  // bumped on every change of state or lifecycle
};

namespace detail {

// Reads one stored value in place: a single-segment message whose words are
// the LMDB value. Cap'n Proto checks bounds as fields are read.
class ValueReader final : public capnp::MessageReader {
 public:
  explicit ValueReader(kj::ArrayPtr<const capnp::word> words = nullptr,
                       capnp::ReaderOptions options = {})
      : capnp::MessageReader(options), words_(words) {}

  kj::ArrayPtr<const capnp::word> getSegment(uint id) override {
    return id == 0 ? words_ : nullptr;
  }
  kj::ArrayPtr<const capnp::word> words() const { return words_; }

 private:
  kj::ArrayPtr<const capnp::word> words_;
};

}  // namespace detail

// One record as stored, read in place from the memory map: nothing is
// copied. It holds the reader state Cap'n Proto needs, so Readers obtained
// from it are valid while it lives and its transaction is open (in a write
// transaction: until the next change made through it, which may move the
// bytes). It cannot be copied or moved. False when the key had no record.
// Accessors throw Error(kCorrupt) naming the key when the stored bytes do not
// decode.
class StoredRecord {
 public:
  StoredRecord(const StoredRecord&) = delete;
  StoredRecord& operator=(const StoredRecord&) = delete;

  explicit operator bool() const { return tree_ != nullptr; }
  std::uint64_t id() const { return id_; }
  std::uint32_t revision() const { return revision_; }
  RecordMeta meta() const;
  State state() const;
  wire::Envelope::Reader envelope() const { return envelope_; }
  capnp::AnyPointer::Reader body() const { return envelope_.getBody(); }
  // The stored value as it lies in the map (a single-segment message whose
  // root is the envelope): what another database stores as it is
  // (GenericTree::applyChange, adopt).
  kj::ArrayPtr<const capnp::word> value() const { return reader_.words(); }

  // Whether the stored value is exactly `bytes` (another database's value
  // of the record, as applyChange and adopt take it). False when there is
  // no record.
  bool holds(kj::ArrayPtr<const kj::byte> bytes) const;

  // Reads the whole value through to its last pointer, as a record of its
  // tree's stored schema: every pointer field must be of its declared kind
  // (Text, Data, a struct, a list of the declared element size), down
  // through nested structs and lists, and no part may be read twice over.
  // What the database checks of every value that comes from another
  // database before storing it; tools call it to verify a database. Throws
  // Error(kCorrupt) naming the record and the field ("lines[3].part").
  void check() const;

  // Throws Error(kCorrupt) naming this record, its tree and its database,
  // with Cap'n Proto's account of what did not decode.
  [[noreturn]] void throwCorrupt(const kj::Exception& e) const;

 private:
  friend class GenericTreeView;
  friend class GenericTree;
  friend struct detail::IndexOps;
  friend struct detail::Snapshot;
  friend struct detail::InPlace;
  StoredRecord() = default;  // no record
  StoredRecord(const detail::TreeState* tree, std::uint64_t id, std::uint32_t revision,
               kj::ArrayPtr<const capnp::word> words);

  const detail::TreeState* tree_ = nullptr;
  std::uint64_t id_ = 0;
  std::uint32_t revision_ = 0;
  detail::ValueReader reader_;
  wire::Envelope::Reader envelope_;
};

// Read access to one tree without compiled types. Obtained from
// ReadTxn::tree(name); valid until the transaction ends.
class GenericTreeView {
 public:
  const std::string& name() const;
  bool versioned() const;
  std::uint64_t typeId() const;

  // The schema of the tree's records as stored in the database (the newest
  // any program has declared), for Cap'n Proto's dynamic API:
  //   rec.body().getAs<capnp::DynamicStruct>(tree.schema())
  capnp::StructSchema schema() const;

  // The record at (id, revision), read in place; false when there is none.
  //   if (auto rec = tree.find(id, 0)) use(rec.body());
  StoredRecord find(std::uint64_t id, std::uint32_t revision) const;

  // Same, for a key that names its tree. Throws Error(kWrongTree) when the
  // key names another tree.
  StoredRecord find(const OpaqueKey& key) const;

  // Like find(), but a missing record throws Error(kNotFound) naming the key.
  StoredRecord require(std::uint64_t id, std::uint32_t revision) const;

  bool contains(std::uint64_t id, std::uint32_t revision) const;

  // The newest revision of `id`, or empty when the id has no record.
  std::optional<std::uint32_t> latestRevision(std::uint64_t id) const;

  // Checks `value` (another database's stored value of (id, revision)) as
  // applyChange and adopt check a value before they store it, and stores
  // nothing: for a layer that keeps such values in tables of its own (a
  // replica's read cache). Throws Error(kWrongTree) for a value of another
  // type, kCorrupt for one that does not read as a record of this tree's
  // stored schema (naming the record and the field).
  void checkValue(std::uint64_t id, std::uint32_t revision,
                  kj::ArrayPtr<const kj::byte> value) const;

  // Calls fn for every record whose id lies in [firstId, lastId], in order of
  // (id, revision), until fn returns false. The record passed to fn is valid
  // during that call only; nothing is allocated per record.
  void scan(std::uint64_t firstId, std::uint64_t lastId,
            kj::FunctionParam<bool(const StoredRecord&)> fn) const;

  // Number of records, all revisions counted.
  std::uint64_t size() const;

  // Ids left to hand out in this database's ranges for the tree (a database
  // that is its own id authority extends its range when it runs out).
  std::uint64_t idsLeft() const;

 protected:
  friend class ReadTxn;
  friend class WriteTxn;
  friend struct detail::IndexOps;
  friend struct detail::TxnAccess;
  template <TreeRecord T>
  friend class TreeView;
  GenericTreeView(detail::TxnState* txn, detail::TreeState* tree) : txn_(txn), tree_(tree) {}

  detail::TxnState* txn_;
  detail::TreeState* tree_;
};

// Write access to one tree without compiled types. Obtained from
// WriteTxn::tree(name); valid until the transaction ends.
//
// Refusals and failures. A call refused by hills' rules, a write hook's
// check or an indexer's check (kNotFound, kReleased, kAlreadyExists (a
// unique index too), kUnversioned, kNotReleased, kNotLatest, kNoIds, and
// whatever a hook refuses with) changes nothing, so a caller that catches
// the Error may go on and commit (a refused create may leave its id unused). A failure after
// something was written (a storage failure: kMapFull, kIo, kStorage; an
// indexer's apply or a hook's stored() throwing) fails the whole
// transaction: write() then grows the map and runs its function again, or
// throws, even when the function caught the first error.
class GenericTree : public GenericTreeView {
 public:
  // Writes the record body into `body`. `previous` is the stored body being
  // replaced (a null pointer on create). Returns true when it copied
  // `previous` into `body` before changing it (to keep fields its schema does
  // not know), so hills stores a compacted copy.
  using BodyWriter =
      kj::FunctionParam<bool(capnp::AnyPointer::Builder body, capnp::AnyPointer::Reader previous)>;

  // Takes the next id of this database's ranges for the tree and stores a
  // new draft (id, 0). Throws Error(kNoIds) when the ranges are used up.
  std::uint64_t create(BodyWriter write);

  // Replaces the data of a draft (or of any record of an unversioned tree).
  // Throws kNotFound, or kReleased for a released record.
  void update(std::uint64_t id, std::uint32_t revision, BodyWriter write);

  // Removes a draft (or any record of an unversioned tree). Throws kNotFound,
  // or kReleased for a released record.
  void remove(std::uint64_t id, std::uint32_t revision);

  // Freezes a draft. Throws kNotFound, kUnversioned, or kReleased when it is
  // released already.
  void release(std::uint64_t id, std::uint32_t revision);

  // Makes the draft (id, revision + 1) as a copy of the released (id,
  // revision), which must be the id's newest revision, and returns the new
  // revision. Throws kNotFound, kUnversioned, kNotReleased, or kNotLatest.
  std::uint32_t newRevision(std::uint64_t id, std::uint32_t revision);

  // Sets the lifecycle number, the one thing that may change on a released
  // record. Throws kNotFound.
  void setLifecycle(std::uint64_t id, std::uint32_t revision, std::uint32_t lifecycle);

  // Adds the id range [start, end) that another database (the one that owns
  // the ids) granted this one for the tree; creates use ranges in the order
  // they were added. Throws kInvalidArgument for an empty range, one
  // overlapping ids not used yet, one that crosses kClaimableIds, or, on a
  // database that owns its ids, one below kClaimableIds that starts below
  // the ids it has not handed out (granted or used) yet.
  void addIdRange(std::uint64_t start, std::uint64_t end);

  // Gives up the ids of [start, end) that this database's ranges for the
  // tree have not handed out yet (ids its creates used stay used), as when
  // the database that owns the ids refuses a range claimed in the
  // claimable region (kClaimableIds). Creates go on with the ranges that
  // remain. Throws kInvalidArgument for an empty range; ids in no range
  // change nothing.
  void dropIdRange(std::uint64_t start, std::uint64_t end);

  // On a database that owns its ids (Options::ids == IdSource::kOwn): hands
  // out the next `count` ids of the tree to another database, which adds
  // them with addIdRange, and returns them as [first, end). Granted ranges
  // never overlap each other or the ids this database uses itself, and lie
  // below kClaimableIds, whatever ids the tree stores above it. Throws
  // kInvalidArgument for a count of 0 or a database that takes its ids from
  // ranges, kNoIds when the ids below kClaimableIds are used up.
  std::pair<std::uint64_t, std::uint64_t> grantIds(std::uint64_t count);

  // Stores a change that another database made: an entry of its change log
  // (ReadTxn::changes). A record change is stored as its bytes came; a
  // removal removes the record; an entry of a write hook's kind goes to the
  // hooks (WriteHook::applyEntry). Indexers and hooks run, the change enters
  // this database's own log, and the event names `origin`.
  //
  // Data and meta iteration counters only grow, so the entry's value is
  // compared with the record held here:
  //   - behind it on both counters, or the very same bytes: nothing happens
  //     (applied already, so a batch applied again after a crash changes
  //     nothing); a removal of an absent record does nothing either;
  //   - ahead on both: stored;
  //   - beside it (level with other bytes, or ahead on one counter and
  //     behind on the other): an edit here the origin never saw. The
  //     origin's value is stored, unless a write hook keeps this database's
  //     own (WriteHook::keepOwn); hooks see the mutation as `concurrent`,
  //     with the replaced value as `before`.
  // hills' rules for local edits (drafts only...) do not apply: the origin
  // decided. Throws kWrongTree for a change of another tree or a value of
  // another type, kCorrupt for a change or a value that does not decode.
  void applyChange(wire::Change::Reader change, std::string_view origin);

  // Stores `value` (another database's stored value of (id, revision),
  // whole words) in place of whatever this database holds, as a change made
  // by `origin`: a create when there is no record, else an update; an empty
  // value removes the record. Value bytes equal to the stored ones change
  // nothing. Returns whether anything changed. What an authority does with
  // a value it has checked, and a replica with the authority's value when
  // that must win. Throws kWrongTree for a value of another type, kCorrupt
  // for one that does not decode.
  bool adopt(std::uint64_t id, std::uint32_t revision, kj::ArrayPtr<const kj::byte> value,
             std::string_view origin);

  // For a write hook: adds an entry of the hook's own `kind` (at or above
  // kFirstHookKind) about (id, revision) to the change log, and its event,
  // without changing the record. `note` and `number` are what the entry
  // says beyond the record (wire::Change.note and .number); `value`, when
  // given, a stored value it carries. `origin`: who made the change (empty:
  // the transaction's, WriteTxn::setOrigin). Throws kInvalidArgument for
  // one of hills' own kinds.
  void recordEntry(EventKind kind, std::uint64_t id, std::uint32_t revision, std::string_view note,
                   std::uint64_t number, kj::ArrayPtr<const capnp::word> value = {},
                   std::string_view origin = {});

 private:
  friend class WriteTxn;
  using GenericTreeView::GenericTreeView;
};

// A read transaction: a consistent snapshot of the whole database. Not
// copyable or movable; lives for the duration of the function passed to
// Database::read(). May be used by one thread at a time.
class ReadTxn {
 public:
  ReadTxn(const ReadTxn&) = delete;
  ReadTxn& operator=(const ReadTxn&) = delete;

  // The typed view of T's tree (hills/tree.h). Throws kUnknownTree when T was
  // not among Options::trees.
  template <TreeRecord T>
  TreeView<T> tree() const;

  // The tree named `name`, declared by this program or only stored. Throws
  // kUnknownTree when the database has no such tree.
  GenericTreeView tree(std::string_view name) const;

  // Calls fn for every change-log entry with a sequence number above
  // `after`, oldest first, until fn returns false. The entry is valid during
  // the call. Throws Error(kInvalidArgument) when the database keeps no
  // change log (Options::changeLog), kCorrupt for an entry that does not
  // decode.
  void changes(std::uint64_t after, kj::FunctionParam<bool(wire::Change::Reader change)> fn) const;

  // The sequence number of the newest change-log entry; 0 when there is none.
  std::uint64_t lastSequence() const;

  // Which snapshot of the database this transaction reads: the number LMDB
  // gives the newest write transaction committed before it began, by any
  // process. It grows with every commit, so a program that sees it change
  // knows that the database did, with or without a change log (the
  // viewer's live updates). Inside a write transaction, the number that
  // transaction will commit as. Never throws.
  std::uint64_t version() const;

  // The index registered as `name` (hills/index.h). Throws
  // Error(kInvalidArgument) when no indexer of that name is registered.
  IndexView index(std::string_view name) const;

  // The internal table `name` of a write hook (hills/table.h). Throws
  // Error(kInvalidArgument) when no hook of Options::hooks declared it.
  TableView table(std::string_view name) const;

  // A property: a small named text value an extension keeps with the
  // database (a position in another database's log, an identity it is
  // bound to); empty when never set.
  std::optional<std::string> property(std::string_view key) const;

 protected:
  friend class Database;
  friend struct detail::TxnAccess;
  explicit ReadTxn(detail::TxnState* state) : state_(state) {}
  ~ReadTxn() = default;

  detail::TreeState* treeState(std::string_view name) const;

  detail::TxnState* state_;
};

// How one write transaction's commit reaches the disk when the database is
// durable (Options::durable, hills/options.h); chosen per transaction with
// WriteTxn::setCommitSync.
//   kFull: the commit's pages and then its meta page are synced: on disk
//          when write() returns (the default).
//   kData: the pages are synced, the meta page that makes the commit the
//          current one is written but not synced (LMDB's MDB_NOMETASYNC):
//          one sync instead of two. An operating-system crash or power loss
//          may take back this commit and the kData commits just before it,
//          but never damages the database, and the next kFull commit makes
//          them all durable with itself. For what can be fetched again (a
//          replica's batch of a server's changes, stored with its cursor).
enum class CommitSync : std::uint8_t { kFull, kData };

// A write transaction: everything done through it commits when the function
// passed to Database::write() returns, or none of it does when that function
// throws. Only one write transaction runs at a time per database (across
// processes); it belongs to the thread that runs that function and must not
// be handed to another thread.
class WriteTxn : public ReadTxn {
 public:
  template <TreeRecord T>
  Tree<T> tree();

  GenericTree tree(std::string_view name);

  // Write access to the internal table `name` of a write hook. Throws
  // Error(kInvalidArgument) when no hook of Options::hooks declared it.
  Table table(std::string_view name);

  // Sets a property (see ReadTxn::property). Throws kInvalidArgument for an
  // empty key or one of the keys hills keeps for itself (format, uuid,
  // changeLog, schemaVersion, serverIds, and those starting with "schema:", "ids:" or
  // "index:").
  void setProperty(std::string_view key, std::string_view value);

  // Records the changes made through this transaction from now on as made
  // for `origin` (empty: this database), in events, the change log and what
  // write hooks see, like changes applied with GenericTree::applyChange.
  // What a service does while it works for one of its callers.
  void setOrigin(std::string_view origin);

  // Removes the change-log entry `sequence`: how an extension that serves
  // the log to others compacts it (an entry a later one made useless).
  // Readers of the log see a gap in the sequence numbers where it was.
  // Returns false when there is no such entry (dropped already). Throws
  // Error(kInvalidArgument) when the database keeps no change log, or for
  // the newest entry: it is kept so that sequence numbers never repeat.
  bool dropChange(std::uint64_t sequence);

  // How this transaction's commit reaches the disk (CommitSync, above);
  // kFull unless set. The last call before the commit counts. Changes nothing on a database opened with Options::durable false, and
  // nothing for later transactions: the next one starts at kFull again.
  // Never throws.
  void setCommitSync(CommitSync sync);

  // Runs fn once this transaction has committed, on the committing thread,
  // after the commit's events were delivered; never when it does not
  // commit. fn must not throw.
  void onCommit(std::function<void()> fn);

  // Runs fn when this transaction does not commit (its function threw, the
  // commit failed, or write() runs the function again after growing the
  // map), before another write transaction of this process can begin: how
  // an extension undoes what it keeps in memory for this transaction. fn
  // must not throw.
  void onAbort(std::function<void()> fn);

 private:
  friend class Database;
  friend struct detail::TxnAccess;
  explicit WriteTxn(detail::TxnState* state) : ReadTxn(state) {}
  ~WriteTxn() = default;
};

}  // namespace hills
