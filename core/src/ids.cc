#include "ids.h"

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
}  // namespace

std::uint64_t allocateId(TxnState& txn, const TreeState& tree) {
  TreeWrite& w = txn.writes[tree.ordinal];
  if (!w.idsLoaded) {
    MetaStore meta(txn.txn, txn.db->meta, txn.db->path);
    if (auto msg = meta.getMessage(idsKey(tree))) {
      for (auto r : msg->getRoot<wire::IdRanges>().getRanges()) {
        if (r.getNext() < r.getEnd()) w.ranges.emplace_back(r.getNext(), r.getEnd());
      }
    }
    w.idsLoaded = true;
  }
  while (!w.ranges.empty() && w.ranges.front().first >= w.ranges.front().second) {
    if (w.ranges.size() == 1) break;  // keep the last one: its end is the high-water mark
    w.ranges.erase(w.ranges.begin());
  }
  if (w.ranges.empty() || w.ranges.front().first >= w.ranges.front().second) {
    // This database is its own id authority: extend past the high-water mark.
    std::uint64_t from = w.ranges.empty() ? 1 : w.ranges.front().second;
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
    MetaStore meta(txn.txn, txn.db->meta, txn.db->path);
    try {
      meta.putMessage(idsKey(*txn.db->trees[i]), msg);
    } catch (const Error& e) {
      if (e.code() == ErrorCode::kMapFull) txn.mapFull = true;
      throw;
    }
    w.idsDirty = false;
  }
}

}  // namespace hills::detail
