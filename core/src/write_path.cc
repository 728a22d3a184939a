#include "write_path.h"

#include <cstring>

#include "index_ops.h"
#include "state.h"
#include "storage.h"

namespace hills::detail {

Snapshot::Snapshot(TxnState& txn, const StoredRecord& rec)
    : t(txn), record(rec.tree_, rec.id(), rec.revision(), copy(rec)) {}

Snapshot::~Snapshot() {
  if (ownsBuffer) t.snapshotInUse = false;
}

kj::ArrayPtr<const capnp::word> Snapshot::copy(const StoredRecord& rec) {
  auto words = IndexOps::words(rec);
  // A hook that writes a tree while it reads a snapshot makes another one.
  std::vector<capnp::word>& buffer = t.snapshotInUse ? heap : t.snapshot;
  if (!t.snapshotInUse) {
    t.snapshotInUse = true;
    ownsBuffer = true;
  }
  buffer.assign(words.begin(), words.end());
  return {buffer.data(), buffer.size()};
}

void requireWritable(const TxnState& t) {
  if (!t.writable) {
    throw Error(ErrorCode::kInvalidArgument,
                "a write through a read transaction (database " + t.db->path + ")");
  }
}

namespace {

// Reads the tree's last key once per transaction, as the bound appends
// are held against.
void knowLast(TxnState& t, const TreeState& tree) {
  TreeWrite& w = t.writes[tree.ordinal];
  if (w.lastKnown) return;
  Cursor cursor(t.txn, tree.dbi, t.db->path);
  MDB_val lk, lv;
  int rc = mdb_cursor_get(cursor.get(), &lk, &lv, MDB_LAST);
  if (rc == MDB_SUCCESS && lk.mv_size == kKeySize) {
    std::memcpy(w.last.data(), lk.mv_data, kKeySize);
  } else if (rc == MDB_SUCCESS) {
    w.last.fill(0xff);  // a foreign key: never append
  } else if (rc != MDB_NOTFOUND) {
    checkLmdb(rc, "finding the last key of tree '" + tree.name + "'", t.db->path);
  }
  w.lastKnown = true;
}

}  // namespace

void putValue(TxnState& t, const TreeState& tree, std::uint64_t id, std::uint32_t revision,
              kj::ArrayPtr<const capnp::word> words, bool fresh) {
  KeyBytes key = encodeKey(id, revision);
  MDB_val k = toVal(key);
  MDB_val v{words.size() * sizeof(capnp::word), const_cast<capnp::word*>(words.begin())};
  unsigned flags = 0;
  TreeWrite& w = t.writes[tree.ordinal];
  if (fresh) {
    knowLast(t, tree);
    // Creates usually come in key order: appended, with no search.
    flags = std::memcmp(key.data(), w.last.data(), kKeySize) > 0 ? MDB_APPEND : MDB_NOOVERWRITE;
  }
  int rc;
  if (flags == MDB_APPEND) {
    rc = w.appender.append(t.txn, tree.dbi, &k, &v);
    // LMDB refuses an append that does not sort last; should the remembered
    // bound ever be wrong, an ordinary insert decides.
    if (rc == MDB_KEYEXIST) {
      w.lastKnown = false;  // the bound was wrong: read it again when next needed
      rc = mdb_put(t.txn, tree.dbi, &k, &v, MDB_NOOVERWRITE);
    }
  } else {
    w.appender.invalidate();
    rc = mdb_put(t.txn, tree.dbi, &k, &v, flags);
  }
  if (rc == MDB_KEYEXIST) {
    throw Error(ErrorCode::kAlreadyExists, describe(tree.name, id, revision) + " exists already");
  }
  t.checkWrite(rc, [&] { return "writing " + describe(tree.name, id, revision); });
  // The bound stays past every key: reads in this transaction rely on it.
  if (w.lastKnown && std::memcmp(key.data(), w.last.data(), kKeySize) > 0) w.last = key;
}

namespace {

void removeValue(TxnState& t, const TreeState& tree, std::uint64_t id, std::uint32_t revision) {
  KeyBytes key = encodeKey(id, revision);
  MDB_val k = toVal(key);
  t.writes[tree.ordinal].appender.invalidate();
  t.checkWrite(mdb_del(t.txn, tree.dbi, &k, nullptr),
               [&] { return "removing " + describe(tree.name, id, revision); });
}

// Runs `step`, which writes: should it throw after earlier writes of the
// mutation, the transaction must not commit (indexes or hook tables would
// disagree with the records), even if the caller catches the error.
template <class F>
void written(TxnState& t, bool earlierWrites, F&& step) {
  if (!earlierWrites) return step();
  try {
    step();
  } catch (...) {
    if (!t.mapFull) t.failure = std::current_exception();
    throw;
  }
}

}  // namespace

void storeMutation(TxnState& t, const TreeState& tree, Mutating& m,
                   kj::FunctionParam<void()> rules) {
  const auto& hooks = t.db->options.hooks;
  const bool observed = !hooks.empty() || !tree.indexes.empty();
  std::optional<Snapshot> before;
  if (observed && m.old) before.emplace(t, *m.old);
  const bool storing = m.value.size() != 0;
  // Hooks see the new value as a record; indexers read its envelope, which
  // costs no reader of its own.
  std::optional<InPlace> built;
  if (storing && !hooks.empty()) built.emplace(&tree, m.id, m.revision, m.value);
  const StoredRecord* after = built ? &built->record : nullptr;
  // Read before anything is written: the old bytes may move or change.
  std::uint32_t dataIteration = 0, metaIteration = 0;
  if (storing) {
    dataIteration = m.envelope.getDataIteration();
    metaIteration = m.envelope.getMetaIteration();
  } else if (m.old) {
    dataIteration = m.old->envelope().getDataIteration();
    metaIteration = m.old->envelope().getMetaIteration();
  }
  Mutation seen{m.kind,
                tree.name,
                m.id,
                m.revision,
                before ? &before->record : nullptr,
                after,
                m.origin.empty() ? std::string_view(t.origin) : m.origin,
                m.applied,
                m.concurrent};
  if (!hooks.empty()) {
    TxnAccess::withWriteTxn(&t, [&](WriteTxn& txn) {
      for (const auto& hook : hooks) hook->check(txn, seen);
    });
  }
  rules();
  bool indexed = !tree.indexes.empty();
  if (indexed) {
    std::optional<IndexedRecord> was, now;
    if (before) was = IndexedRecord{m.id, m.revision, before->record.envelope()};
    if (storing) now = IndexedRecord{m.id, m.revision, m.envelope};
    IndexOps::apply(t, tree, was ? &*was : nullptr, now ? &*now : nullptr);
  }
  written(t, indexed, [&] {
    if (storing) {
      putValue(t, tree, m.id, m.revision, m.value, m.fresh);
    } else {
      removeValue(t, tree, m.id, m.revision);
    }
  });
  recordChange(t, tree, m.kind, m.id, m.revision, dataIteration, metaIteration, m.value,
               std::move(m.changed), ChangeNote{m.origin, {}, 0});
  if (!hooks.empty()) {
    written(t, true, [&] {
      TxnAccess::withWriteTxn(&t, [&](WriteTxn& txn) {
        for (const auto& hook : hooks) hook->stored(txn, seen);
      });
    });
  }
}

kj::ArrayPtr<const capnp::word> valueWords(const TreeState& tree, std::uint64_t id,
                                           std::uint32_t revision,
                                           kj::ArrayPtr<const kj::byte> bytes,
                                           kj::Array<capnp::word>& copy) {
  if (bytes.size() == 0 || bytes.size() % sizeof(capnp::word) != 0) {
    throw Error(ErrorCode::kCorrupt, "the value of a change of " +
                                         describe(tree.name, id, revision) +
                                         " is not a whole number of words");
  }
  // Cap'n Proto starts every blob on a word boundary, so a value inside a
  // received message is read in place; anything else is copied first.
  if (isAligned(bytes.begin())) {
    return {reinterpret_cast<const capnp::word*>(bytes.begin()),
            bytes.size() / sizeof(capnp::word)};
  }
  copy = kj::heapArray<capnp::word>(bytes.size() / sizeof(capnp::word));
  std::memcpy(copy.begin(), bytes.begin(), bytes.size());
  return copy;
}

}  // namespace hills::detail
