// Transactions and untyped access to trees.
//
// Database::read and Database::write hand a ReadTxn or WriteTxn to a function
// and end the transaction when it returns. Typed code then works through
// txn.tree<T>() (hills/tree.h); generic code (the viewer, tools, sync) works
// through txn.tree("name"), which this header declares.
#pragma once

#include <capnp/any.h>
#include <capnp/message.h>
#include <capnp/schema.h>
#include <kj/exception.h>
#include <kj/function.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "hills/error.h"
#include "hills/key.h"
#include "hills/record.capnp.h"
#include "hills/record_traits.h"

namespace hills {

namespace detail {
struct TxnState;
struct TreeState;
struct IndexOps;
struct TreeAccess;
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

// A record checked out (borrowed) to one client of a sync server: only the
// holder may edit it, and its check-in must carry the fencing number.
struct BorrowInfo {
  OpaqueKey key;
  std::string holder;         // the client's name
  std::uint64_t fencing = 0;  // grows with every grant the server makes
  std::chrono::system_clock::time_point since;
  bool returning = false;  // on a client: its check-in waits in the outbox
};

// What a check-in brings back to the server (GenericTree::checkIn).
struct CheckIn {
  std::string_view holder;             // the client returning the borrow
  std::uint64_t fencing = 0;           // the borrow's fencing number, as granted
  kj::ArrayPtr<const kj::byte> value;  // the record as edited (a stored value); empty: unchanged
  bool removed = false;                // the holder removed the draft
  bool keepBorrow = false;             // keep the borrow after storing the value
};

// A local change of a replica that its server has not acknowledged yet.
struct OutboxItem {
  enum class Kind : std::uint8_t { kCreate, kCheckIn };
  Kind kind = Kind::kCreate;
  OpaqueKey key;
  bool sent = false;          // pushed since the database was opened
  bool keepBorrow = false;    // kCheckIn: keep the borrow afterwards
  std::int64_t queued = 0;    // when it was queued (nanoseconds); tells requeued entries apart
  std::uint64_t fencing = 0;  // kCheckIn: of the borrow it returns (as it was when queued)
};

// A replica's own edit, kept when the server broke its borrow.
struct ConflictCopy {
  OpaqueKey key;
  std::string brokenBy;
  std::uint64_t fencing = 0;  // of the broken borrow
  std::chrono::system_clock::time_point time;
  std::vector<capnp::word> value;  // the stored value as edited; empty: it was removed
};

namespace detail {

// Reads one stored value in place: a single-segment message whose words are
// the LMDB value. Cap'n Proto checks bounds as fields are read.
class ValueReader final : public capnp::MessageReader {
 public:
  explicit ValueReader(kj::ArrayPtr<const capnp::word> words = nullptr)
      : capnp::MessageReader(capnp::ReaderOptions()), words_(words) {}

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
  // root is the envelope): what sync sends to other databases.
  kj::ArrayPtr<const capnp::word> value() const { return reader_.words(); }

  // Throws Error(kCorrupt) naming this record, its tree and its database,
  // with Cap'n Proto's account of what did not decode.
  [[noreturn]] void throwCorrupt(const kj::Exception& e) const;

 private:
  friend class GenericTreeView;
  friend class GenericTree;
  friend struct detail::IndexOps;
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

  // The borrow of (id, revision), or empty when nobody holds one. On a
  // sync server this is the authority; on a client, its mirror of it.
  std::optional<BorrowInfo> borrow(std::uint64_t id, std::uint32_t revision) const;

  // On the id authority: the client that grantIds() handed `id` to, or
  // empty when no grant holds it.
  std::string grantee(std::uint64_t id) const;

 protected:
  friend class ReadTxn;
  friend class WriteTxn;
  friend struct detail::IndexOps;
  friend struct detail::TreeAccess;
  template <TreeRecord T>
  friend class TreeView;
  GenericTreeView(detail::TxnState* txn, detail::TreeState* tree) : txn_(txn), tree_(tree) {}

