#include "hills/txn.h"

#include <cstring>

#include "hills/tree.h"
#include "ids.h"
#include "state.h"
#include "value_check.h"
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
  // A write transaction that appends knows a key past every key of the
  // tree: past it there is nothing to look for (records stored in key
  // order, as a replica that starts stores them, each look first).
  if (tree.ordinal < t.writes.size() && t.writes[tree.ordinal].lastKnown &&
      std::memcmp(key.data(), t.writes[tree.ordinal].last.data(), kKeySize) > 0) {
    return std::nullopt;
  }
  MDB_val k = toVal(key), v;
  int rc = mdb_get(t.txn, tree.dbi, &k, &v);
  if (rc == MDB_NOTFOUND) return std::nullopt;
  checkLmdb(
      rc, [&] { return "reading " + describe(tree.name, id, revision); }, t.db->path);
  return v;
}

}  // namespace

wire::Envelope::Reader envelopeOf(capnp::MessageReader& reader, const TreeState& tree,
                                  std::uint64_t id, std::uint32_t revision) {
  try {
    return reader.getRoot<wire::Envelope>();
  } catch (const kj::Exception& e) {
    throwCorrupt(tree, id, revision, e);
  }
}

}  // namespace detail

using detail::envelopeOf;
using detail::getValue;

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

bool StoredRecord::holds(kj::ArrayPtr<const kj::byte> bytes) const {
  auto mine = value().asBytes();
  return tree_ != nullptr && mine.size() == bytes.size() &&
         (bytes.size() == 0 || std::memcmp(mine.begin(), bytes.begin(), bytes.size()) == 0);
}

void StoredRecord::check() const { detail::checkValue(*tree_, id_, revision_, value()); }

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

std::uint64_t GenericTreeView::size() const {
  MDB_stat stat;
  checkLmdb(
      mdb_stat(txn_->txn, tree_->dbi, &stat), [&] { return "counting tree '" + tree_->name + "'"; },
      txn_->db->path);
  return stat.ms_entries;
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

std::uint64_t ReadTxn::version() const {
  return mdb_txn_id(state_->txn);
}

GenericTreeView ReadTxn::tree(std::string_view name) const {
  return GenericTreeView(state_, treeState(name));
}

GenericTree WriteTxn::tree(std::string_view name) { return GenericTree(state_, treeState(name)); }

}  // namespace hills
