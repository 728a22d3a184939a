// A replica's side of sync: what it may edit, the outbox of local changes
// the server has not acknowledged, and the conflict copies of edits whose
// borrow was broken.
#include <cstring>

#include "hills/meta.capnp.h"
#include "hills/txn.h"
#include "lmdb_util.h"
#include "state.h"
#include "storage.h"
#include "sync_tables.h"

namespace hills {

using detail::TreeState;
using detail::TxnState;

namespace detail {

namespace {

MetaStore outboxTable(TxnState& t) { return MetaStore(t, t.db->sync.outbox, "_outbox"); }

MetaStore conflictTable(TxnState& t) { return MetaStore(t, t.db->sync.conflicts, "_conflicts"); }

void requireReplica(TxnState& t, std::string_view what) {
  if (t.db->ownIds || !t.db->sync.open) {
    throw Error(ErrorCode::kInvalidArgument, "only a replica (Options::ownIds = false) " +
                                                 std::string(what) + " (database " + t.db->path +
                                                 ")");
  }
  if (!t.writable) {
    throw Error(ErrorCode::kInvalidArgument,
                "a write through a read transaction (database " + t.db->path + ")");
  }
}

std::chrono::system_clock::time_point timeOf(std::int64_t nanos) {
  return std::chrono::system_clock::time_point(
      std::chrono::duration_cast<std::chrono::system_clock::duration>(
          std::chrono::nanoseconds(nanos)));
}

void putEntry(TxnState& t, const std::string& key, wire::OutboxEntry::Kind kind, bool sent,
              bool keepBorrow, std::int64_t queued, std::uint64_t fencing = 0) {
  t.outboxQueued = true;
  {
    std::lock_guard lock(t.db->sentMutex);  // a new entry has not been pushed
    t.db->sentEntries.erase(key);
  }
  capnp::MallocMessageBuilder msg(16);
  auto e = msg.initRoot<wire::OutboxEntry>();
  e.setKind(kind);
  e.setSent(sent);
  e.setKeepBorrow(keepBorrow);
  e.setQueued(queued);
  e.setFencing(fencing);
  outboxTable(t).putMessage(key, msg);
}

bool pushed(TxnState& t, const std::string& key) {
  std::lock_guard lock(t.db->sentMutex);
  return t.db->sentEntries.count(key) > 0;
}

const TreeState& treeNamed(TxnState& t, std::string_view name) {
  auto it = t.db->byName.find(name);
  if (it == t.db->byName.end()) {
    throw Error(ErrorCode::kUnknownTree,
                "the database " + t.db->path + " has no tree '" + std::string(name) + "'");
  }
  return *it->second;
}

}  // namespace

void requireEditable(TxnState& t, const TreeState& tree, std::uint64_t id, std::uint32_t revision) {
  if (t.db->ownIds) return;
  const std::string& me = t.db->options.author;
  auto held = findBorrow(t, tree, id, revision);
  if (held && held->holder == me && !held->returning) return;
  std::string why;
  std::string key = recordKey(tree, id, revision);
  auto entry = outboxTable(t).getMessage(key);
  if (entry) {
    auto e = entry->getRoot<wire::OutboxEntry>();
    if (e.getKind() == wire::OutboxEntry::Kind::CREATE) {
      if (!pushed(t, key)) return;  // created here, not pushed yet
      why = "; it was pushed to the server as created here and is checked in there: check it out";
    }
  }
  if (held && held->holder != me) {
    why = "; it is checked out to '" + held->holder + "'";
  } else if (held) {
    why = "; its check-in is on its way to the server";
  }
  throw Error(ErrorCode::kNotBorrowed, describe(tree.name, id, revision) +
                                           " is not checked out to this client ('" + me +
                                           "'): check it out before editing it" + why);
}

void requireAuthority(TxnState& t, std::string_view what, const TreeState& tree, std::uint64_t id,
                      std::uint32_t revision) {
  if (t.db->ownIds) return;
  throw Error(ErrorCode::kInvalidArgument, describe(tree.name, id, revision) + " can be " +
                                               std::string(what) +
                                               " only by the sync server: ask it through "
                                               "hills::Client (database " +
                                               t.db->path + ")");
}

void queueCreate(TxnState& t, const TreeState& tree, std::uint64_t id) {
  if (!t.db->sync.open) return;
  putEntry(t, recordKey(tree, id, 0), wire::OutboxEntry::Kind::CREATE, false, false, t.now);
}

void keepConflict(TxnState& t, const TreeState& tree, std::uint64_t id, std::uint32_t revision,
                  kj::ArrayPtr<const kj::byte> value, std::string_view brokenBy,
                  std::uint64_t fencing) {
  capnp::MallocMessageBuilder msg(static_cast<uint>(value.size() / 8 + 16));
  auto c = msg.initRoot<wire::Conflict>();
  c.setValue(value);
  c.setBrokenBy(std::string(brokenBy));
  c.setTime(t.now);
  c.setFencing(fencing);
  std::string key = recordKey(tree, id, revision);
  key.resize(key.size() + 8);
  // Several copies of one record sort by when they were made; a counter
  // keeps two of one transaction apart.
  std::uint64_t stamp = static_cast<std::uint64_t>(t.now);
  auto table = conflictTable(t);
  do {
    storeBigEndian64(reinterpret_cast<unsigned char*>(key.data()) + key.size() - 8, stamp++);
  } while (table.getMessage(key));
  table.putMessage(key, msg);
}

void dropOutboxEntry(TxnState& t, const TreeState& tree, std::uint64_t id, std::uint32_t revision) {
  outboxTable(t).remove(recordKey(tree, id, revision));
}

}  // namespace detail

std::vector<OutboxItem> ReadTxn::outbox(std::size_t limit) const {
  std::vector<OutboxItem> out;
  TxnState& t = *state_;
  if (!t.db->sync.open) return out;
  if (limit == 0) return out;
  detail::outboxTable(t).forEachPrefix("", [&](std::string_view key, capnp::MessageReader& msg) {
    auto e = msg.getRoot<wire::OutboxEntry>();
    OutboxItem item;
    item.kind = e.getKind() == wire::OutboxEntry::Kind::CREATE ? OutboxItem::Kind::kCreate
                                                               : OutboxItem::Kind::kCheckIn;
    item.key = detail::parseRecordKey(t, key, "_outbox");
    item.sent = detail::pushed(t, std::string(key));
    item.keepBorrow = e.getKeepBorrow();
    item.queued = e.getQueued();
    item.fencing = e.getFencing();
    out.push_back(std::move(item));
    return out.size() < limit;
  });
  return out;
}

std::size_t ReadTxn::outboxLength() const {
  TxnState& t = *state_;
  return t.db->sync.open ? detail::outboxTable(t).size() : 0;
}

std::vector<ConflictCopy> ReadTxn::conflicts() const {
  std::vector<ConflictCopy> out;
  TxnState& t = *state_;
  if (!t.db->sync.open) return out;
  detail::conflictTable(t).forEachPrefix("", [&](std::string_view key, capnp::MessageReader& msg) {
    auto c = msg.getRoot<wire::Conflict>();
    ConflictCopy copy;
    copy.key = detail::parseRecordKey(t, key, "_conflicts", 8);
    copy.brokenBy = c.getBrokenBy().cStr();
    copy.fencing = c.getFencing();
    copy.time = detail::timeOf(c.getTime());
    auto bytes = c.getValue();
    copy.value.resize(bytes.size() / sizeof(capnp::word));
    if (!copy.value.empty()) {  // memcpy of an empty vector's null data is undefined
      std::memcpy(copy.value.data(), bytes.begin(), copy.value.size() * sizeof(capnp::word));
    }
    out.push_back(std::move(copy));
    return true;
  });
  return out;
}

void WriteTxn::queueCheckIn(const OpaqueKey& key, bool keepBorrow) {
  TxnState& t = *state_;
  detail::requireReplica(t, "queues check-ins");
  const TreeState& ts = detail::treeNamed(t, key.tree);
  std::string rk = detail::recordKey(ts, key.id, key.revision);
  if (auto entry = detail::outboxTable(t).getMessage(rk)) {
    auto e = entry->getRoot<wire::OutboxEntry>();
    // A record created here and not pushed yet goes to the server as it is
    // then, checked in.
    if (e.getKind() == wire::OutboxEntry::Kind::CREATE && !detail::pushed(t, rk)) return;
  }
  auto held = detail::findBorrow(t, ts, key.id, key.revision);
  if (!held || held->holder != t.db->options.author || held->returning) {
    throw Error(ErrorCode::kNotBorrowed, describe(key) + " is not checked out to this client ('" +
                                             t.db->options.author + "'): nothing to check in");
  }
  detail::putEntry(t, rk, wire::OutboxEntry::Kind::CHECK_IN, false, keepBorrow, t.now,
                   held->fencing);
  if (!keepBorrow) {
    auto since =
        std::chrono::duration_cast<std::chrono::nanoseconds>(held->since.time_since_epoch());
    detail::putBorrow(t, ts, key.id, key.revision, held->holder, held->fencing, since.count(),
                      true);
  }
}

void WriteTxn::markSent(const std::vector<OpaqueKey>& keys) {
  TxnState& t = *state_;
  detail::requireReplica(t, "pushes an outbox");
  // In memory only: after a restart a create is pushed again, and the
  // server takes the same bytes as done.
  std::lock_guard lock(t.db->sentMutex);
  for (const auto& key : keys) {
    t.db->sentEntries.insert(
        detail::recordKey(detail::treeNamed(t, key.tree), key.id, key.revision));
  }
}

bool WriteTxn::settle(const OutboxItem& item, std::string_view refusal) {
  TxnState& t = *state_;
  detail::requireReplica(t, "settles an outbox");
  const TreeState& ts = detail::treeNamed(t, item.key.tree);
  std::string rk = detail::recordKey(ts, item.key.id, item.key.revision);
  auto table = detail::outboxTable(t);
  auto entry = table.getMessage(rk);
  if (!entry || entry->getRoot<wire::OutboxEntry>().getQueued() != item.queued) return false;
  table.remove(rk);
  {
    std::lock_guard lock(t.db->sentMutex);
    t.db->sentEntries.erase(rk);
  }
  if (!refusal.empty() && item.kind == OutboxItem::Kind::kCreate) {
    // The server will never have it: keep it where the application finds it.
    auto rec = tree(item.key.tree).find(item.key.id, item.key.revision);
    detail::keepConflict(t, ts, item.key.id, item.key.revision,
                         rec ? rec.value().asBytes() : kj::ArrayPtr<const kj::byte>(), refusal, 0);
  }
  return true;
}

void WriteTxn::dropConflict(const OpaqueKey& key) {
  TxnState& t = *state_;
  detail::requireReplica(t, "keeps conflict copies");
  std::string prefix = detail::recordKey(detail::treeNamed(t, key.tree), key.id, key.revision);
  std::vector<std::string> keys;
  detail::conflictTable(t).forEachPrefix(prefix, [&](std::string_view k, capnp::MessageReader&) {
    keys.emplace_back(k);
    return true;
  });
  auto table = detail::conflictTable(t);
  for (const auto& k : keys) table.remove(k);
}

void WriteTxn::setOrigin(std::string_view origin) { state_->origin = origin; }

std::uint64_t ReadTxn::syncCursor() const {
  TxnState& t = *state_;
  detail::MetaStore meta(t, t.db->meta);
  return std::stoull(meta.getText("syncCursor").value_or("0"));
}

std::string ReadTxn::pinnedServer() const {
  TxnState& t = *state_;
  detail::MetaStore meta(t, t.db->meta);
  return meta.getText("pinnedServer").value_or("");
}

void WriteTxn::setSyncCursor(std::uint64_t sequence) {
  TxnState& t = *state_;
  detail::requireReplica(t, "follows a server's change log");
  detail::MetaStore(t, t.db->meta).putText("syncCursor", std::to_string(sequence));
}

void WriteTxn::pinServer(std::string_view uuid) {
  TxnState& t = *state_;
  detail::requireReplica(t, "is pinned to a server");
  std::string pinned = pinnedServer();
  if (pinned == uuid) return;
  if (!pinned.empty()) {
    throw Error(ErrorCode::kWrongServer, "the replica " + t.db->path + " belongs to server " +
                                             pinned + ", not to server " + std::string(uuid));
  }
  detail::MetaStore(t, t.db->meta).putText("pinnedServer", std::string(uuid));
}

}  // namespace hills