  detail::TxnState* txn_;
  detail::TreeState* tree_;
};

// Write access to one tree without compiled types. Obtained from
// WriteTxn::tree(name); valid until the transaction ends. A call refused by
// hills (kNotFound, kReleased, kAlreadyExists, kUnversioned, kNotReleased,
// kNotLatest, kNoIds) changes nothing, so a caller that catches may go on
// and commit. A storage failure (kMapFull, kIo, kStorage) fails the whole
// transaction: write() then grows the map and runs it again, or throws.
class GenericTree : public GenericTreeView {
 public:
  // Writes the record body into `body`. `previous` is the stored body being
  // replaced (a null pointer on create). Returns true when it copied
  // `previous` into `body` before changing it (to keep fields its schema does
  // not know), so hills stores a compacted copy.
  using BodyWriter =
      kj::FunctionParam<bool(capnp::AnyPointer::Builder body, capnp::AnyPointer::Reader previous)>;

  // Takes the next id of this database's range for the tree and stores a new
  // draft (id, 0). Throws Error(kNoIds) when the ranges are used up.
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

  // Adds the id range [start, end) that a sync server granted this
  // database for the tree; creates use ranges in the order they were added.
  // Throws kInvalidArgument for an empty range or one overlapping ids not
  // used yet.
  void addIdRange(std::uint64_t start, std::uint64_t end);

  // Stores a change that another database made (a change-log entry of the
  // sync server's, or of any database that keeps a log): the record value
  // as its bytes came, or the removal. Runs indexers, records the change in
  // this database's own log, and yields the event with `origin` (the remote
  // client's name). A change that is not newer than the record (by its data
  // and meta iteration counters, which only grow) does nothing, so a batch
  // applied again after a crash changes nothing; a removal of an absent
  // record does nothing either.
  // Refusals of local edits (released records, drafts only) do not apply:
  // the origin decided. Throws kWrongTree for a change of another tree or a
  // value of another type, kCorrupt for a value that does not decode.
  void applyChange(wire::Change::Reader change, std::string_view origin);

  // As the id authority of a sync group (a database that owns its ids: the
  // server's), hands out the next `count` ids of the tree to a replica and
  // returns them as [first, end). Granted ranges never overlap each other or
  // the ids this database uses itself. Throws kInvalidArgument for a count
  // of 0 or when this database is a replica.
  //
  // `grantee`, when given, is recorded with the range (see grantee()).
  std::pair<std::uint64_t, std::uint64_t> grantIds(std::uint64_t count,
                                                   std::string_view grantee = {});

  // ---- The sync server's side (a database with Options::changeLog) ----
  //
  // Each of these records its change in the change log and yields its event
  // (origin: the client), like any mutation.

  // Stores a record that client `origin` created offline: `value` is its
  // stored value (revision 0, a draft of this tree's type) and `id` must lie
  // in a range granted to `origin`. Pushing the same value again changes
  // nothing. Throws kDenied when the id was not granted to `origin`,
  // kAlreadyExists when the id holds another record, kInvalidArgument for a
  // released value, kCorrupt or kWrongTree for a value that is not a record
  // of this tree.
  void acceptCreate(std::uint64_t id, kj::ArrayPtr<const kj::byte> value, std::string_view origin);

  // Lends (id, revision) to `holder` with a fencing number larger than any
  // granted before, and returns the borrow. A holder asking again gets its
  // borrow back unchanged. Throws kNotFound, kReleased for a released
  // record (make a new revision), kBorrowed naming the holder when another
  // client holds it.
  BorrowInfo checkOut(std::uint64_t id, std::uint32_t revision, std::string_view holder);

