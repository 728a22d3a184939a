#include "storage.h"

#include <cassert>
#include <cstring>
#include <new>

#include "hills/key.h"
#include "state.h"

namespace hills::detail {

kj::ArrayPtr<const capnp::word> singleSegment(capnp::MessageBuilder& msg, bool compact,
                                              kj::Array<capnp::word>& spill) {
  auto segments = msg.getSegmentsForOutput();
  if (segments.size() == 1 && !compact) return segments[0];
  auto root = msg.getRoot<capnp::AnyPointer>().asReader();
  auto words = root.targetSize().wordCount + 1;  // + the root pointer
  capnp::MallocMessageBuilder copy(static_cast<uint>(words), capnp::AllocationStrategy::FIXED_SIZE);
  copy.setRoot(root);
  auto copied = copy.getSegmentsForOutput();
  KJ_ASSERT(copied.size() == 1, "a compacted message must fit one segment");
  spill = kj::heapArray<capnp::word>(copied[0]);
  return spill.asPtr();
}

kj::ArrayPtr<const capnp::word> TxnState::unusualWords(const MDB_val& v, const TreeState& tree,
                                                       std::uint64_t id, std::uint32_t revision) {
  if (v.mv_size == 0 || v.mv_size % sizeof(capnp::word) != 0) {
    throw Error(ErrorCode::kCorrupt, "the stored value of " + describe(tree.name, id, revision) +
                                         " is " + std::to_string(v.mv_size) +
                                         " bytes, not a whole number of 8-byte words (database " +
                                         db->path + ")");
  }
  auto count = v.mv_size / sizeof(capnp::word);
  // The storage layout keeps every value 8-byte aligned; reaching this means
  // that invariant broke. Debug builds stop here; release builds copy, so
  // reading stays defined, and count it.
  assert(!"hills: an LMDB value is not 8-byte aligned");
  db->unalignedReads.fetch_add(1, std::memory_order_relaxed);
  auto copy = kj::heapArray<capnp::word>(count);
  std::memcpy(copy.begin(), v.mv_data, v.mv_size);
  copies.push_back(kj::mv(copy));
  return copies.back().asPtr();
}

void TxnState::reset() {
  copies.clear();
  writes.clear();
  indexWrites.clear();
  nextSequence = 0;
  origin.clear();
  commitSync = CommitSync::kFull;
  commitFns.clear();
  abortFns.clear();
  snapshotInUse = false;
  logAppender = Appender();
  events.clear();
  failure = nullptr;
  txn = nullptr;
  mapFull = false;
  scratchInUse = false;
}

MetaStore::MetaStore(TxnState& t, MDB_dbi dbi, std::string_view table)
    : MetaStore(t.txn, dbi, t.db->path, &t.mapFull, table) {}

std::optional<MDB_val> MetaStore::get(std::string_view key) const {
  MDB_val k = toVal(key), v;
  int rc = mdb_get(txn_, dbi_, &k, &v);
  if (rc == MDB_NOTFOUND) return std::nullopt;
  checkLmdb(
      rc, [&] { return "reading " + std::string(table_) + " key " + std::string(key); }, where_);
  return v;
}

void MetaStore::put(std::string_view key, const void* data, std::size_t size) {
  MDB_val k = toVal(key), v{size, const_cast<void*>(data)};
  int rc = mdb_put(txn_, dbi_, &k, &v, 0);
  if (rc == MDB_MAP_FULL && mapFull_ != nullptr) *mapFull_ = true;
  checkLmdb(
      rc, [&] { return "writing " + std::string(table_) + " key " + std::string(key); }, where_);
}

std::optional<std::uint32_t> MetaStore::getU32(std::string_view key) const {
  auto v = get(key);
  if (!v) return std::nullopt;
  if (v->mv_size != sizeof(std::uint32_t)) {
    throw Error(ErrorCode::kCorrupt, "_meta key " + std::string(key) + " has the wrong size");
  }
  std::uint32_t out;
  std::memcpy(&out, v->mv_data, sizeof(out));
  return out;
}

void MetaStore::putU32(std::string_view key, std::uint32_t value) {
  put(key, &value, sizeof(value));
}

std::optional<std::string> MetaStore::getText(std::string_view key) const {
  auto v = get(key);
  if (!v) return std::nullopt;
  return std::string(static_cast<const char*>(v->mv_data), v->mv_size);
}

void MetaStore::putText(std::string_view key, std::string_view value) {
  put(key, value.data(), value.size());
}

namespace {
std::unique_ptr<OwnedMessage> copyMessage(const MDB_val& v, std::string_view table,
                                          std::string_view key) {
  if (v.mv_size == 0 || v.mv_size % sizeof(capnp::word) != 0) {
    throw Error(ErrorCode::kCorrupt,
                std::string(table) + " key " + std::string(key) + " holds no message");
  }
  auto words = kj::heapArray<capnp::word>(v.mv_size / sizeof(capnp::word));
  std::memcpy(words.begin(), v.mv_data, v.mv_size);
  return std::make_unique<OwnedMessage>(kj::mv(words));
}
}  // namespace

std::unique_ptr<OwnedMessage> MetaStore::getMessage(std::string_view key) const {
  auto v = get(key);
  if (!v) return nullptr;
  return copyMessage(*v, table_, key);
}

void MetaStore::putMessage(std::string_view key, capnp::MessageBuilder& msg) {
  kj::Array<capnp::word> spill;
  auto words = singleSegment(msg, false, spill);
  put(key, words.begin(), words.size() * sizeof(capnp::word));
}

bool MetaStore::holds(std::string_view key, capnp::MessageBuilder& msg) const {
  auto v = get(key);
  if (!v) return false;
  kj::Array<capnp::word> spill;
  auto words = singleSegment(msg, false, spill);
  return v->mv_size == words.size() * sizeof(capnp::word) &&
         std::memcmp(v->mv_data, words.begin(), v->mv_size) == 0;
}

void MetaStore::forEachPrefix(
    std::string_view prefix,
    kj::FunctionParam<bool(std::string_view key, capnp::MessageReader& msg)> fn) const {
  Cursor cursor(txn_, dbi_, where_);
  MDB_val k = toVal(prefix), v;
  // LMDB refuses an empty key: no prefix means from the first key on.
  int rc = mdb_cursor_get(cursor.get(), &k, &v, prefix.empty() ? MDB_FIRST : MDB_SET_RANGE);
  while (rc == MDB_SUCCESS) {
    std::string_view key(static_cast<const char*>(k.mv_data), k.mv_size);
    if (key.substr(0, prefix.size()) != prefix) break;
    auto msg = copyMessage(v, table_, key);
    if (!fn(key, *msg)) return;
    rc = mdb_cursor_get(cursor.get(), &k, &v, MDB_NEXT);
  }
  if (rc != MDB_NOTFOUND && rc != MDB_SUCCESS)
    checkLmdb(rc, "listing " + std::string(table_), where_);
}

std::size_t MetaStore::size() const {
  MDB_stat stat;
  checkLmdb(mdb_stat(txn_, dbi_, &stat), "counting " + std::string(table_), where_);
  return stat.ms_entries;
}

std::unique_ptr<OwnedMessage> MetaStore::floor(std::string_view prefix,
                                               std::string_view key) const {
  Cursor cursor(txn_, dbi_, where_);
  MDB_val k = toVal(key), v;
  int rc = mdb_cursor_get(cursor.get(), &k, &v, MDB_SET_RANGE);
  bool exact =
      rc == MDB_SUCCESS && std::string_view(static_cast<const char*>(k.mv_data), k.mv_size) == key;
  if (!exact) {
    rc = mdb_cursor_get(cursor.get(), &k, &v, rc == MDB_NOTFOUND ? MDB_LAST : MDB_PREV);
  }
  if (rc == MDB_NOTFOUND) return nullptr;
  checkLmdb(rc, "searching " + std::string(table_), where_);
  std::string_view found(static_cast<const char*>(k.mv_data), k.mv_size);
  if (found.substr(0, prefix.size()) != prefix) return nullptr;
  return copyMessage(v, table_, found);
}

bool MetaStore::remove(std::string_view key) {
  MDB_val k = toVal(key);
  int rc = mdb_del(txn_, dbi_, &k, nullptr);
  if (rc == MDB_NOTFOUND) return false;
  if (rc == MDB_MAP_FULL && mapFull_ != nullptr) *mapFull_ = true;
  checkLmdb(
      rc, [&] { return "removing " + std::string(table_) + " key " + std::string(key); }, where_);
  return true;
}

}  // namespace hills::detail
