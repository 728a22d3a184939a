#include "log.h"

#include <capnp/message.h>

#include <string>

#include "state.h"
#include "storage.h"
#include "write_path.h"

namespace hills {

namespace detail {

namespace {

std::array<unsigned char, 8> sequenceKey(std::uint64_t seq) {
  std::array<unsigned char, 8> k{};
  storeBigEndian64(k.data(), seq);
  return k;
}

wire::ChangeKind wireKind(EventKind kind) {
  return static_cast<wire::ChangeKind>(static_cast<std::uint16_t>(kind));
}

}  // namespace

EventKind eventKind(wire::ChangeKind kind) {
  return static_cast<EventKind>(static_cast<std::uint16_t>(kind));
}

void openChangeLog(DatabaseImpl& db, MDB_txn* txn) {
  MetaStore meta(txn, db.meta, db.path);
  bool kept = meta.getU32("changeLog").value_or(0) == 1;
  if (!kept && !db.options.changeLog) return;
  if (db.options.readOnly) {
    int rc = mdb_dbi_open(txn, "_log", 0, &db.log.dbi);
    if (rc == MDB_NOTFOUND) return;
    checkLmdb(rc, "opening the change log", db.path);
  } else {
    checkLmdb(mdb_dbi_open(txn, "_log", MDB_CREATE, &db.log.dbi), "opening the change log",
              db.path);
    if (!kept) meta.putU32("changeLog", 1);
  }
  db.log.open = true;
}

namespace {

// The sequence number of the newest entry; 0 when the log is empty.
std::uint64_t newestSequence(MDB_txn* txn, const DatabaseImpl& db) {
  Cursor cursor(txn, db.log.dbi, db.path);
  MDB_val k, v;
  int rc = mdb_cursor_get(cursor.get(), &k, &v, MDB_LAST);
  if (rc == MDB_NOTFOUND) return 0;
  checkLmdb(rc, "reading the change log", db.path);
  return k.mv_size == 8 ? loadBigEndian64(k.mv_data) : 0;
}

// Appends one change in the writing transaction.
void appendChange(TxnState& t, const TreeState& tree, EventKind kind, std::uint64_t id,
                  std::uint32_t revision, kj::ArrayPtr<const capnp::word> value,
                  const ChangeNote& note) {
  if (t.nextSequence == 0) t.nextSequence = newestSequence(t.txn, *t.db) + 1;
  capnp::MallocMessageBuilder msg(static_cast<uint>(
      value.size() + 24 + (tree.name.size() + note.origin.size() + note.note.size()) / 8));
  auto change = msg.initRoot<wire::Change>();
  std::uint64_t seq = t.nextSequence;
  change.setSequence(seq);
  change.setKind(wireKind(kind));
  change.setTree(tree.name);
  change.setId(id);
  change.setRevision(revision);
  change.setTime(t.now);
  // Cap'n Proto's Text needs NUL-terminated strings.
  if (!note.origin.empty()) change.setOrigin(std::string(note.origin));
  if (!note.note.empty()) change.setNote(std::string(note.note));
  change.setNumber(note.number);
  change.setValue(value.asBytes());
  kj::Array<capnp::word> spill;
  auto words = singleSegment(msg, false, spill);
  auto key = sequenceKey(seq);
  MDB_val k{key.size(), key.data()};
  MDB_val v{words.size() * sizeof(capnp::word), const_cast<capnp::word*>(words.begin())};
  t.checkWrite(t.logAppender.append(t.txn, t.db->log.dbi, &k, &v),
               [&] { return "writing change " + std::to_string(seq) + " to the change log"; });
  ++t.nextSequence;
}

}  // namespace

void recordChange(TxnState& t, const TreeState& tree, EventKind kind, std::uint64_t id,
                  std::uint32_t revision, std::uint32_t dataIteration, std::uint32_t metaIteration,
                  kj::ArrayPtr<const capnp::word> value, std::vector<std::string> changed,
                  const ChangeNote& note) {
  ChangeNote noted = note;
  if (noted.origin.empty()) noted.origin = t.origin;
  if (t.db->log.open) appendChange(t, tree, kind, id, revision, value, noted);
  if (t.db->hub->active()) {
    t.events.push_back(Event{kind, OpaqueKey{tree.name, id, revision}, std::string(noted.origin),
                             dataIteration, metaIteration, std::move(changed), 0});
  }
}

}  // namespace detail

void ReadTxn::changes(std::uint64_t after,
                      kj::FunctionParam<bool(wire::Change::Reader change)> fn) const {
  auto& db = *state_->db;
  if (!db.log.open) {
    throw Error(ErrorCode::kInvalidArgument,
                "the database " + db.path + " keeps no change log (Options::changeLog)");
  }
  detail::Cursor cursor(state_->txn, db.log.dbi, db.path);
  auto first = detail::sequenceKey(after + 1);
  MDB_val k{first.size(), first.data()}, v;
  int rc = mdb_cursor_get(cursor.get(), &k, &v, MDB_SET_RANGE);
  while (rc == MDB_SUCCESS) {
    if (v.mv_size == 0 || v.mv_size % sizeof(capnp::word) != 0 || !detail::isAligned(v.mv_data)) {
      throw Error(ErrorCode::kCorrupt, "a change log entry of the database " + db.path +
                                           " is not a whole number of aligned words");
    }
    detail::ValueReader reader(
        {static_cast<const capnp::word*>(v.mv_data), v.mv_size / sizeof(capnp::word)});
    bool more = true;
    try {
      more = fn(reader.getRoot<wire::Change>());
    } catch (const kj::Exception& e) {
      throw Error(ErrorCode::kCorrupt, "a change log entry of the database " + db.path +
                                           " does not decode: " + e.getDescription().cStr());
    }
    if (!more) return;
    rc = mdb_cursor_get(cursor.get(), &k, &v, MDB_NEXT);
  }
  if (rc != MDB_NOTFOUND) detail::checkLmdb(rc, "reading the change log", db.path);
}

bool WriteTxn::dropChange(std::uint64_t sequence) {
  detail::TxnState& t = *state_;
  detail::requireWritable(t);
  auto& db = *t.db;
  if (!db.log.open) {
    throw Error(ErrorCode::kInvalidArgument,
                "the database " + db.path + " keeps no change log (Options::changeLog)");
  }
  // The next entry's number comes from the newest one (after a restart,
  // from what is stored): without it, numbers would repeat.
  std::uint64_t newest = t.nextSequence != 0 ? t.nextSequence - 1
                                             : detail::newestSequence(t.txn, db);
  if (sequence >= newest) {
    throw Error(ErrorCode::kInvalidArgument,
                "change " + std::to_string(sequence) + " is the newest entry of the change log of " +
                    db.path + " (or beyond it): it cannot be dropped");
  }
  auto key = detail::sequenceKey(sequence);
  MDB_val k{key.size(), key.data()};
  int rc = mdb_del(t.txn, db.log.dbi, &k, nullptr);
  if (rc == MDB_NOTFOUND) return false;
  t.checkWrite(rc, [&] { return "dropping change " + std::to_string(sequence); });
  return true;
}

std::uint64_t ReadTxn::lastSequence() const {
  auto& db = *state_->db;
  return db.log.open ? detail::newestSequence(state_->txn, db) : 0;
}

}  // namespace hills