  // Takes back the borrow of (id, revision), storing the edited value (or
  // removing the draft) first. Throws kNotBorrowed when nobody holds it,
  // kBorrowed when another client does, kStaleBorrow when the fencing number
  // is not the borrow's (it was broken and granted again), kInvalidArgument
  // for a value that changes more than the data (state, lifecycle,
  // creation), kCorrupt or kWrongTree for a value that is not a record of
  // this tree, kNotFound when the record is gone.
  void checkIn(std::uint64_t id, std::uint32_t revision, const CheckIn& in);

  // An administrator (`by`) takes the borrow away from its holder. The
  // holder's later check-in is refused (kStaleBorrow); its client keeps its
  // edit as a conflict copy. Throws kNotBorrowed when nobody holds it.
  BorrowInfo breakBorrow(std::uint64_t id, std::uint32_t revision, std::string_view by);

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

  // Every borrow (on a client: the mirror of the server's), by tree and key.
  std::vector<BorrowInfo> borrows() const;

  // A replica's outbox: local changes its server has not acknowledged, by
  // tree and key; at most `limit` of them.
  std::vector<OutboxItem> outbox(std::size_t limit = SIZE_MAX) const;

  // How many entries the outbox holds (without reading them).
  std::size_t outboxLength() const;

  // A replica's conflict copies, oldest first within each record.
  std::vector<ConflictCopy> conflicts() const;

  // A replica's position in its server's change log: the sequence number
  // of the last entry it applied (0: none).
  std::uint64_t syncCursor() const;

  // The uuid of the server a replica belongs to; empty before first contact.
  std::string pinnedServer() const;

  // The index registered as `name` (hills/index.h). Throws
  // Error(kInvalidArgument) when no indexer of that name is registered.
  IndexView index(std::string_view name) const;

 protected:
  friend class Database;
  explicit ReadTxn(detail::TxnState* state) : state_(state) {}
  ~ReadTxn() = default;

  detail::TreeState* treeState(std::string_view name) const;

  detail::TxnState* state_;
};

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

  // Records the changes made through this transaction from now on as made
  // for `origin` (a client's name; empty: this database), in events and the
  // change log, like changes applied with GenericTree::applyChange. What a
  // sync server does while it works for a client.
  void setOrigin(std::string_view origin);

  // ---- A replica's side (Options::ownIds == false) ----

  // Queues the check-in of a record this replica holds: the record as it
  // is when the outbox is pushed. Until the server acknowledges it the
  // record cannot be edited here (unless `keepBorrow`). Throws kNotBorrowed
  // when this replica does not hold the borrow.
  void queueCheckIn(const OpaqueKey& key, bool keepBorrow = false);

  // Marks outbox entries as pushed, in memory (it needs no commit): a
  // pushed create can no longer be edited here (the server stores it
  // checked in). After a reopen it is unpushed again; pushing the same
  // bytes again is harmless, and an edit made meanwhile comes back from the
  // server as a refused create, kept as a conflict copy. A pushed check-in with
  // keepBorrow leaves the record editable; its later edits need another
  // check-in.
  void markSent(const std::vector<OpaqueKey>& keys);

  // Drops an outbox entry the server has answered, unless it was queued
  // again since `item` was read. `refusal` non-empty: the server refused
  // it; a refused create keeps the record as a conflict copy naming the
  // reason (a refused check-in keeps it when its broken borrow arrives).
  // Returns whether the entry was dropped.
  bool settle(const OutboxItem& item, std::string_view refusal = {});

  // Drops a conflict copy once the application has dealt with it.
  void dropConflict(const OpaqueKey& key);

  // Stores the replica's position in its server's change log, in the
  // transaction that applied the entries up to it.
  void setSyncCursor(std::uint64_t sequence);

  // Pins the replica to the server `uuid` at first contact. Throws
  // Error(kWrongServer) naming both when it is pinned to another server.
  void pinServer(std::string_view uuid);

 private:
  friend class Database;
  explicit WriteTxn(detail::TxnState* state) : ReadTxn(state) {}
  ~WriteTxn() = default;
};

}  // namespace hills
