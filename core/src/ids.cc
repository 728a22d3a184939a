#include "ids.h"

#include <algorithm>

#include "hills/database.h"
#include "hills/meta.capnp.h"
#include "state.h"
#include "storage.h"

namespace hills::detail {

namespace {
// How many ids a database that is its own authority takes at a time; only
// the high-water mark is stored, so the size matters little.
constexpr std::uint64_t kSelfGrant = 1 << 16;

std::string idsKey(const TreeState& tree) { return "ids:" + tree.name; }

// The largest id the tree holds below kClaimableIds (0: none). Ids claimed
// elsewhere may be stored above it; they must not move this database's own
// allocation into the claimable region.
std::uint64_t lastOwnableId(TxnState& txn, const TreeState& tree) {
  Cursor cursor(txn.txn, tree.dbi, txn.db->path);
  KeyBytes bound = encodeKey(kClaimableIds, 0);
  MDB_val k = toVal(bound), v;
  // The first key at or above the region, then one step back; no key there
  // means every key lies below it.
  int rc = mdb_cursor_get(cursor.get(), &k, &v, MDB_SET_RANGE);
  rc = rc == MDB_NOTFOUND ? mdb_cursor_get(cursor.get(), &k, &v, MDB_LAST)
                          : rc == 0 ? mdb_cursor_get(cursor.get(), &k, &v, MDB_PREV) : rc;
  if (rc == MDB_NOTFOUND) return 0;
  checkLmdb(
      rc, [&] { return "finding the last id of tree '" + tree.name + "'"; }, txn.db->path);
  DecodedKey key;
  return decodeKey(k, key) && key.id < kClaimableIds ? key.id : 0;
}

std::vector<std::pair<std::uint64_t, std::uint64_t>> loadRanges(TxnState& txn,
                                                                const TreeState& tree) {
  std::vector<std::pair<std::uint64_t, std::uint64_t>> out;
  MetaStore meta(txn, txn.db->meta);
  if (auto msg = meta.getMessage(idsKey(tree))) {
    try {
      for (auto r : msg->getRoot<wire::IdRanges>().getRanges()) {
        out.emplace_back(r.getNext(), r.getEnd());
      }
    } catch (const kj::Exception& e) {
      throw Error(ErrorCode::kCorrupt, "the id ranges of tree '" + tree.name +
                                           "' do not decode (database " + txn.db->path +
                                           "): " + e.getDescription().cStr());
    }
  }
  return out;
}

std::vector<std::pair<std::uint64_t, std::uint64_t>>& rangesOf(TxnState& txn,
                                                               const TreeState& tree) {
  TreeWrite& w = txn.writes[tree.ordinal];
  if (!w.idsLoaded) {
    // Exhausted ranges are kept too: the last one's end is the high-water
    // mark of every id ever handed out.
    w.ranges = loadRanges(txn, tree);
    w.idsLoaded = true;
  }
  return w.ranges;
}

// The high-water mark of a database that owns its ids: the largest end of
// its ranges below the claimable region (used-up ranges are kept for it).
std::uint64_t highWaterMark(const std::vector<std::pair<std::uint64_t, std::uint64_t>>& ranges) {
  std::uint64_t mark = 1;
  for (const auto& r : ranges) {
    if (r.second <= kClaimableIds) mark = std::max(mark, r.second);
  }
  return mark;
}

// Keeps the high-water mark `mark` of a database that owns its ids (0:
// none) as an empty range at the end of `ranges` when no range there ends
// at it any more: a used-up range that held it may just have gone.
void keepMark(std::vector<std::pair<std::uint64_t, std::uint64_t>>& ranges, std::uint64_t mark) {
  if (mark > highWaterMark(ranges)) ranges.emplace_back(mark, mark);
}

// Where a database that owns its ids goes on: past the high-water mark and
// past every id the tree holds below the claimable region.
std::uint64_t nextOwnId(TxnState& txn, const TreeState& tree,
                        const std::vector<std::pair<std::uint64_t, std::uint64_t>>& ranges) {
  return std::max(highWaterMark(ranges), lastOwnableId(txn, tree) + 1);
}

Error noIdsLeft(const TxnState& txn, const TreeState& tree, std::uint64_t count) {
  return Error(ErrorCode::kNoIds, "tree '" + tree.name + "' has no " + std::to_string(count) +
                                      " ids left below the claimable ids (database " +
                                      txn.db->path + ")");
}
}  // namespace

void addIdRange(TxnState& txn, const TreeState& tree, std::uint64_t start, std::uint64_t end) {
  if (start == 0 || start >= end) {
    throw Error(ErrorCode::kInvalidArgument, "an id range [" + std::to_string(start) + ", " +
                                                 std::to_string(end) + ") for tree '" + tree.name +
                                                 "' is empty or starts at 0");
  }
  if (start < kClaimableIds && end > kClaimableIds) {
    throw Error(ErrorCode::kInvalidArgument,
                "the id range [" + std::to_string(start) + ", " + std::to_string(end) +
                    ") for tree '" + tree.name + "' crosses kClaimableIds (" +
                    std::to_string(kClaimableIds) +
                    "): a range lies below the claimable ids or among them");
  }
  auto& ranges = rangesOf(txn, tree);
  for (const auto& [next, stop] : ranges) {
    if (start < stop && next < end) {
      throw Error(ErrorCode::kInvalidArgument, "the id range [" + std::to_string(start) + ", " +
                                                   std::to_string(end) + ") overlaps ids tree '" +
                                                   tree.name + "' has not used yet (database " +
                                                   txn.db->path + ")");
    }
  }
  // A database that owns its ids may have granted or used any id below
  // where it goes on: a range there would hand them out again.
  const std::uint64_t mark = txn.db->rangesOnly ? 0 : highWaterMark(ranges);
  if (!txn.db->rangesOnly && start < kClaimableIds) {
    std::uint64_t own = nextOwnId(txn, tree, ranges);
    if (start < own) {
      throw Error(ErrorCode::kInvalidArgument,
                  "the id range [" + std::to_string(start) + ", " + std::to_string(end) +
                      ") for tree '" + tree.name + "' starts below id " + std::to_string(own) +
                      ", and the database " + txn.db->path +
                      " owns its ids: it may have granted or used the ids below it");
    }
  }
  // Unused ranges first, in the order they came; used-up ranges go, and the
  // high-water mark of a database that owns its ids is kept after them.
  std::erase_if(ranges, [](const auto& r) { return r.first >= r.second; });
  // A range that follows the last one on (a server's grants one after the
  // other) extends it: the stored list stays short however many come.
  // Never across kClaimableIds: a database that owns its ids reads its
  // high-water mark from the ends below it.
  if (!ranges.empty() && ranges.back().second == start && start != kClaimableIds) {
    ranges.back().second = end;
  } else {
    ranges.emplace_back(start, end);
  }
  keepMark(ranges, mark);
  txn.writes[tree.ordinal].idsDirty = true;
}

void dropIdRange(TxnState& txn, const TreeState& tree, std::uint64_t start, std::uint64_t end) {
  if (start >= end) {
    throw Error(ErrorCode::kInvalidArgument, "an id range [" + std::to_string(start) + ", " +
                                                 std::to_string(end) + ") for tree '" + tree.name +
                                                 "' is empty");
  }
  auto& ranges = rangesOf(txn, tree);
  std::vector<std::pair<std::uint64_t, std::uint64_t>> kept;
  bool changed = false;
  for (const auto& [next, stop] : ranges) {
    if (next >= stop || stop <= start || end <= next) {
      kept.emplace_back(next, stop);
      continue;
    }
    changed = true;
    // What lies before and after the dropped ids stays, in its place; a
    // range dropped whole leaves its end behind as a used-up range, since
    // the end of a used-up range may be a high-water mark.
    if (next < start) kept.emplace_back(next, start);
    if (end < stop) kept.emplace_back(end, stop);
    if (start <= next && stop <= end) kept.emplace_back(stop, stop);
  }
  if (!changed) return;
  ranges = std::move(kept);
  txn.writes[tree.ordinal].idsDirty = true;
}

std::pair<std::uint64_t, std::uint64_t> grantIds(TxnState& txn, const TreeState& tree,
                                                 std::uint64_t count) {
  if (count == 0 || txn.db->rangesOnly) {
    throw Error(ErrorCode::kInvalidArgument,
                count == 0 ? "a grant of 0 ids of tree '" + tree.name + "'"
                           : "the database " + txn.db->path +
                                 " takes its ids from ranges granted to it: it cannot grant ids");
  }
  auto& ranges = rangesOf(txn, tree);
  std::uint64_t from = nextOwnId(txn, tree, ranges);
  if (from > kClaimableIds || count > kClaimableIds - from) throw noIdsLeft(txn, tree, count);
  // An empty range at the end records the new high-water mark; this
  // database's own unused range stays in front of it, used-up ones go.
  std::erase_if(ranges, [](const auto& r) { return r.first >= r.second; });
  ranges.emplace_back(from + count, from + count);
  txn.writes[tree.ordinal].idsDirty = true;
  return {from, from + count};
}

std::uint64_t idsLeft(TxnState& txn, const TreeState& tree) {
  auto count = [](const std::vector<std::pair<std::uint64_t, std::uint64_t>>& ranges) {
    std::uint64_t left = 0;
    for (const auto& [next, end] : ranges) left += next < end ? end - next : 0;
    return left;
  };
  // A writer asks before each create (a sync client's write hook): no copy.
  return txn.writable ? count(rangesOf(txn, tree)) : count(loadRanges(txn, tree));
}

std::uint64_t allocateId(TxnState& txn, const TreeState& tree) {
  TreeWrite& w = txn.writes[tree.ordinal];
  rangesOf(txn, tree);
  // Drop used-up ranges in front, but keep the high-water mark: the last
  // range's end, or for a database that owns its ids and holds claimable
  // ranges too, the largest end below them. Most ids are handed out with
  // nothing to drop.
  auto usedUp = [&] {
    return w.ranges.size() > 1 && w.ranges.front().first >= w.ranges.front().second;
  };
  if (usedUp()) {
    const std::uint64_t mark = txn.db->rangesOnly ? 0 : highWaterMark(w.ranges);
    while (usedUp()) w.ranges.erase(w.ranges.begin());
    keepMark(w.ranges, mark);
  }
  if (w.ranges.empty() || w.ranges.front().first >= w.ranges.front().second) {
    if (txn.db->rangesOnly) {
      throw Error(ErrorCode::kNoIds, "tree '" + tree.name +
                                         "' has used every id of the ranges granted to it "
                                         "(database " +
                                         txn.db->path + "); new records need a fresh range");
    }
    // This database is its own id authority: extend past the high-water
    // mark, and past every id the tree holds, whatever put it there, but
    // never into the ids claimed elsewhere.
    std::uint64_t from = nextOwnId(txn, tree, w.ranges);
    if (from >= kClaimableIds) throw noIdsLeft(txn, tree, 1);
    w.ranges.assign(1, {from, std::min(from + kSelfGrant, kClaimableIds)});
  }
  w.idsDirty = true;
  return w.ranges.front().first++;
}

bool justAllocated(const TxnState& txn, const TreeState& tree, std::uint64_t id) {
  if (tree.ordinal >= txn.writes.size()) return false;
  const TreeWrite& w = txn.writes[tree.ordinal];
  // allocateId takes ids from the front range, and drops a used-up range
  // only when it is asked for the next id.
  return w.idsDirty && !w.ranges.empty() && w.ranges.front().first == id + 1;
}

void flushIds(TxnState& txn) {
  for (std::size_t i = 0; i < txn.writes.size(); ++i) {
    TreeWrite& w = txn.writes[i];
    if (!w.idsDirty) continue;
    capnp::MallocMessageBuilder msg;
    auto list = msg.initRoot<wire::IdRanges>().initRanges(static_cast<unsigned>(w.ranges.size()));
    for (unsigned j = 0; j < w.ranges.size(); ++j) {
      list[j].setNext(w.ranges[j].first);
      list[j].setEnd(w.ranges[j].second);
    }
    MetaStore meta(txn, txn.db->meta);
    meta.putMessage(idsKey(*txn.db->trees[i]), msg);
    w.idsDirty = false;
  }
}

}  // namespace hills::detail
