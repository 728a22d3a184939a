// Changes to trees: every mutation, typed or generic, local or replicated,
// goes through GenericTree and the write path here.
#include <cstring>

#include "hills/tree.h"
#include "hills/txn.h"
#include "ids.h"
#include "index_ops.h"
#include "log.h"
#include "state.h"
#include "storage.h"
#include "sync_tables.h"

namespace hills {

using detail::checkLmdb;
using detail::Cursor;
using detail::envelopeOf;
using detail::KeyBytes;
using detail::TreeState;
using detail::TxnState;

namespace detail {
namespace {

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

using detail::requireWritable;

void GenericTree::addIdRange(std::uint64_t start, std::uint64_t end) {
  requireWritable(*txn_);
  detail::addIdRange(*txn_, *tree_, start, end);
}

std::pair<std::uint64_t, std::uint64_t> GenericTree::grantIds(std::uint64_t count,
                                                              std::string_view grantee) {
  requireWritable(*txn_);
  auto range = detail::grantIds(*txn_, *tree_, count);
  if (!grantee.empty()) detail::recordGrant(*txn_, *tree_, range.first, range.second, grantee);
  return range;
}

namespace {

// A copy of a stored record for indexers: they write to other tables while
// they read it, and LMDB may reuse the pages of the original meanwhile.
struct Snapshot {
  detail::ValueReader reader;
  IndexedRecord record;
  Snapshot(TxnState& t, const StoredRecord& rec)
      : reader(copyWords(t, detail::IndexOps::words(rec))) {
    record = IndexedRecord{rec.id(), rec.revision(), reader.getRoot<wire::Envelope>()};
  }
  static kj::ArrayPtr<const capnp::word> copyWords(TxnState& t,
                                                   kj::ArrayPtr<const capnp::word> words) {
    t.snapshot.assign(words.begin(), words.end());
    return {t.snapshot.data(), t.snapshot.size()};
  }
};

// Runs the tree's indexers for a mutation whose new value `after` is (none
// for a remove), before it is stored.
void index(TxnState& t, const TreeState& tree, const StoredRecord* before, std::uint64_t id,
           std::uint32_t revision, std::optional<wire::Envelope::Reader> after) {
  if (tree.indexes.empty()) return;
  std::optional<Snapshot> old;
  if (before) old.emplace(t, *before);
  std::optional<IndexedRecord> now;
  if (after) now = IndexedRecord{id, revision, *after};
  detail::IndexOps::apply(t, tree, old ? &old->record : nullptr, now ? &*now : nullptr);
}

// Envelope of a value being built, for index().
wire::Envelope::Reader built(capnp::MessageBuilder& msg) {
  return msg.getRoot<wire::Envelope>().asReader();
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
  index(t, *tree_, nullptr, id, 0, built(msg));
  kj::Array<capnp::word> spill;
  auto words = detail::singleSegment(msg, compact, spill);
  storeIndexed(t, *tree_, [&] { detail::putValue(t, *tree_, id, 0, words, true); });
  detail::recordChange(t, *tree_, EventKind::kCreated, id, 0, 1, 1, words);
  if (!t.db->ownIds) detail::queueCreate(t, *tree_, id);
  return id;
}

void GenericTree::update(std::uint64_t id, std::uint32_t revision, BodyWriter write) {
  TxnState& t = *txn_;
  requireWritable(t);
  const StoredRecord old = require(id, revision);
  detail::requireEditable(t, *tree_, id, revision);
  if (old.state() == State::kReleased) {
    throw Error(ErrorCode::kReleased, describe(tree_->name, id, revision) +
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
    index(t, *tree_, &old, id, revision, built(msg));
    kj::Array<capnp::word> spill;
    auto words = detail::singleSegment(msg, compact, spill);
    storeIndexed(t, *tree_, [&] { detail::putValue(t, *tree_, id, revision, words, false); });
    detail::recordChange(t, *tree_, EventKind::kUpdated, id, revision, dataIteration, metaIteration,
                         words, std::move(changed));
  } catch (const kj::Exception& e) {
    detail::throwCorrupt(*tree_, id, revision, e);
  }
}

void GenericTree::remove(std::uint64_t id, std::uint32_t revision) {
  TxnState& t = *txn_;
  requireWritable(t);
  const StoredRecord old = require(id, revision);
  detail::requireEditable(t, *tree_, id, revision);
  if (old.state() == State::kReleased) {
    throw Error(ErrorCode::kReleased, describe(tree_->name, id, revision) +
                                          " is released: it cannot be removed, so that records "
                                          "that point to it keep what they pointed to");
  }
  detail::eraseRecord(t, *tree_, old, {});
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
    index(t, tree, fresh ? nullptr : &old, id, revision, built(msg));
    kj::Array<capnp::word> spill;
    auto words = detail::singleSegment(msg, false, spill);
    storeIndexed(t, tree, [&] { detail::putValue(t, tree, id, revision, words, fresh); });
    detail::recordChange(t, tree, kind, id, revision, dataIteration, metaIteration, words);
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
  detail::requireAuthority(t, "released", *tree_, id, revision);
  const StoredRecord old = require(id, revision);
  if (old.state() == State::kReleased) {
    throw Error(ErrorCode::kReleased, describe(tree_->name, id, revision) + " is released already");
  }
  rewrite(t, *tree_, old, id, revision, false, EventKind::kReleased,
          [&](wire::Envelope::Builder env) {
            env.setState(wire::State::RELEASED);
            env.setMetaIteration(env.getMetaIteration() + 1);
          });
}

std::uint32_t GenericTree::newRevision(std::uint64_t id, std::uint32_t revision) {
  TxnState& t = *txn_;
  requireWritable(t);
  requireVersioned(*tree_, "have new revisions");
  detail::requireAuthority(t, "given a new revision", *tree_, id, revision);
  auto latest = latestRevision(id);
  const StoredRecord old = require(id, revision);
  if (old.state() != State::kReleased) {
    throw Error(ErrorCode::kNotReleased, describe(tree_->name, id, revision) +
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
}

void GenericTree::setLifecycle(std::uint64_t id, std::uint32_t revision, std::uint32_t lifecycle) {
  TxnState& t = *txn_;
  requireWritable(t);
  detail::requireAuthority(t, "given a lifecycle", *tree_, id, revision);
  const StoredRecord old = require(id, revision);
  rewrite(t, *tree_, old, id, revision, false, EventKind::kLifecycleChanged,
          [&](wire::Envelope::Builder env) {
            env.setLifecycle(lifecycle);
            env.setMetaIteration(env.getMetaIteration() + 1);
          });
}

void GenericTree::applyChange(wire::Change::Reader change, std::string_view origin) {
  TxnState& t = *txn_;
  requireWritable(t);
  std::uint64_t id = change.getId();
  std::uint32_t revision = change.getRevision();
  if (change.getTree() != tree_->name) {
    throw Error(ErrorCode::kWrongTree, "a change of tree '" + std::string(change.getTree().cStr()) +
                                           "' applied to tree '" + tree_->name + "'");
  }
  auto kind = detail::eventKind(change.getKind());
  switch (kind) {
    case EventKind::kRemoved:
      detail::removeRemote(t, *this, id, revision, origin);
      return;
    case EventKind::kBorrowed:
    case EventKind::kCheckedIn:
    case EventKind::kBorrowBroken:
      detail::applyBorrowChange(t, *this, change, origin);
      return;
    case EventKind::kCreated:
    case EventKind::kUpdated:
    case EventKind::kReleased:
    case EventKind::kNewRevision:
    case EventKind::kLifecycleChanged:
      detail::storeRemote(t, *this, kind, id, revision, change.getValue(), origin, false);
      return;
  }
  throw Error(ErrorCode::kCorrupt,
              "a change of " + describe(tree_->name, id, revision) + " has an unknown kind");
}

namespace detail {

void eraseRecord(TxnState& t, const TreeState& tree, const StoredRecord& old,
                 const ChangeNote& note) {
  const std::uint64_t id = old.id();
  const std::uint32_t revision = old.revision();
  // Read before anything is written: the old bytes may move or change.
  const std::uint32_t dataIteration = old.envelope().getDataIteration();
  const std::uint32_t metaIteration = old.envelope().getMetaIteration();
  index(t, tree, &old, id, revision, std::nullopt);
  KeyBytes key = encodeKey(id, revision);
  MDB_val k = toVal(key);
  t.writes[tree.ordinal].appender.invalidate();
  storeIndexed(t, tree, [&] {
    t.checkWrite(mdb_del(t.txn, tree.dbi, &k, nullptr),
                 [&] { return "removing " + describe(tree.name, id, revision); });
  });
  recordChange(t, tree, EventKind::kRemoved, id, revision, dataIteration, metaIteration, {}, {},
               note);
}

void removeRemote(TxnState& t, GenericTree& tree, std::uint64_t id, std::uint32_t revision,
                  std::string_view origin) {
  const TreeState& ts = *TreeAccess::state(tree);
  auto previous = tree.find(id, revision);
  if (!previous) return;  // applied already
  eraseRecord(t, ts, previous, ChangeNote{origin, {}, 0});
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

bool storeRemote(TxnState& t, GenericTree& tree, EventKind kind, std::uint64_t id,
                 std::uint32_t revision, kj::ArrayPtr<const kj::byte> bytes,
                 std::string_view origin, bool force) {
  const TreeState& ts = *TreeAccess::state(tree);
  auto previous = tree.find(id, revision);
  // The value is stored as it came: the same bytes on every replica, checked
  // to be a record of this tree.
  kj::Array<capnp::word> copy;
  auto words = valueWords(ts, id, revision, bytes, copy);
  ValueReader reader(words);
  auto env = envelopeOf(reader, ts, id, revision);
  if (previous && !force) {
    // Data and meta iterations only grow. A change behind the record on
    // both counts was applied already (or was overtaken by an edit here
    // still on its way to the server); one ahead on both is newer.
    auto held = previous.envelope();
    auto heldData = held.getDataIteration(), heldMeta = held.getMetaIteration();
    auto data = env.getDataIteration(), meta = env.getMetaIteration();
    auto local = previous.value().asBytes();
    bool identical = local.size() == bytes.size() &&
                     std::memcmp(local.begin(), bytes.begin(), bytes.size()) == 0;
    bool level = data == heldData && meta == heldMeta;
    bool behind = data <= heldData && meta <= heldMeta && !level;
    bool ahead = data >= heldData && meta >= heldMeta && !level;
    if (identical || behind) return false;
    if (!ahead) {
      // Level with other bytes, or ahead on one count and behind on the
      // other: an edit here that the server never took. The authority
      // keeps its own; a replica keeps its edit as a conflict copy and
      // takes the server's record.
      if (t.db->ownIds) return false;
      keepConflict(t, ts, id, revision, local, origin, 0);
    }
  }
  if (env.getTypeId() != ts.typeId) {
    throw Error(ErrorCode::kWrongTree, "a change of " + describe(ts.name, id, revision) +
                                           " holds a record of another type");
  }
  std::vector<std::string> changed;
  if (previous && t.db->hub->active() && kind == EventKind::kUpdated) {
    try {
      changed = changedFields(ts.schema, previous.body().getAs<capnp::AnyStruct>(),
                              env.getBody().getAs<capnp::AnyStruct>());
    } catch (const kj::Exception& e) {
      throwCorrupt(ts, id, revision, e);
    }
  }
  index(t, ts, previous ? &previous : nullptr, id, revision, env);
  bool fresh = !previous;
  storeIndexed(t, ts, [&] { putValue(t, ts, id, revision, words, fresh); });
  recordChange(t, ts, kind, id, revision, env.getDataIteration(), env.getMetaIteration(), words,
               std::move(changed), ChangeNote{origin, {}, 0});
  return true;
}

}  // namespace detail

}  // namespace hills
