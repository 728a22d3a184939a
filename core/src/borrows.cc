// Borrows and id grants: the sync server lends records to one client at a
// time and remembers which ids went to whom; every client mirrors the
// borrows from the server's change log.
#include <cstring>

#include "hills/meta.capnp.h"
#include "hills/txn.h"
#include "lmdb_util.h"
#include "log.h"
#include "state.h"
#include "storage.h"
#include "sync_tables.h"

namespace hills {

using detail::ChangeNote;
using detail::TreeAccess;
using detail::TreeState;
using detail::TxnState;

namespace detail {

namespace {

std::string treePrefix(const TreeState& tree) {
  std::string prefix = tree.name;
  prefix.push_back('\0');
  return prefix;
}

MetaStore borrowTable(TxnState& t) { return MetaStore(t, t.db->sync.borrows, "_borrows"); }

MetaStore grantTable(TxnState& t) { return MetaStore(t, t.db->sync.grants, "_grants"); }

void requireServer(TxnState& t, std::string_view what) {
  if (!t.db->log.open || !t.db->ownIds || !t.db->sync.open) {
    throw Error(ErrorCode::kInvalidArgument,
                "only a sync server (a database with Options::changeLog that owns its ids) " +
                    std::string(what) + " (database " + t.db->path + ")");
  }
  if (!t.writable) {
    throw Error(ErrorCode::kInvalidArgument,
                "a write through a read transaction (database " + t.db->path + ")");
  }
}

BorrowInfo toInfo(std::string tree, std::uint64_t id, std::uint32_t revision,
                  wire::Borrow::Reader b) {
  return BorrowInfo{OpaqueKey{std::move(tree), id, revision}, b.getHolder().cStr(), b.getFencing(),
                    std::chrono::system_clock::time_point(
                        std::chrono::duration_cast<std::chrono::system_clock::duration>(
                            std::chrono::nanoseconds(b.getSince()))),
                    b.getReturning()};
}

std::uint64_t nextFencing(TxnState& t) {
  MetaStore meta(t, t.db->meta);
  std::uint64_t next = std::stoull(meta.getText("fencing").value_or("0")) + 1;
  meta.putText("fencing", std::to_string(next));
  return next;
}

std::string grantKey(const TreeState& tree, std::uint64_t id) {
  std::string key = treePrefix(tree);
  key.resize(key.size() + 8);
  storeBigEndian64(reinterpret_cast<unsigned char*>(key.data()) + key.size() - 8, id);
  return key;
}

// A value from a client is followed to its last pointer before the server
// stores it, so a malformed body is refused here rather than found by
// every replica's readers.
void requireWhole(const TreeState& tree, std::uint64_t id, std::uint32_t revision,
                  wire::Envelope::Reader env) {
  try {
    env.getBody().targetSize();
  } catch (const kj::Exception& e) {
    throwCorrupt(tree, id, revision, e);
  }
}

std::pair<std::uint32_t, std::uint32_t> iterationsOf(const StoredRecord& rec) {
  if (!rec) return {0, 0};
  return {rec.envelope().getDataIteration(), rec.envelope().getMetaIteration()};
}

}  // namespace

std::string recordKey(const TreeState& tree, std::uint64_t id, std::uint32_t revision) {
  std::string key = treePrefix(tree);
  KeyBytes bytes = encodeKey(id, revision);
  key.append(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  return key;
}

OpaqueKey parseRecordKey(TxnState& t, std::string_view key, std::string_view table,
                         std::size_t trailing) {
  auto nul = key.find('\0');
  if (nul == std::string_view::npos || key.size() != nul + 1 + kKeySize + trailing) {
    throw Error(ErrorCode::kCorrupt,
                "a malformed key in " + std::string(table) + " (database " + t.db->path + ")");
  }
  auto* bytes = reinterpret_cast<const unsigned char*>(key.data() + nul + 1);
  return OpaqueKey{std::string(key.substr(0, nul)), loadBigEndian64(bytes),
                   static_cast<std::uint32_t>(loadBigEndian64(bytes + 8) >> 32)};
}

void putBorrow(TxnState& t, const TreeState& tree, std::uint64_t id, std::uint32_t revision,
               std::string_view holder, std::uint64_t fencing, std::int64_t since, bool returning) {
  capnp::MallocMessageBuilder msg(32);
  auto b = msg.initRoot<wire::Borrow>();
  b.setHolder(std::string(holder));
  b.setFencing(fencing);
  b.setSince(since);
  b.setReturning(returning);
  borrowTable(t).putMessage(recordKey(tree, id, revision), msg);
}

void openSyncTables(DatabaseImpl& db, MDB_txn* txn) {
  const unsigned flags = db.options.readOnly ? 0 : MDB_CREATE;
  struct Table {
    const char* name;
    MDB_dbi* dbi;
  } tables[] = {{"_borrows", &db.sync.borrows},
                {"_grants", &db.sync.grants},
                {"_outbox", &db.sync.outbox},
                {"_conflicts", &db.sync.conflicts}};
  for (auto& table : tables) {
    int rc = mdb_dbi_open(txn, table.name, flags, table.dbi);
    if (rc == MDB_NOTFOUND) return;  // read-only, written before sync existed
    checkLmdb(rc, std::string("opening ") + table.name, db.path);
  }
  db.sync.open = true;
}

std::optional<BorrowInfo> findBorrow(TxnState& t, const TreeState& tree, std::uint64_t id,
                                     std::uint32_t revision) {
  if (!t.db->sync.open) return std::nullopt;
  auto msg = borrowTable(t).getMessage(recordKey(tree, id, revision));
  if (!msg) return std::nullopt;
  try {
    return toInfo(tree.name, id, revision, msg->getRoot<wire::Borrow>());
  } catch (const kj::Exception& e) {
    throw Error(ErrorCode::kCorrupt, "the borrow of " + describe(tree.name, id, revision) +
                                         " does not decode (database " + t.db->path +
                                         "): " + e.getDescription().cStr());
  }
}

void recordGrant(TxnState& t, const TreeState& tree, std::uint64_t start, std::uint64_t end,
                 std::string_view grantee) {
  capnp::MallocMessageBuilder msg(32);
  auto g = msg.initRoot<wire::Grant>();
  g.setStart(start);
  g.setEnd(end);
  g.setGrantee(std::string(grantee));
  grantTable(t).putMessage(grantKey(tree, start), msg);
}

void applyBorrowChange(TxnState& t, GenericTree& tree, wire::Change::Reader change,
                       std::string_view origin) {
  const TreeState& ts = *TreeAccess::state(tree);
  if (!t.db->sync.open) {
    throw Error(ErrorCode::kInvalidArgument,
                "the database " + t.db->path + " has no borrow table (opened read-only)");
  }
  auto kind = eventKind(change.getKind());
  std::uint64_t id = change.getId();
  std::uint32_t revision = change.getRevision();
  std::uint64_t fencing = change.getFencing();
  std::string holder = change.getHolder();
  ChangeNote note{origin, holder, fencing};
  auto held = findBorrow(t, ts, id, revision);
  auto record = [&](kj::ArrayPtr<const capnp::word> value) {
    auto [data, meta] = iterationsOf(tree.find(id, revision));
    recordChange(t, ts, kind, id, revision, data, meta, value, {}, note);
  };
  if (kind == EventKind::kBorrowed) {
    if (held && held->fencing == fencing) return;  // applied already
    putBorrow(t, ts, id, revision, holder, fencing, change.getTime(), false);
    record({});
    return;
  }
  // Checked in or broken: only the borrow it names ends.
  if (!held || held->fencing != fencing) return;
  borrowTable(t).remove(recordKey(ts, id, revision));
  if (kind == EventKind::kBorrowBroken && held->holder == t.db->options.author) {
    // This replica's borrow: its own edit, if the server never got it,
    // becomes a conflict copy, and the record goes back to the server's.
    auto serverValue = change.getValue();
    auto local = tree.find(id, revision);
    auto localBytes = local ? local.value().asBytes() : kj::ArrayPtr<const kj::byte>();
    bool same = localBytes.size() == serverValue.size() &&
                std::memcmp(localBytes.begin(), serverValue.begin(), localBytes.size()) == 0;
    if (!same) {
      keepConflict(t, ts, id, revision, localBytes, origin, fencing);
      if (serverValue.size() != 0) {
        storeRemote(t, tree, EventKind::kUpdated, id, revision, serverValue, origin, true);
      } else {
        removeRemote(t, tree, id, revision, origin);
      }
    }
    dropOutboxEntry(t, ts, id, revision);
  }
  record({});
}

}  // namespace detail

std::optional<BorrowInfo> GenericTreeView::borrow(std::uint64_t id, std::uint32_t revision) const {
  return detail::findBorrow(*txn_, *tree_, id, revision);
}

std::string GenericTreeView::grantee(std::uint64_t id) const {
  TxnState& t = *txn_;
  if (!t.db->sync.open) return {};
  auto prefix = detail::treePrefix(*tree_);
  auto msg = detail::grantTable(t).floor(prefix, detail::grantKey(*tree_, id));
  if (!msg) return {};
  auto g = msg->getRoot<wire::Grant>();
  return id >= g.getStart() && id < g.getEnd() ? std::string(g.getGrantee().cStr()) : std::string();
}

std::vector<BorrowInfo> ReadTxn::borrows() const {
  std::vector<BorrowInfo> out;
  TxnState& t = *state_;
  if (!t.db->sync.open) return out;
  detail::borrowTable(t).forEachPrefix("", [&](std::string_view key, capnp::MessageReader& msg) {
    auto k = detail::parseRecordKey(t, key, "_borrows");
    out.push_back(detail::toInfo(std::move(k.tree), k.id, k.revision, msg.getRoot<wire::Borrow>()));
    return true;
  });
  return out;
}

void GenericTree::acceptCreate(std::uint64_t id, kj::ArrayPtr<const kj::byte> value,
                               std::string_view origin) {
  TxnState& t = *txn_;
  detail::requireServer(t, "accepts records created elsewhere");
  std::string granted = grantee(id);
  if (granted != origin) {
    throw Error(ErrorCode::kDenied,
                describe(tree_->name, id, 0) + " lies outside the id ranges granted to '" +
                    std::string(origin) + "'" +
                    (granted.empty() ? std::string() : " (it was granted to '" + granted + "')"));
  }
  kj::Array<capnp::word> copy;
  auto words = detail::valueWords(*tree_, id, 0, value, copy);
  detail::ValueReader reader(words);
  auto env = detail::envelopeOf(reader, *tree_, id, 0);
  detail::requireWhole(*tree_, id, 0, env);
  const std::string name = describe(tree_->name, id, 0);
  // What the server stores is what every replica gets: a new record is a
  // draft of its creator, at its first meta iteration.
  if (env.getState() != wire::State::DRAFT || env.getLifecycle() != 0 ||
      env.getMetaIteration() != 1 || env.getDataIteration() == 0) {
    throw Error(ErrorCode::kInvalidArgument,
                name + " arrived as more than a new draft (state, lifecycle or iterations)");
  }
  if (std::string_view(env.getAuthor().cStr()) != origin) {
    throw Error(ErrorCode::kInvalidArgument,
                name + " names '" + std::string(env.getAuthor().cStr()) + "' as its author, not '" +
                    std::string(origin) + "' who pushed it");
  }
  if (auto existing = find(id, 0)) {
    auto held = existing.value().asBytes();
    if (held.size() == value.size() && std::memcmp(held.begin(), value.begin(), held.size()) == 0) {
      return;  // pushed again after a lost answer
    }
    // Pushed again with later edits (its client lost the answer and
    // restarted): while nobody else has touched it, the edit is taken.
    auto stored = existing.envelope();
    bool untouched = std::string_view(stored.getAuthor().cStr()) == origin &&
                     stored.getMetaIteration() == 1 && !borrow(id, 0) &&
                     env.getDataIteration() > stored.getDataIteration();
    if (!untouched) throw Error(ErrorCode::kAlreadyExists, name + " exists already");
    detail::storeRemote(t, *this, EventKind::kUpdated, id, 0, value, origin, false);
    return;
  }
  if (latestRevision(id)) {
    throw Error(ErrorCode::kAlreadyExists,
                "id " + std::to_string(id) + " of tree '" + tree_->name + "' is taken already");
  }
  detail::storeRemote(t, *this, EventKind::kCreated, id, 0, value, origin, false);
}

BorrowInfo GenericTree::checkOut(std::uint64_t id, std::uint32_t revision,
                                 std::string_view holder) {
  TxnState& t = *txn_;
  detail::requireServer(t, "lends borrows");
  if (holder.empty()) {
    throw Error(ErrorCode::kInvalidArgument,
                "a check-out of " + describe(tree_->name, id, revision) + " names no holder");
  }
  const StoredRecord rec = require(id, revision);
  if (rec.state() == State::kReleased) {
    throw Error(ErrorCode::kReleased, describe(tree_->name, id, revision) +
                                          " is released: it cannot be checked out; make a new "
                                          "revision to edit it");
  }
  auto [data, meta] = detail::iterationsOf(rec);
  if (auto held = borrow(id, revision)) {
    if (held->holder == holder) return *held;
    throw Error(ErrorCode::kBorrowed,
                describe(tree_->name, id, revision) + " is checked out to '" + held->holder + "'");
  }
  std::uint64_t fencing = detail::nextFencing(t);
  detail::putBorrow(t, *tree_, id, revision, holder, fencing, t.now, false);
  detail::recordChange(t, *tree_, EventKind::kBorrowed, id, revision, data, meta, {}, {},
                       ChangeNote{holder, holder, fencing});
  return *borrow(id, revision);
}

void GenericTree::checkIn(std::uint64_t id, std::uint32_t revision, const CheckIn& in) {
  TxnState& t = *txn_;
  detail::requireServer(t, "takes check-ins");
  const std::string name = describe(tree_->name, id, revision);
  auto held = borrow(id, revision);
  if (!held) {
    throw Error(ErrorCode::kNotBorrowed,
                name + " is not checked out: check it out before checking it in");
  }
  if (held->holder != in.holder) {
    throw Error(ErrorCode::kBorrowed, name + " is checked out to '" + held->holder + "', not to '" +
                                          std::string(in.holder) + "'");
  }
  if (held->fencing != in.fencing) {
    throw Error(ErrorCode::kStaleBorrow, "the check-in of " + name + " carries fencing number " +
                                             std::to_string(in.fencing) + " but the borrow has " +
                                             std::to_string(held->fencing) +
                                             ": the borrow was broken and granted again since");
  }
  {
    const StoredRecord rec = require(id, revision);
    if (in.removed) {
      if (rec.state() == State::kReleased) {
        throw Error(ErrorCode::kReleased, name + " is released: it cannot be removed");
      }
    } else if (in.value.size() != 0) {
      kj::Array<capnp::word> copy;
      auto words = detail::valueWords(*tree_, id, revision, in.value, copy);
      detail::ValueReader reader(words);
      auto env = detail::envelopeOf(reader, *tree_, id, revision);
      detail::requireWhole(*tree_, id, revision, env);
      auto now = rec.envelope();
      if (env.getState() != now.getState() || env.getLifecycle() != now.getLifecycle() ||
          env.getMetaIteration() != now.getMetaIteration() ||
          env.getCreated() != now.getCreated()) {
        throw Error(ErrorCode::kInvalidArgument,
                    "the check-in of " + name +
                        " changes more than the record's data (state, lifecycle or creation)");
      }
      auto held = rec.value().asBytes();
      bool same = held.size() == in.value.size() &&
                  std::memcmp(held.begin(), in.value.begin(), held.size()) == 0;
      if (!same && env.getDataIteration() <= now.getDataIteration()) {
        throw Error(ErrorCode::kInvalidArgument,
                    "the check-in of " + name + " is not newer than the server's record");
      }
      if (!same && std::string_view(env.getAuthor().cStr()) != in.holder) {
        throw Error(ErrorCode::kInvalidArgument,
                    "the check-in of " + name + " names '" + std::string(env.getAuthor().cStr()) +
                        "' as its author, not its holder '" + std::string(in.holder) + "'");
      }
    }
  }
  if (in.removed) {
    detail::removeRemote(t, *this, id, revision, in.holder);
  } else if (in.value.size() != 0) {
    detail::storeRemote(t, *this, EventKind::kUpdated, id, revision, in.value, in.holder, false);
  }
  if (in.keepBorrow && !in.removed) return;
  detail::borrowTable(t).remove(detail::recordKey(*tree_, id, revision));
  auto [data, meta] = detail::iterationsOf(find(id, revision));
  detail::recordChange(t, *tree_, EventKind::kCheckedIn, id, revision, data, meta, {}, {},
                       ChangeNote{in.holder, in.holder, in.fencing});
}

BorrowInfo GenericTree::breakBorrow(std::uint64_t id, std::uint32_t revision, std::string_view by) {
  TxnState& t = *txn_;
  detail::requireServer(t, "breaks borrows");
  auto held = borrow(id, revision);
  if (!held) {
    throw Error(ErrorCode::kNotBorrowed,
                describe(tree_->name, id, revision) + " is not checked out: nothing to break");
  }
  detail::borrowTable(t).remove(detail::recordKey(*tree_, id, revision));
  // The record as the server holds it travels with the change, so the old
  // holder's client can tell whether it had edits the server never got.
  auto rec = find(id, revision);
  auto [data, meta] = detail::iterationsOf(rec);
  detail::recordChange(t, *tree_, EventKind::kBorrowBroken, id, revision, data, meta,
                       rec ? rec.value() : kj::ArrayPtr<const capnp::word>(), {},
                       ChangeNote{by, held->holder, held->fencing});
  return *held;
}

}  // namespace hills
