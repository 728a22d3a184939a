// Index tables, the indexer hook of the write path, and rebuilds at open.
#include "hills/index.h"

#include <algorithm>
#include <cstring>

#include "ids.h"
#include "index_ops.h"
#include "state.h"
#include "storage.h"

namespace hills {

using detail::checkLmdb;
using detail::Cursor;
using detail::IndexState;
using detail::TxnState;

namespace {

constexpr std::size_t kMaxIndexKey = 500;  // LMDB's limit is 511 bytes

RecordId decodeRecord(const MDB_val& v) {
  detail::DecodedKey k{};
  detail::decodeKey(v, k);
  return RecordId{k.id, k.revision};
}

std::string_view asView(const MDB_val& v) {
  return {static_cast<const char*>(v.mv_data), v.mv_size};
}

void checkIndexKey(const std::string& index, std::string_view key) {
  if (key.empty() || key.size() > kMaxIndexKey) {
    throw Error(ErrorCode::kInvalidArgument,
                "index '" + index + "': a key of " + std::to_string(key.size()) +
                    " bytes (keys are 1 to " + std::to_string(kMaxIndexKey) + " bytes)");
  }
}

}  // namespace

// --- IndexView -------------------------------------------------------------

const std::string& IndexView::name() const { return index_->name; }
const std::string& IndexView::tree() const { return index_->tree->name; }

void IndexView::scan(std::string_view from, std::string_view to,
                     kj::FunctionParam<bool(std::string_view key, RecordId record)> fn) const {
  Cursor cursor(txn_->txn, index_->dbi, txn_->db->path);
  MDB_val k = detail::toVal(from), v;
  int rc = from.empty() ? mdb_cursor_get(cursor.get(), &k, &v, MDB_FIRST)
                        : mdb_cursor_get(cursor.get(), &k, &v, MDB_SET_RANGE);
  while (rc == MDB_SUCCESS) {
    std::string_view key = asView(k);
    if (!to.empty() && key >= to) return;
    if (!fn(key, decodeRecord(v))) return;
    rc = mdb_cursor_get(cursor.get(), &k, &v, MDB_NEXT);
  }
  if (rc != MDB_NOTFOUND) {
    checkLmdb(
        rc, [&] { return "reading index '" + index_->name + "'"; }, txn_->db->path);
  }
}

std::vector<RecordId> IndexView::exact(std::string_view key) const {
  std::vector<RecordId> out;
  if (key.empty()) return out;
  Cursor cursor(txn_->txn, index_->dbi, txn_->db->path);
  MDB_val k = detail::toVal(key), v;
  int rc = mdb_cursor_get(cursor.get(), &k, &v, MDB_SET_KEY);
  while (rc == MDB_SUCCESS) {
    out.push_back(decodeRecord(v));
    rc = mdb_cursor_get(cursor.get(), &k, &v, MDB_NEXT_DUP);
  }
  if (rc != MDB_NOTFOUND) {
    checkLmdb(
        rc, [&] { return "reading index '" + index_->name + "'"; }, txn_->db->path);
  }
  return out;
}

std::optional<RecordId> IndexView::first(std::string_view key) const {
  if (key.empty()) return std::nullopt;
  // A sorted-duplicates table hands back the first record under the key.
  MDB_val k = detail::toVal(key), v;
  int rc = mdb_get(txn_->txn, index_->dbi, &k, &v);
  if (rc == MDB_NOTFOUND) return std::nullopt;
  checkLmdb(
      rc, [&] { return "reading index '" + index_->name + "'"; }, txn_->db->path);
  return decodeRecord(v);
}

std::vector<RecordId> IndexView::prefix(std::string_view p, std::size_t limit) const {
  std::vector<RecordId> out;
  scan(p, {}, [&](std::string_view key, RecordId r) {
    if (key.substr(0, p.size()) != p || out.size() >= limit) return false;
    out.push_back(r);
    return true;
  });
  return out;
}

std::vector<RecordId> IndexView::range(std::string_view from, std::string_view to,
                                       std::size_t limit) const {
  std::vector<RecordId> out;
  scan(from, to, [&](std::string_view, RecordId r) {
    if (out.size() >= limit) return false;
    out.push_back(r);
    return true;
  });
  return out;
}

std::size_t IndexView::count(std::string_view key) const {
  if (key.empty()) return 0;
  Cursor cursor(txn_->txn, index_->dbi, txn_->db->path);
  MDB_val k = detail::toVal(key), v;
  int rc = mdb_cursor_get(cursor.get(), &k, &v, MDB_SET_KEY);
  if (rc == MDB_NOTFOUND) return 0;
  checkLmdb(
      rc, [&] { return "counting in index '" + index_->name + "'"; }, txn_->db->path);
  std::size_t n = 0;
  checkLmdb(
      mdb_cursor_count(cursor.get(), &n),
      [&] { return "counting in index '" + index_->name + "'"; }, txn_->db->path);
  return static_cast<std::size_t>(n);
}

std::uint64_t IndexView::size() const {
  MDB_stat stat;
  checkLmdb(
      mdb_stat(txn_->txn, index_->dbi, &stat),
      [&] { return "counting index '" + index_->name + "'"; }, txn_->db->path);
  return stat.ms_entries;
}

// --- IndexWriter -----------------------------------------------------------

namespace {

// Whether `key` sorts after every key of the index, so it can be appended
// without a search (keys that arrive in order: generated numbers, ids).
bool afterLast(TxnState& t, const IndexState& ix, std::string_view key) {
  auto& w = t.indexWrites[ix.ordinal];
  if (!w.lastKnown) {
    Cursor cursor(t.txn, ix.dbi, t.db->path);
    MDB_val k, v;
    int rc = mdb_cursor_get(cursor.get(), &k, &v, MDB_LAST);
    if (rc == MDB_SUCCESS) {
      w.last.assign(static_cast<const char*>(k.mv_data), k.mv_size);
      w.empty = false;
    } else if (rc == MDB_NOTFOUND) {
      w.empty = true;
    } else {
      checkLmdb(
          rc, [&] { return "reading index '" + ix.name + "'"; }, t.db->path);
    }
    w.lastKnown = true;
  }
  return w.empty || key > w.last;
}

}  // namespace

bool detail::IndexOps::sortsLast(const IndexView& view, std::string_view key) {
  return view.txn_->writable && afterLast(*view.txn_, *view.index_, key);
}

namespace {

// Puts an entry: appended when its key sorts after every key, else with
// `flags` (the append cannot find the key present, so it needs no check).
int write(TxnState& t, const IndexState& ix, MDB_val* k, MDB_val* v, unsigned flags) {
  auto& w = t.indexWrites[ix.ordinal];
  if (afterLast(t, ix, asView(*k))) {
    int rc = w.appender.append(t.txn, ix.dbi, k, v);
    if (rc != MDB_KEYEXIST) return rc;
    // LMDB refuses an append that does not sort last; should the remembered
    // bound ever be wrong, an ordinary insert decides.
  }
  w.appender.invalidate();
  return mdb_put(t.txn, ix.dbi, k, v, flags);
}

void noteLast(TxnState& t, const IndexState& ix, std::string_view key) {
  auto& w = t.indexWrites[ix.ordinal];
  if (w.lastKnown && (w.empty || key > w.last)) {
    w.last.assign(key);
    w.empty = false;
  }
}

}  // namespace

void IndexWriter::put(std::string_view key, RecordId record) {
  checkIndexKey(index_->name, key);
  auto rk = detail::encodeKey(record.id, record.revision);
  MDB_val k = detail::toVal(key), v = detail::toVal(rk);
  int rc = write(*txn_, *index_, &k, &v, MDB_NODUPDATA);
  if (rc == MDB_KEYEXIST) return;
  txn_->checkWrite(rc, [&] { return "writing index '" + index_->name + "'"; });
  noteLast(*txn_, *index_, key);
}

std::optional<RecordId> IndexWriter::putIfAbsent(std::string_view key, RecordId record) {
  checkIndexKey(index_->name, key);
  auto rk = detail::encodeKey(record.id, record.revision);
  MDB_val k = detail::toVal(key), v = detail::toVal(rk);
  // One descent for the check and the insert: LMDB hands back the first
  // record under an existing key.
  int rc = write(*txn_, *index_, &k, &v, MDB_NOOVERWRITE);
  if (rc == MDB_KEYEXIST) return decodeRecord(v);
  txn_->checkWrite(rc, [&] { return "writing index '" + index_->name + "'"; });
  noteLast(*txn_, *index_, key);
  return std::nullopt;
}

void IndexWriter::remove(std::string_view key, RecordId record) {
  // The remembered last key stays an upper bound: appends stay correct.
  if (key.empty() || key.size() > kMaxIndexKey) return;
  auto rk = detail::encodeKey(record.id, record.revision);
  MDB_val k = detail::toVal(key), v = detail::toVal(rk);
  txn_->indexWrites[index_->ordinal].appender.invalidate();
  int rc = mdb_del(txn_->txn, index_->dbi, &k, &v);
  if (rc == MDB_NOTFOUND) return;
  txn_->checkWrite(rc, [&] { return "writing index '" + index_->name + "'"; });
}

GenericTreeView IndexWriter::records() const {
  return detail::IndexOps::treeView(txn_, index_->tree);
}

// --- KeyedIndexer ----------------------------------------------------------

void KeyedIndexer::changedKeys(const IndexedRecord* before, const IndexedRecord* after,
                               std::vector<std::string>& removed,
                               std::vector<std::string>& added) const {
  auto sorted = [&](const IndexedRecord* record, std::vector<std::string>& out) {
    if (!record) return;
    keys(*record, out);
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
  };
  std::vector<std::string> old, now;
  sorted(before, old);
  sorted(after, now);
  for (auto& k : old) {
    if (!after || !std::binary_search(now.begin(), now.end(), k)) removed.push_back(k);
  }
  // Keys the record had before (same id and revision) are in place already.
  bool same = before && after && before->id == after->id && before->revision == after->revision;
  for (auto& k : now) {
    if (!same || !std::binary_search(old.begin(), old.end(), k)) added.push_back(std::move(k));
  }
}

namespace {

// The keys check() computed for the mutation being indexed, kept for the
// apply() of the same mutation: computing them (a record's names,
// normalised) is most of an indexer's work. A pass number ties them to one
// mutation: IndexOps::apply and each record of a rebuild start a new pass.
struct ComputedKeys {
  const KeyedIndexer* owner = nullptr;
  std::vector<std::string> removed, added;
};
thread_local std::uint64_t indexPass = 0;
thread_local std::uint64_t computedPass = 0;
thread_local std::vector<ComputedKeys> computed;

void startPass() {
  ++indexPass;
}

ComputedKeys* computedBy(const KeyedIndexer* owner) {
  if (computedPass != indexPass) return nullptr;
  for (auto& c : computed) {
    if (c.owner == owner) return &c;
  }
  return nullptr;
}

ComputedKeys& keepComputed(const KeyedIndexer* owner) {
  if (computedPass != indexPass) {
    computed.clear();
    computedPass = indexPass;
  }
  computed.push_back(ComputedKeys{owner, {}, {}});
  return computed.back();
}

}  // namespace

void KeyedIndexer::check(const IndexView& index, const IndexedRecord* before,
                         const IndexedRecord* after) {
  if (!unique() || !after) return;
  auto& keys = keepComputed(this);
  keys.removed.clear();
  keys.added.clear();
  changedKeys(before, after, keys.removed, keys.added);
  const auto& added = keys.added;
  for (const auto& k : added) {
    checkIndexKey(index.name(), k);
    // Every entry under a unique key belongs to one id: the first tells.
    // Keys that come in order (generated numbers) sort last: no search.
    auto holder = detail::IndexOps::sortsLast(index, k) ? std::nullopt : index.first(k);
    if (!holder || holder->id == after->id) continue;
    std::string name = keyName(*after, k);
    throw Error(ErrorCode::kAlreadyExists,
                "the name '" + name + "'" + (name == k ? "" : " (compared as '" + k + "')") +
                    " is taken by " + describe(index.tree(), holder->id, holder->revision));
  }
}

void KeyedIndexer::apply(IndexWriter& out, const IndexedRecord* before,
                         const IndexedRecord* after) {
  std::vector<std::string> removed, added;
  if (auto* keys = computedBy(this)) {
    removed = std::move(keys->removed);
    added = std::move(keys->added);
    keys->owner = nullptr;
  } else {
    changedKeys(before, after, removed, added);
  }
  // check() has refused keys that another id holds.
  for (const auto& k : removed) out.remove(k, RecordId{before->id, before->revision});
  for (const auto& k : added) out.put(k, RecordId{after->id, after->revision});
}

// --- the write path and rebuilds -------------------------------------------

namespace detail {

GenericTreeView IndexOps::treeView(TxnState* t, TreeState* tree) {
  return GenericTreeView(t, tree);
}

IndexView IndexOps::view(TxnState* t, std::string_view name) {
  auto it = t->db->indexByName.find(name);
  if (it == t->db->indexByName.end()) {
    throw Error(ErrorCode::kInvalidArgument, "no indexer named '" + std::string(name) +
                                                 "' is registered (database " + t->db->path + ")");
  }
  return IndexView(t, it->second);
}

namespace {

// Calls into an indexer. What it throws comes back as Error with its code
// (kCorrupt for Cap'n Proto's exceptions, kInvalidArgument for any other),
// its message after `context()`; an Error raised by a full map passes as it
// is: write() grows the map and runs the function again.
template <class Call, class Context>
void callIndexer(const TxnState& t, Call&& call, Context&& context) {
  try {
    call();
  } catch (const Error& e) {
    if (t.mapFull) throw;
    throw Error(e.code(), context() + e.what());
  } catch (const kj::Exception& e) {
    throw Error(ErrorCode::kCorrupt, context() + e.getDescription().cStr());
  } catch (const std::exception& e) {
    throw Error(ErrorCode::kInvalidArgument, context() + e.what());
  }
}

}  // namespace

void IndexOps::apply(TxnState& t, const TreeState& tree, const IndexedRecord* before,
                     const IndexedRecord* after) {
  const IndexedRecord* which = after ? after : before;
  auto context = [&](const IndexState& ix) {
    // A record being created has an id its caller has not seen yet.
    bool created = !before && which->revision == 0 && justAllocated(t, tree, which->id);
    return "indexer '" + ix.name + "' refused " +
           (created ? "a new record of tree '" + tree.name + "'"
                    : describe(tree.name, which->id, which->revision)) +
           ": ";
  };
  startPass();
  // Every check before any write: a refusal leaves the transaction as it was.
  for (IndexState* ix : tree.indexes) {
    IndexView view(&t, ix);
    callIndexer(
        t, [&] { ix->indexer->check(view, before, after); }, [&] { return context(*ix); });
  }
  for (IndexState* ix : tree.indexes) {
    IndexWriter w(&t, ix);
    try {
      callIndexer(
          t, [&] { ix->indexer->apply(w, before, after); }, [&] { return context(*ix); });
    } catch (const Error&) {
      // Entries may be half written: the transaction must not commit, even
      // if the caller catches.
      if (!t.mapFull) t.failure = std::current_exception();
      throw;
    }
  }
}

void IndexOps::rebuild(
    TxnState& t, IndexState& ix,
    const std::function<void(std::string_view, std::uint64_t, std::uint64_t)>& progress) {
  checkLmdb(
      mdb_drop(t.txn, ix.dbi, 0), [&] { return "emptying index '" + ix.name + "'"; }, t.db->path);
  GenericTreeView tree(&t, ix.tree);
  std::uint64_t total = tree.size(), done = 0;
  IndexWriter w(&t, &ix);
  if (progress) progress(ix.name, 0, total);
  tree.scan(0, UINT64_MAX, [&](const StoredRecord& rec) {
    IndexedRecord r{rec.id(), rec.revision(), rec.envelope()};
    callIndexer(
        t,
        [&] {
          startPass();
          ix.indexer->check(w, nullptr, &r);
          ix.indexer->apply(w, nullptr, &r);
        },
        [&] {
          return "rebuilding index '" + ix.name + "' at " +
                 describe(ix.tree->name, r.id, r.revision) + ": ";
        });
    if (++done % 4096 == 0 && progress) progress(ix.name, done, total);
    return true;
  });
  if (progress) progress(ix.name, done, total);
  MetaStore meta(t, t.db->meta);
  meta.putText("index:" + ix.name, stamp(ix));
}

std::string IndexOps::stamp(const IndexState& ix) {
  return std::to_string(ix.indexer->version()) + " " + ix.tree->name;
}

}  // namespace detail

IndexView ReadTxn::index(std::string_view name) const {
  return detail::IndexOps::view(state_, name);
}

}  // namespace hills
