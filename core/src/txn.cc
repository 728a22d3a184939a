#include "hills/txn.h"

#include <cstring>

#include "hills/tree.h"
#include "ids.h"
#include "index_ops.h"
#include "log.h"
#include "state.h"
#include "storage.h"

namespace hills {

using detail::checkLmdb;
using detail::Cursor;
using detail::KeyBytes;
using detail::TreeState;
using detail::TxnState;

std::string_view toString(State state) { return state == State::kReleased ? "released" : "draft"; }

namespace detail {

[[noreturn]] void throwCorrupt(const TreeState& tree, std::uint64_t id, std::uint32_t revision,
                               const kj::Exception& e) {
  throw Error(ErrorCode::kCorrupt, "the stored value of " + describe(tree.name, id, revision) +
                                       " in the database " + *tree.database +
                                       " does not decode: " + e.getDescription().cStr());
}

void checkTreeType(const TreeState* tree, std::string_view name, std::uint64_t typeId) {
  if (!tree->compiled) {
    // Its schema was never checked against the stored one: reading through
    // it could misread, writing could store an incompatible layout.
    throw Error(ErrorCode::kUnknownTree,
                "tree '" + std::string(name) +
                    "' was not declared in Options::trees when the database was opened");
  }
  if (tree->typeId != typeId) {
    throw Error(ErrorCode::kWrongTree,
                "tree '" + std::string(name) + "' holds records of type id " +
                    std::to_string(tree->typeId) + ", not of type id " + std::to_string(typeId));
  }
}

namespace {

std::chrono::system_clock::time_point fromNanos(std::int64_t ns) {
  return std::chrono::system_clock::time_point(
      std::chrono::duration_cast<std::chrono::system_clock::duration>(
          std::chrono::nanoseconds(ns)));
}

std::optional<MDB_val> getValue(TxnState& t, const TreeState& tree, std::uint64_t id,
                                std::uint32_t revision) {
  KeyBytes key = encodeKey(id, revision);
  MDB_val k = toVal(key), v;
  int rc = mdb_get(t.txn, tree.dbi, &k, &v);
  if (rc == MDB_NOTFOUND) return std::nullopt;
  checkLmdb(
      rc, [&] { return "reading " + describe(tree.name, id, revision); }, t.db->path);
  return v;
}

wire::Envelope::Reader envelopeOf(capnp::MessageReader& reader, const TreeState& tree,
                                  std::uint64_t id, std::uint32_t revision) {
  try {
    return reader.getRoot<wire::Envelope>();
  } catch (const kj::Exception& e) {
    throwCorrupt(tree, id, revision, e);
  }
}

void requireWritable(const TxnState& t) {
  if (!t.writable) {
    throw Error(ErrorCode::kInvalidArgument,
                "a write through a read transaction (database " + t.db->path + ")");
  }
}

// Puts a built record value. `fresh` marks a key that must not exist yet:
// appended when it sorts after every key of the tree (bulk creates), else
// inserted with a check.
void putValue(TxnState& t, const TreeState& tree, std::uint64_t id, std::uint32_t revision,
              kj::ArrayPtr<const capnp::word> words, bool fresh) {
  KeyBytes key = encodeKey(id, revision);
  MDB_val k = toVal(key);
  MDB_val v{words.size() * sizeof(capnp::word), const_cast<capnp::word*>(words.begin())};
  unsigned flags = 0;
  TreeWrite& w = t.writes[tree.ordinal];
  if (fresh) {
    if (!w.lastKnown) {
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
    flags = std::memcmp(key.data(), w.last.data(), kKeySize) > 0 ? MDB_APPEND : MDB_NOOVERWRITE;
  }
  int rc;
  if (flags == MDB_APPEND) {
    rc = w.appender.append(t.txn, tree.dbi, &k, &v);
    // LMDB refuses an append that does not sort last; should the remembered
    // bound ever be wrong, an ordinary insert decides.
    if (rc == MDB_KEYEXIST) rc = mdb_put(t.txn, tree.dbi, &k, &v, MDB_NOOVERWRITE);
  } else {
    w.appender.invalidate();
    rc = mdb_put(t.txn, tree.dbi, &k, &v, flags);
  }
  if (rc == MDB_KEYEXIST) {
    throw Error(ErrorCode::kAlreadyExists, describe(tree.name, id, revision) + " exists already");
  }
  t.checkWrite(rc, [&] { return "writing " + describe(tree.name, id, revision); });
  if (fresh && std::memcmp(key.data(), w.last.data(), kKeySize) > 0) w.last = key;
}

}  // namespace
}  // namespace detail

using detail::envelopeOf;
using detail::getValue;
using detail::requireWritable;

// --- StoredRecord -------------------------------------------------------

StoredRecord::StoredRecord(const TreeState* tree, std::uint64_t id, std::uint32_t revision,
                           kj::ArrayPtr<const capnp::word> words)
    : tree_(tree), id_(id), revision_(revision), reader_(words) {
  envelope_ = envelopeOf(reader_, *tree, id, revision);
}

RecordMeta StoredRecord::meta() const {
  try {
    RecordMeta m;
    m.state = envelope_.getState() == wire::State::RELEASED ? State::kReleased : State::kDraft;
    m.lifecycle = envelope_.getLifecycle();
    m.created = detail::fromNanos(envelope_.getCreated());
    m.modified = detail::fromNanos(envelope_.getModified());
    auto author = envelope_.getAuthor();
    m.author.assign(author.begin(), author.size());
    m.dataIteration = envelope_.getDataIteration();
    m.metaIteration = envelope_.getMetaIteration();
    return m;
  } catch (const kj::Exception& e) {
    detail::throwCorrupt(*tree_, id_, revision_, e);
  }
}

void StoredRecord::throwCorrupt(const kj::Exception& e) const {
  detail::throwCorrupt(*tree_, id_, revision_, e);
}

State StoredRecord::state() const {
  return envelope_.getState() == wire::State::RELEASED ? State::kReleased : State::kDraft;
}

// --- GenericTreeView ----------------------------------------------------

const std::string& GenericTreeView::name() const { return tree_->name; }
bool GenericTreeView::versioned() const { return tree_->versioned; }
std::uint64_t GenericTreeView::typeId() const { return tree_->typeId; }

StoredRecord GenericTreeView::find(std::uint64_t id, std::uint32_t revision) const {
  auto v = getValue(*txn_, *tree_, id, revision);
  if (!v) return StoredRecord();
  return StoredRecord(tree_, id, revision, txn_->words(*v, *tree_, id, revision));
}

StoredRecord GenericTreeView::find(const OpaqueKey& key) const {
  if (key.tree != tree_->name) {
    throw Error(ErrorCode::kWrongTree, "the key " + describe(key) + " names tree '" + key.tree +
                                           "', not '" + tree_->name + "'");
  }
  return find(key.id, key.revision);
}

capnp::StructSchema GenericTreeView::schema() const { return tree_->schema; }

StoredRecord GenericTreeView::require(std::uint64_t id, std::uint32_t revision) const {
  auto v = getValue(*txn_, *tree_, id, revision);
  if (!v) {
    throw Error(ErrorCode::kNotFound, describe(tree_->name, id, revision) + " does not exist");
  }
  return StoredRecord(tree_, id, revision, txn_->words(*v, *tree_, id, revision));
}

bool GenericTreeView::contains(std::uint64_t id, std::uint32_t revision) const {
  return getValue(*txn_, *tree_, id, revision).has_value();
}

std::optional<std::uint32_t> GenericTreeView::latestRevision(std::uint64_t id) const {
  Cursor cursor(txn_->txn, tree_->dbi, txn_->db->path);
  MDB_val k, v;
  int rc;
  if (id == UINT64_MAX) {
    rc = mdb_cursor_get(cursor.get(), &k, &v, MDB_LAST);
  } else {
    KeyBytes next = detail::encodeKey(id + 1, 0);
    k = detail::toVal(next);
    rc = mdb_cursor_get(cursor.get(), &k, &v, MDB_SET_RANGE);
    rc = rc == MDB_SUCCESS ? mdb_cursor_get(cursor.get(), &k, &v, MDB_PREV)
                           : mdb_cursor_get(cursor.get(), &k, &v, MDB_LAST);
  }
  if (rc == MDB_NOTFOUND) return std::nullopt;
  checkLmdb(
      rc,
      [&] { return "finding the latest revision of " + tree_->name + " id " + std::to_string(id); },
      txn_->db->path);
  detail::DecodedKey key;
  if (!detail::decodeKey(k, key) || key.id != id) return std::nullopt;
  return key.revision;
}

namespace {

// Asks the CPU to fetch a value's first cache lines: a scan touches each
// value once, so its time is memory latency unless the next value is on its
// way while this one is read.
void prefetchValue(const MDB_val& v) {
  const char* p = static_cast<const char*>(v.mv_data);
  std::size_t n = std::min<std::size_t>(v.mv_size, 512);
  for (std::size_t off = 0; off < n; off += 64) __builtin_prefetch(p + off);
}

}  // namespace

void GenericTreeView::scan(std::uint64_t firstId, std::uint64_t lastId,
                           kj::FunctionParam<bool(const StoredRecord&)> fn) const {
  Cursor cursor(txn_->txn, tree_->dbi, txn_->db->path);
  KeyBytes first = detail::encodeKey(firstId, 0);
  MDB_val k = detail::toVal(first), v;
  int rc = mdb_cursor_get(cursor.get(), &k, &v, MDB_SET_RANGE);
  while (rc == MDB_SUCCESS) {
    detail::DecodedKey key;
    if (!detail::decodeKey(k, key)) {
      throw Error(ErrorCode::kCorrupt, "tree '" + tree_->name + "' holds a key of " +
                                           std::to_string(k.mv_size) + " bytes (database " +
                                           txn_->db->path + ")");
    }
    if (key.id > lastId) return;
    // Step the cursor first, so the next value loads while fn reads this one.
    MDB_val current = v;
    rc = mdb_cursor_get(cursor.get(), &k, &v, MDB_NEXT);
    if (rc == MDB_SUCCESS) prefetchValue(v);
    StoredRecord rec(tree_, key.id, key.revision,
                     txn_->words(current, *tree_, key.id, key.revision));
    if (!fn(rec)) return;
  }
  if (rc != MDB_NOTFOUND) checkLmdb(rc, "scanning tree '" + tree_->name + "'", txn_->db->path);
}

std::uint64_t GenericTreeView::idsLeft() const { return detail::idsLeft(*txn_, *tree_); }

void GenericTree::addIdRange(std::uint64_t start, std::uint64_t end) {
  requireWritable(*txn_);
  detail::addIdRange(*txn_, *tree_, start, end);
}

std::pair<std::uint64_t, std::uint64_t> GenericTree::grantIds(std::uint64_t count) {
  requireWritable(*txn_);
  return detail::grantIds(*txn_, *tree_, count);
}

std::uint64_t GenericTreeView::size() const {
  MDB_stat stat;
  checkLmdb(
      mdb_stat(txn_->txn, tree_->dbi, &stat), [&] { return "counting tree '" + tree_->name + "'"; },
      txn_->db->path);
  return stat.ms_entries;
}

// --- GenericTree --------------------------------------------------------

namespace {

// A copy of a stored record for indexers: they write to other tables while
// they read it, and LMDB may reuse the pages of the original meanwhile.
struct Snapshot {
  detail::ValueReader reader;
  IndexedRecord record;
  Snapshot(TxnState& t, const StoredRecord& rec)
      : reader(copyWords(t, detail::IndexOps::words(rec))) {
    record = detail::IndexOps::record(rec.id(), rec.revision(), reader.getRoot<wire::Envelope>());
  }
  static kj::ArrayPtr<const capnp::word> copyWords(TxnState& t,
                                                   kj::ArrayPtr<const capnp::word> words) {
    t.snapshot.assign(words.begin(), words.end());
    return {t.snapshot.data(), t.snapshot.size()};
  }
};

// Runs the tree's indexers for a mutation whose new value `msg` holds (none
// for a remove), before it is stored.
void index(TxnState& t, const TreeState& tree, const StoredRecord* before, std::uint64_t id,
           std::uint32_t revision, capnp::MessageBuilder* msg) {
  if (tree.indexes.empty()) return;
  std::optional<Snapshot> old;
  if (before) old.emplace(t, *before);
  std::optional<IndexedRecord> now;
  if (msg) now = detail::IndexOps::record(id, revision, msg->getRoot<wire::Envelope>().asReader());
  detail::IndexOps::apply(t, tree, old ? &old->record : nullptr, now ? &*now : nullptr);
}

// Stores a change whose index entries are written already: if storing it
// fails, the transaction must not commit (its indexes would disagree with
// its records), even if the caller catches the error.
template <class F>
void storeIndexed(TxnState& t, const TreeState& tree, F&& store) {
  if (tree.indexes.empty()) return store();
  try {
    store();
  } catch (...) {
    if (!t.mapFull) t.failure = std::current_exception();
    throw;
  }
}

// Records a stored change: in the change log when the database keeps one,
// and as an event for delivery after commit when anyone listens. `value` is
// what was stored (empty for a removal).
void recordChange(TxnState& t, const TreeState& tree, EventKind kind, std::uint64_t id,
                  std::uint32_t revision, std::uint32_t dataIteration, std::uint32_t metaIteration,
                  kj::ArrayPtr<const capnp::word> value, std::vector<std::string> changed = {}) {
  if (t.db->log.open) detail::appendChange(t, tree, kind, id, revision, value);
  if (t.db->hub->active()) {
    t.events.push_back(Event{kind, OpaqueKey{tree.name, id, revision}, std::string(), dataIteration,
                             metaIteration, std::move(changed), 0});
  }
}

// Calls fn with the stored record (require()'s error when there is none).
template <class F>
decltype(auto) withRecord(const GenericTreeView& tree, std::uint64_t id, std::uint32_t revision,
                          F&& fn) {
  StoredRecord rec = tree.require(id, revision);
  return fn(static_cast<const StoredRecord&>(rec));
}

}  // namespace

std::uint64_t GenericTree::create(BodyWriter write) {
  TxnState& t = *txn_;
  requireWritable(t);
  std::uint64_t id = detail::allocateId(t, *tree_);
  detail::ValueBuilder builder(t);
  auto& msg = builder.get();
  auto env = msg.initRoot<wire::Envelope>();
  env.setState(wire::State::DRAFT);
  env.setTypeId(tree_->typeId);
  env.setCreated(t.now);
  env.setModified(t.now);
  env.setAuthor(t.db->options.author);
  env.setDataIteration(1);
  env.setMetaIteration(1);
  bool compact = write(env.getBody(), capnp::AnyPointer::Reader());
  index(t, *tree_, nullptr, id, 0, &msg);
  kj::Array<capnp::word> spill;
  auto words = detail::singleSegment(msg, compact, spill);
  storeIndexed(t, *tree_, [&] { detail::putValue(t, *tree_, id, 0, words, true); });
  recordChange(t, *tree_, EventKind::kCreated, id, 0, 1, 1, words);
  return id;
}

void GenericTree::update(std::uint64_t id, std::uint32_t revision, BodyWriter write) {
  TxnState& t = *txn_;
  requireWritable(t);
  withRecord(*this, id, revision, [&](const StoredRecord& old) {
    if (old.state() == State::kReleased) {
      throw Error(ErrorCode::kReleased,
                  describe(tree_->name, id, revision) +
                      " is released: its data is frozen; make a new revision");
    }
    try {
      auto o = old.envelope();
      detail::ValueBuilder builder(t);
      auto& msg = builder.get();
      auto env = msg.initRoot<wire::Envelope>();
      env.setState(o.getState());
      env.setLifecycle(o.getLifecycle());
      env.setTypeId(o.getTypeId());
      env.setCreated(o.getCreated());
      env.setModified(t.now);
      env.setAuthor(t.db->options.author);
      // Read before anything is written: the old bytes may move or change.
      const std::uint32_t dataIteration = o.getDataIteration() + 1;
      const std::uint32_t metaIteration = o.getMetaIteration();
      env.setDataIteration(dataIteration);
      env.setMetaIteration(metaIteration);
      bool compact = write(env.getBody(), o.getBody());
      bool notify = t.db->hub->active();
      std::vector<std::string> changed;
      if (notify) {
        // Compared before the put: afterwards LMDB may have moved the old bytes.
        changed = detail::changedFields(tree_->schema, o.getBody().getAs<capnp::AnyStruct>(),
                                        env.getBody().asReader().getAs<capnp::AnyStruct>());
      }
      index(t, *tree_, &old, id, revision, &msg);
      kj::Array<capnp::word> spill;
      auto words = detail::singleSegment(msg, compact, spill);
      storeIndexed(t, *tree_, [&] { detail::putValue(t, *tree_, id, revision, words, false); });
      recordChange(t, *tree_, EventKind::kUpdated, id, revision, dataIteration, metaIteration,
                   words, std::move(changed));
    } catch (const kj::Exception& e) {
      detail::throwCorrupt(*tree_, id, revision, e);
    }
  });
}

void GenericTree::remove(std::uint64_t id, std::uint32_t revision) {
  TxnState& t = *txn_;
  requireWritable(t);
  auto [dataIteration,
        metaIteration] = withRecord(*this, id, revision, [&](const StoredRecord& old) {
    if (old.state() == State::kReleased) {
      throw Error(ErrorCode::kReleased, describe(tree_->name, id, revision) +
                                            " is released: it cannot be removed, so that records "
                                            "that point to it keep what they pointed to");
    }
    auto iterations =
        std::pair(old.envelope().getDataIteration(), old.envelope().getMetaIteration());
    index(t, *tree_, &old, id, revision, nullptr);
    return iterations;
  });
  KeyBytes key = detail::encodeKey(id, revision);
  MDB_val k = detail::toVal(key);
  t.writes[tree_->ordinal].appender.invalidate();
  storeIndexed(t, *tree_, [&] {
    t.checkWrite(mdb_del(t.txn, tree_->dbi, &k, nullptr),
                 [&] { return "removing " + describe(tree_->name, id, revision); });
  });
  recordChange(t, *tree_, EventKind::kRemoved, id, revision, dataIteration, metaIteration, {});
}

namespace {

// Stores a copy of `old` changed by `change` under (id, revision), and
// records the event `kind`.
template <class F>
void rewrite(TxnState& t, const TreeState& tree, const StoredRecord& old, std::uint64_t id,
             std::uint32_t revision, bool fresh, EventKind kind, F&& change) {
  try {
    detail::ValueBuilder builder(t);
    auto& msg = builder.get();
    msg.setRoot(old.envelope());
    auto env = msg.getRoot<wire::Envelope>();
    env.setModified(t.now);
    env.setAuthor(t.db->options.author);
    change(env);
    std::uint32_t dataIteration = env.getDataIteration(), metaIteration = env.getMetaIteration();
    // A new revision is a new record: indexers see no `before` for it.
    index(t, tree, fresh ? nullptr : &old, id, revision, &msg);
    kj::Array<capnp::word> spill;
    auto words = detail::singleSegment(msg, false, spill);
    storeIndexed(t, tree, [&] { detail::putValue(t, tree, id, revision, words, fresh); });
    recordChange(t, tree, kind, id, revision, dataIteration, metaIteration, words);
  } catch (const kj::Exception& e) {
    detail::throwCorrupt(tree, old.id(), old.revision(), e);
  }
}

void requireVersioned(const TreeState& tree, std::string_view what) {
  if (!tree.versioned) {
    throw Error(ErrorCode::kUnversioned, "tree '" + tree.name +
                                             "' is unversioned: its records are "
                                             "edited in place and cannot " +
                                             std::string(what));
  }
}

}  // namespace

void GenericTree::release(std::uint64_t id, std::uint32_t revision) {
  TxnState& t = *txn_;
  requireWritable(t);
  requireVersioned(*tree_, "be released");
  withRecord(*this, id, revision, [&](const StoredRecord& old) {
    if (old.state() == State::kReleased) {
      throw Error(ErrorCode::kReleased,
                  describe(tree_->name, id, revision) + " is released already");
    }
    rewrite(t, *tree_, old, id, revision, false, EventKind::kReleased,
            [&](wire::Envelope::Builder env) {
              env.setState(wire::State::RELEASED);
              env.setMetaIteration(env.getMetaIteration() + 1);
            });
  });
}

std::uint32_t GenericTree::newRevision(std::uint64_t id, std::uint32_t revision) {
  TxnState& t = *txn_;
  requireWritable(t);
  requireVersioned(*tree_, "have new revisions");
  auto latest = latestRevision(id);
  return withRecord(*this, id, revision, [&](const StoredRecord& old) {
    if (old.state() != State::kReleased) {
      throw Error(ErrorCode::kNotReleased,
                  describe(tree_->name, id, revision) +
                      " is a draft: edit it, or release it before making a "
                      "new revision");
    }
    if (!latest) {
      throw Error(ErrorCode::kCorrupt, "tree '" + tree_->name + "' holds a malformed key near id " +
                                           std::to_string(id) + " (database " + t.db->path + ")");
    }
    if (latest != revision) {
      throw Error(ErrorCode::kNotLatest, describe(tree_->name, id, revision) +
                                             " is not the newest "
                                             "revision; " +
                                             describe(tree_->name, id, *latest) + " is");
    }
    if (revision == UINT32_MAX) {
      throw Error(ErrorCode::kInvalidArgument,
                  describe(tree_->name, id, revision) + " has no next revision");
    }
    rewrite(t, *tree_, old, id, revision + 1, true, EventKind::kNewRevision,
            [&](wire::Envelope::Builder env) {
              env.setState(wire::State::DRAFT);
              env.setLifecycle(0);
              env.setCreated(t.now);
              env.setDataIteration(1);
              env.setMetaIteration(1);
            });
    return revision + 1;
  });
}

void GenericTree::setLifecycle(std::uint64_t id, std::uint32_t revision, std::uint32_t lifecycle) {
  TxnState& t = *txn_;
  requireWritable(t);
  withRecord(*this, id, revision, [&](const StoredRecord& old) {
    rewrite(t, *tree_, old, id, revision, false, EventKind::kLifecycleChanged,
            [&](wire::Envelope::Builder env) {
              env.setLifecycle(lifecycle);
              env.setMetaIteration(env.getMetaIteration() + 1);
            });
  });
}

// --- transactions -------------------------------------------------------

TreeState* ReadTxn::treeState(std::string_view name) const {
  auto it = state_->db->byName.find(name);
  if (it == state_->db->byName.end()) {
    throw Error(ErrorCode::kUnknownTree,
                "the database " + state_->db->path + " has no tree '" + std::string(name) +
                    "'; a program declares its record types in Options::trees");
  }
  return it->second;
}

GenericTreeView ReadTxn::tree(std::string_view name) const {
  return GenericTreeView(state_, treeState(name));
}

GenericTree WriteTxn::tree(std::string_view name) { return GenericTree(state_, treeState(name)); }

}  // namespace hills
