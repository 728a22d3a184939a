// The authority's rules: what the sync server's database keeps beside its
// trees (_borrows, _grants) and the checks every borrow, check-in and
// pushed record passes before it is stored. Plain functions on a write
// transaction of the server's database, which must have been opened with
// authorityHook() among its hooks (serverDatabaseOptions() does).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include "hills/protocol.h"
#include "hills/write_hook.h"

namespace hills::server {

// The hook that declares the authority's tables and keeps local edits of
// the server's database off records another client holds.
std::shared_ptr<WriteHook> authorityHook();

// Hands the next `count` ids of `tree` to client `grantee` and remembers
// the grant. Throws what GenericTree::grantIds throws.
std::pair<std::uint64_t, std::uint64_t> grantIds(WriteTxn& txn, std::string_view tree,
                                                 std::uint64_t count, std::string_view grantee);

// Confirms the ids [start, end) of `tree` that client `claimant` claimed
// before it had ever reached this server, as granted to it, so that
// acceptCreate takes the records it made from them. Claims lie in the
// claimable region (hills::kClaimableIds up), where this database never
// grants or creates by itself, so a claim can collide only with another
// claim. The same claim by the same client again changes nothing (its
// answer may have been lost). Throws kInvalidArgument for a range that is
// empty, reaches below kClaimableIds or holds more than `maxCount` ids;
// kAlreadyExists naming the holder when any of its ids was granted before,
// in another claim; kUnknownTree.
void claimIds(WriteTxn& txn, std::string_view tree, std::uint64_t start, std::uint64_t end,
              std::string_view claimant, std::uint64_t maxCount);

// The client that grantIds() or claimIds() handed `id` of `tree` to; empty
// when none did.
std::string grantee(const ReadTxn& txn, std::string_view tree, std::uint64_t id);

// Stores a record that client `origin` created offline: `value` is its
// stored value (revision 0, a draft of the tree's type) and the id must lie
// in a range granted to `origin`. Pushing the same value again changes
// nothing; pushed again with later edits while nobody else touched it, the
// edit is taken. Throws kDenied when the id was not granted to `origin`,
// kAlreadyExists when the id holds another record, kInvalidArgument for a
// value that is more than a new draft authored by its pusher, kCorrupt or
// kWrongTree for a value that is not a whole record of this tree.
void acceptCreate(WriteTxn& txn, const OpaqueKey& key, kj::ArrayPtr<const kj::byte> value,
                  std::string_view origin);

// Lends `key` to `holder` with a fencing number larger than any granted
// before, and returns the borrow. A holder asking again gets its borrow
// back unchanged. Throws kNotFound, kReleased for a released record (make
// a new revision), kBorrowed naming the holder when another client holds
// it.
BorrowInfo checkOut(WriteTxn& txn, const OpaqueKey& key, std::string_view holder);

// What a check-in brings back.
struct CheckIn {
  std::string_view holder;             // the client returning the borrow
  std::uint64_t fencing = 0;           // the borrow's fencing number, as granted
  kj::ArrayPtr<const kj::byte> value;  // the record as edited (a stored value); empty: unchanged
  bool removed = false;                // the holder removed the draft
  bool keepBorrow = false;             // keep the borrow after storing the value
};

// Takes back the borrow of `key`, storing the edited value (or removing the
// draft) first. Throws kNotBorrowed when nobody holds it, kBorrowed when
// another client does, kStaleBorrow when the fencing number is not the
// borrow's (it was broken and granted again), kInvalidArgument for a value
// that changes more than the data (state, lifecycle, creation), is not
// newer than the server's record or names another author, kCorrupt or
// kWrongTree for a value that is not a record of this tree, kNotFound when
// the record is gone.
void checkIn(WriteTxn& txn, const OpaqueKey& key, const CheckIn& in);

// An administrator (`by`) takes the borrow of `key` from its holder. The
// holder's later check-in is refused (kStaleBorrow); its client keeps its
// edit as a conflict copy. Throws kNotBorrowed when nobody holds it.
BorrowInfo breakBorrow(WriteTxn& txn, const OpaqueKey& key, std::string_view by);

// The caller's own borrow of `key`, if any; throws kBorrowed when another
// client holds it (before a release or a lifecycle change).
std::optional<BorrowInfo> notHeldByOthers(const ReadTxn& txn, const OpaqueKey& key,
                                          std::string_view caller);

}  // namespace hills::server
