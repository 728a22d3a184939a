// The internal tables of sync and the rules they carry: borrows, id grants
// (server), the outbox and conflict copies (client).
#pragma once

#include <kj/array.h>
#include <lmdb.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "hills/events.h"
#include "hills/record.capnp.h"
#include "hills/txn.h"
#include "log.h"

namespace hills::detail {

struct DatabaseImpl;
struct TreeState;
struct TxnState;

// Reaches the state behind a tree handle.
struct TreeAccess {
  static TreeState* state(const GenericTreeView& tree) { return tree.tree_; }
};

// Opens (creating them unless read-only) _borrows, _grants, _outbox and
// _conflicts.
void openSyncTables(DatabaseImpl& db, MDB_txn* txn);

// On the id authority: remembers that [start, end) went to `grantee`.
void recordGrant(TxnState& t, const TreeState& tree, std::uint64_t start, std::uint64_t end,
                 std::string_view grantee);

// Key of a record in the sync tables: the tree's name, a NUL, the record key.
std::string recordKey(const TreeState& tree, std::uint64_t id, std::uint32_t revision);

// The tree, id and revision of a key recordKey() made; `trailing` bytes may
// follow it (a conflict copy's time). Throws kCorrupt naming `table`.
OpaqueKey parseRecordKey(TxnState& t, std::string_view key, std::string_view table,
                         std::size_t trailing = 0);

// Stores the borrow of a record (`since`: nanoseconds since the epoch).
void putBorrow(TxnState& t, const TreeState& tree, std::uint64_t id, std::uint32_t revision,
               std::string_view holder, std::uint64_t fencing, std::int64_t since, bool returning);

// The borrow of a record as stored (server) or mirrored (client).
std::optional<BorrowInfo> findBorrow(TxnState& t, const TreeState& tree, std::uint64_t id,
                                     std::uint32_t revision);

// On a replica: refuses an update or removal of a record that this replica
// neither holds a borrow of nor created and still has in its outbox.
void requireEditable(TxnState& t, const TreeState& tree, std::uint64_t id, std::uint32_t revision);

// On a replica: refuses what only the server decides (release, new
// revision, lifecycle); `what` says what was asked ("released"...).
void requireAuthority(TxnState& t, std::string_view what, const TreeState& tree, std::uint64_t id,
                      std::uint32_t revision);

// On a replica: puts a record just created here in the outbox.
void queueCreate(TxnState& t, const TreeState& tree, std::uint64_t id);

// Applies a borrow change of the server to this replica's mirror of the
// borrows; a broken borrow of this replica's keeps its edit as a conflict
// copy and restores the server's record.
void applyBorrowChange(TxnState& t, GenericTree& tree, wire::Change::Reader change,
                       std::string_view origin);

// On a replica: keeps `value` (a stored value; empty: the record was
// removed) as a conflict copy of the record.
void keepConflict(TxnState& t, const TreeState& tree, std::uint64_t id, std::uint32_t revision,
                  kj::ArrayPtr<const kj::byte> value, std::string_view brokenBy,
                  std::uint64_t fencing);

// On a replica: drops the record's outbox entry, if any.
void dropOutboxEntry(TxnState& t, const TreeState& tree, std::uint64_t id, std::uint32_t revision);

// Stores another database's value of a record (see GenericTree::applyChange).
// Skips a value that is not newer than the stored one, unless `force`.
// Returns whether it stored it.
bool storeRemote(TxnState& t, GenericTree& tree, EventKind kind, std::uint64_t id,
                 std::uint32_t revision, kj::ArrayPtr<const kj::byte> bytes,
                 std::string_view origin, bool force);

// Removes the stored record `old` (indexers, the change log and its event
// included), as a local removal or a remote one (`note`).
void eraseRecord(TxnState& t, const TreeState& tree, const StoredRecord& old,
                 const ChangeNote& note);

// Removes a record as another database did; nothing when it is absent.
void removeRemote(TxnState& t, GenericTree& tree, std::uint64_t id, std::uint32_t revision,
                  std::string_view origin);

// A value's bytes as words: in place when aligned, else copied into `copy`.
// kCorrupt naming the record when they are not whole words.
kj::ArrayPtr<const capnp::word> valueWords(const TreeState& tree, std::uint64_t id,
                                           std::uint32_t revision,
                                           kj::ArrayPtr<const kj::byte> bytes,
                                           kj::Array<capnp::word>& copy);

}  // namespace hills::detail
