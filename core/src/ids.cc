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

std::uint64_t lastStoredId(TxnState& txn, const TreeState& tree) {
  Cursor cursor(txn.txn, tree.dbi, txn.db->path);
  MDB_val k, v;
  int rc = mdb_cursor_get(cursor.get(), &k, &v, MDB_LAST);
  if (rc == MDB_NOTFOUND) return 0;
  checkLmdb(
      rc, [&] { return "finding the last id of tree '" + tree.name + "'"; }, txn.db->path);
  DecodedKey key;
  return decodeKey(k, key) ? key.id : 0;
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
}  // namespace

void addIdRange(TxnState& txn, const TreeState& tree, std::uint64_t start, std::uint64_t end) {
  if (start == 0 || start >= end) {
    throw Error(ErrorCode::kInvalidArgument, "an id range [" + std::to_string(start) + ", " +
                                                 std::to_string(end) + ") for tree '" + tree.name +
                                                 "' is empty or starts at 0");
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
  // Unused ranges first, in the order they came; a used-up last range (the
  // high-water mark) goes away once a fresh range follows it.
  std::erase_if(ranges, [](const auto& r) { return r.first >= r.second; });
  ranges.emplace_back(start, end);
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
  // Beyond the high-water mark (the last range's end) and every stored id.
  std::uint64_t from = ranges.empty() ? 1 : ranges.back().second;
  from = std::max(from, lastStoredId(txn, tree) + 1);
  if (count > UINT64_MAX - from) {
    throw Error(ErrorCode::kNoIds, "tree '" + tree.name + "' has no " + std::to_string(count) +
                                       " ids left to grant (database " + txn.db->path + ")");
  }
  // An empty range at the end records the new high-water mark; this
  // database's own unused range stays in front of it, used-up ones go.
  std::erase_if(ranges, [](const auto& r) { return r.first >= r.second; });
  ranges.emplace_back(from + count, from + count);
  txn.writes[tree.ordinal].idsDirty = true;
  return {from, from + count};
}

std::uint64_t idsLeft(TxnState& txn, const TreeState& tree) {
  auto ranges = txn.writable ? rangesOf(txn, tree) : loadRanges(txn, tree);
  std::uint64_t left = 0;
  for (const auto& [next, end] : ranges) left += next < end ? end - next : 0;
  return left;
}

std::uint64_t allocateId(TxnState& txn, const TreeState& tree) {
  TreeWrite& w = txn.writes[tree.ordinal];
  rangesOf(txn, tree);
  // Drop used-up ranges, but keep the last: its end is the high-water mark.
  while (w.ranges.size() > 1 && w.ranges.front().first >= w.ranges.front().second) {
    w.ranges.erase(w.ranges.begin());
  }
  if (w.ranges.empty() || w.ranges.front().first >= w.ranges.front().second) {
    if (txn.db->rangesOnly) {
      throw Error(ErrorCode::kNoIds, "tree '" + tree.name +
                                         "' has used every id of the ranges granted to it "
                                         "(database " +
                                         txn.db->path + "); new records need a fresh range");
    }
    // This database is its own id authority: extend past the high-water
    // mark, and past every id the tree holds, whatever put it there.
    std::uint64_t from = w.ranges.empty() ? 1 : w.ranges.front().second;
    from = std::max(from, lastStoredId(txn, tree) + 1);
    w.ranges.assign(1, {from, from + kSelfGrant});
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
