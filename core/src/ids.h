// Id ranges: where new record ids come from.
//
// Each tree has a list of id ranges in _meta ("ids:<tree>"). A database that
// owns its ids extends its range by itself; one that takes its ids from
// ranges (Options::IdSource::kRanges) uses only those added to it.
#pragma once

#include <cstdint>
#include <utility>

namespace hills::detail {

struct TxnState;
struct TreeState;

// The next free id of the tree. Throws Error(kNoIds) when the ranges are used up.
std::uint64_t allocateId(TxnState& txn, const TreeState& tree);

// Whether `id` is the id allocateId handed out last for the tree in this
// transaction: a record being created here, whose id its caller has not
// been given yet.
bool justAllocated(const TxnState& txn, const TreeState& tree, std::uint64_t id);

// Adds a range [start, end) another database granted. Throws
// kInvalidArgument for an empty range or one overlapping unused ids.
void addIdRange(TxnState& txn, const TreeState& tree, std::uint64_t start, std::uint64_t end);

// Gives up the ids of [start, end) the tree's ranges have not handed out.
// Throws kInvalidArgument for an empty range.
void dropIdRange(TxnState& txn, const TreeState& tree, std::uint64_t start, std::uint64_t end);

// Hands out [first, end) beyond every id this database used or granted, and
// below kClaimableIds.
std::pair<std::uint64_t, std::uint64_t> grantIds(TxnState& txn, const TreeState& tree,
                                                 std::uint64_t count);

// Ids not handed out yet in the tree's ranges.
std::uint64_t idsLeft(TxnState& txn, const TreeState& tree);

// Writes the ranges this transaction used back to _meta, before commit.
void flushIds(TxnState& txn);

}  // namespace hills::detail
