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
}  // namespace

std::uint64_t allocateId(TxnState& txn, const TreeState& tree) {
  TreeWrite& w = txn.writes[tree.ordinal];
  if (!w.idsLoaded) {
    MetaStore meta(txn.txn, txn.db->meta, txn.db->path);
    if (auto msg = meta.getMessage(idsKey(tree))) {
      try {
        // Exhausted ranges are kept too: the last one's end is the
        // high-water mark of every id ever handed out.
        for (auto r : msg->getRoot<wire::IdRanges>().getRanges()) {
          w.ranges.emplace_back(r.getNext(), r.getEnd());
        }
      } catch (const kj::Exception& e) {
        throw Error(ErrorCode::kCorrupt, "the id ranges of tree '" + tree.name +
                                             "' do not decode (database " + txn.db->path +
                                             "): " + e.getDescription().cStr());
      }
    }
    w.idsLoaded = true;
  }
  // Drop used-up ranges, but keep the last: its end is the high-water mark.
  while (w.ranges.size() > 1 && w.ranges.front().first >= w.ranges.front().second) {
    w.ranges.erase(w.ranges.begin());
  }
  if (w.ranges.empty() || w.ranges.front().first >= w.ranges.front().second) {
    // This database is its own id authority: extend past the high-water
    // mark, and past every id the tree holds, whatever put it there.
    std::uint64_t from = w.ranges.empty() ? 1 : w.ranges.front().second;
    from = std::max(from, lastStoredId(txn, tree) + 1);
    w.ranges.assign(1, {from, from + kSelfGrant});
  }
  w.idsDirty = true;
  return w.ranges.front().first++;
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
    MetaStore meta(txn.txn, txn.db->meta, txn.db->path, &txn.mapFull);
    meta.putMessage(idsKey(*txn.db->trees[i]), msg);
    w.idsDirty = false;
  }
}

}  // namespace hills::detail
