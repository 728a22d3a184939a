#include "replica.h"
#include "quarantine.h"
#include "read_cache.h"

#include <cstring>

namespace hills::client {

namespace {

constexpr char kConflicts[] = "_conflicts";
// Properties: the log position, the pinned server, and the counter that
// tells outbox entries and conflict copies apart (never a clock).
constexpr char kCursor[] = "syncCursor";
constexpr char kPinned[] = "pinnedServer";
// The server's TLS certificate (PEM) and its fingerprint, pinned with it.
constexpr char kPinnedCertificate[] = "pinnedCertificate";
constexpr char kPinnedFingerprint[] = "pinnedFingerprint";
constexpr char kSerial[] = "syncSerial";

void storeBigEndian(std::string& out, std::uint64_t v) {
  for (int i = 7; i >= 0; --i) out.push_back(static_cast<char>((v >> (i * 8)) & 0xff));
}

std::uint64_t loadBigEndian(std::string_view in) {
  std::uint64_t v = 0;
  for (char c : in.substr(0, 8)) v = (v << 8) | static_cast<unsigned char>(c);
  return v;
}

// A copy of a record's stored value (empty: no record), for a conflict copy:
// the tables written meanwhile must not move what it reads.
std::vector<capnp::word> copyOf(const StoredRecord& rec) {
  if (!rec) return {};
  return std::vector<capnp::word>(rec.value().begin(), rec.value().end());
}

kj::ArrayPtr<const kj::byte> bytesOf(const std::vector<capnp::word>& words) {
  return kj::arrayPtr(words.data(), words.size()).asBytes();
}

OpaqueKey keyOf(const Mutation& m) { return OpaqueKey{std::string(m.tree), m.id, m.revision}; }

}  // namespace

std::vector<std::string> Replica::tables() const {
  return {protocol::kBorrowTable, kOutbox, kConflicts, kQuarantine, kReadCache, kReadCacheOrder};
}

// --- the write hook -----------------------------------------------------------

void Replica::check(WriteTxn& txn, const Mutation& m) {
  if (m.applied) return;  // the server decided
  requireReplicated(m.tree, describe(keyOf(m)));
  switch (m.kind) {
    case EventKind::kCreated:
      return;
    case EventKind::kUpdated:
    case EventKind::kRemoved:
      requireEditable(txn, keyOf(m));
      return;
    default: {
      const char* what = m.kind == EventKind::kReleased      ? "released"
                         : m.kind == EventKind::kNewRevision ? "given a new revision"
                                                             : "given a lifecycle";
      throw Error(ErrorCode::kInvalidArgument,
                  describe(keyOf(m)) + " can be " + what +
                      " only by the sync server: ask it through hills::Client");
    }
  }
}

void Replica::checkCreate(WriteTxn& txn, std::string_view tree) {
  requireReplicated(tree, "a record");
  if (txn.tree(tree).idsLeft() == 0) {
    throw Error(ErrorCode::kNoIds,
                "client '" + name_ + "' has no ids of tree '" + std::string(tree) +
                    "' left for a new record: its server grants them between transactions "
                    "while it is connected; before a transaction that creates more records "
                    "than status().idsLeft holds, call Client::reserveIds");
  }
}

void Replica::requireReplicated(std::string_view tree, const std::string& what) const {
  if (!replicates(tree)) refuseTree(tree, what);
}

void Replica::refuseTree(std::string_view tree, const std::string& what) const {
  throw Error(ErrorCode::kWrongTree,
              what + " of tree '" + std::string(tree) + "' cannot be written here: client '" +
                  name_ + "' does not replicate tree '" + std::string(tree) +
                  "' (ClientOptions::replicate); records of it are read with "
                  "hills::Client::fetch, and only read");
}

void Replica::stored(WriteTxn& txn, const Mutation& m) {
  if (m.local() && m.kind == EventKind::kCreated) {
    putEntry(txn, recordKey(keyOf(m)), sync::OutboxEntry::Kind::CREATE, false, 0);
  } else if (m.concurrent && m.before) {
    // An edit here the server never took: the server's record wins, and the
    // edit is kept where the application finds it.
    keepConflict(txn, keyOf(m), m.before->value().asBytes(), m.origin, 0);
  }
}

bool Replica::applyEntry(WriteTxn& txn, wire::Change::Reader entry, std::string_view origin) {
  auto kind = static_cast<EventKind>(static_cast<std::uint16_t>(entry.getKind()));
  if (kind != sync::kBorrowed && kind != sync::kCheckedIn && kind != sync::kBorrowBroken) {
    return false;
  }
  OpaqueKey key{entry.getTree(), entry.getId(), entry.getRevision()};
  std::uint64_t fencing = entry.getNumber();
  std::string holder = entry.getNote();
  auto held = protocol::findBorrow(txn, key);
  if (kind == sync::kBorrowed) {
    if (held && held->fencing == fencing) return false;  // applied already
    protocol::putBorrow(txn, BorrowInfo{key, holder, fencing, protocol::fromNanos(entry.getTime()),
                                        false});
    return true;
  }
  // Checked in or broken: only the borrow it names ends.
  if (!held || held->fencing != fencing) return false;
  protocol::dropBorrow(txn, key);
  if (kind == sync::kBorrowBroken && held->holder == name_) {
    // This replica's borrow: its own edit, if the server never got it,
    // becomes a conflict copy, and the record goes back to the server's.
    auto tree = txn.tree(key.tree);
    auto serverValue = entry.getValue();
    std::optional<std::vector<capnp::word>> edit;  // what the server never got
    {
      auto rec = tree.find(key.id, key.revision);
      if (rec ? !rec.holds(serverValue) : serverValue.size() != 0) edit = copyOf(rec);
    }
    if (edit) {
      keepConflict(txn, key, bytesOf(*edit), origin, fencing);
      tree.adopt(key.id, key.revision, serverValue, origin);
    }
    txn.table(kOutbox).remove(recordKey(key));
  }
  return true;
}

void Replica::requireEditable(const ReadTxn& txn, const OpaqueKey& key) const {
  auto held = protocol::findBorrow(txn, key);
  if (held && held->holder == name_ && !held->returning) return;
  std::string why;
  std::string rk = recordKey(key);
  if (auto entry = txn.table(kOutbox).get(rk)) {
    auto e = entry->getRoot<sync::OutboxEntry>();
    if (e.getKind() == sync::OutboxEntry::Kind::CREATE) {
      if (!pushed(rk, e.getSerial())) return;  // created here, not pushed yet
      why = "; it was pushed to the server as created here and is checked in there: check it out";
    }
  }
  if (held && held->holder != name_) {
    why = "; it is checked out to '" + held->holder + "'";
  } else if (held) {
    why = "; its check-in is on its way to the server";
  }
  throw Error(ErrorCode::kNotBorrowed, describe(key) + " is not checked out to this client ('" +
                                           name_ + "'): check it out before editing it" + why);
}

// --- the outbox -------------------------------------------------------------------

std::uint64_t Replica::nextSerial(WriteTxn& txn) {
  std::uint64_t next = std::stoull(txn.property(kSerial).value_or("0")) + 1;
  txn.setProperty(kSerial, std::to_string(next));
  return next;
}

void Replica::putEntry(WriteTxn& txn, const std::string& key, sync::OutboxEntry::Kind kind,
                       bool keepBorrow, std::uint64_t fencing) {
  capnp::MallocMessageBuilder msg(16);
  auto e = msg.initRoot<sync::OutboxEntry>();
  e.setKind(kind);
  e.setKeepBorrow(keepBorrow);
  e.setFencing(fencing);
  // A new serial: the entry is a new one, which no push has marked yet.
  e.setSerial(nextSerial(txn));
  txn.table(kOutbox).put(key, msg);
  if (onOutbox_) txn.onCommit(onOutbox_);
}

bool Replica::pushed(const std::string& key, std::uint64_t serial) const {
  std::lock_guard lock(sentMutex_);
  auto it = sent_.find(key);
  return it != sent_.end() && it->second == serial;
}

std::vector<OutboxItem> Replica::outbox(const ReadTxn& txn, std::size_t limit) const {
  std::vector<OutboxItem> out;
  if (limit == 0) return out;
  txn.table(kOutbox).scan("", [&](std::string_view key, capnp::MessageReader& msg) {
    auto e = msg.getRoot<sync::OutboxEntry>();
    OutboxItem item;
    item.kind = e.getKind() == sync::OutboxEntry::Kind::CREATE ? OutboxItem::Kind::kCreate
                                                                : OutboxItem::Kind::kCheckIn;
    item.key = parseRecordKey(key, kOutbox);
    item.serial = e.getSerial();
    std::string rk(key);
    if (answeredEntry(rk, item.serial)) return true;
    item.sent = pushed(rk, item.serial);
    item.keepBorrow = e.getKeepBorrow();
    item.fencing = e.getFencing();
    out.push_back(std::move(item));
    return out.size() < limit;
  });
  return out;
}

bool Replica::queued(const ReadTxn& txn, const OpaqueKey& key) const {
  return txn.table(kOutbox).contains(recordKey(key));
}

std::size_t Replica::outboxLength(const ReadTxn& txn) const { return txn.table(kOutbox).size(); }

void Replica::queueCheckIn(WriteTxn& txn, const OpaqueKey& key, bool keepBorrow) {
  txn.tree(key.tree);  // kUnknownTree for a tree the database lacks
  std::string rk = recordKey(key);
  if (auto entry = txn.table(kOutbox).get(rk)) {
    auto e = entry->getRoot<sync::OutboxEntry>();
    // A record created here and not pushed yet goes to the server as it is
    // then, checked in.
    if (e.getKind() == sync::OutboxEntry::Kind::CREATE && !pushed(rk, e.getSerial())) return;
  }
  auto held = protocol::findBorrow(txn, key);
  if (!held || held->holder != name_ || held->returning) {
    throw Error(ErrorCode::kNotBorrowed, describe(key) + " is not checked out to this client ('" +
                                             name_ + "'): nothing to check in");
  }
  putEntry(txn, rk, sync::OutboxEntry::Kind::CHECK_IN, keepBorrow, held->fencing);
  if (!keepBorrow) {
    held->returning = true;
    protocol::putBorrow(txn, *held);
  }
}

void Replica::markSent(WriteTxn& txn, const std::vector<OutboxItem>& items) {
  std::vector<std::string> marked;
  {
    std::lock_guard lock(sentMutex_);
    for (const auto& item : items) {
      std::string key = recordKey(item.key);
      sent_[key] = item.serial;
      marked.push_back(std::move(key));
    }
  }
  // Writers of this process wait for this transaction, so only it sees the
  // marks before it commits; should it not, they go.
  txn.onAbort([this, marked = std::move(marked)] {
    std::lock_guard lock(sentMutex_);
    for (const auto& key : marked) sent_.erase(key);
  });
}

bool Replica::answeredEntry(const std::string& key, std::uint64_t serial) const {
  std::lock_guard lock(sentMutex_);
  auto it = answers_.find(key);
  return it != answers_.end() && it->second.item.serial == serial;
}

void Replica::answered(const OutboxItem& item, std::string refusal) {
  std::lock_guard lock(sentMutex_);
  answers_[recordKey(item.key)] = Answer{item, std::move(refusal)};
}

bool Replica::hasAnswers() const {
  std::lock_guard lock(sentMutex_);
  return !answers_.empty();
}

std::size_t Replica::settleAnswered(WriteTxn& txn) {
  std::map<std::string, Answer> answers;
  {
    std::lock_guard lock(sentMutex_);
    // Every applied batch asks: most have nothing to settle.
    if (answers_.empty()) return 0;
    answers = answers_;
  }
  std::size_t settled = 0;
  for (const auto& [rk, answer] : answers) {
    if (settle(txn, answer.item, answer.refusal)) ++settled;
  }
  // Answers noted meanwhile, or to an entry queued again since, stay.
  txn.onCommit([this, answers = std::move(answers)] {
    std::lock_guard lock(sentMutex_);
    for (const auto& [rk, answer] : answers) {
      auto it = answers_.find(rk);
      if (it != answers_.end() && it->second.item.serial == answer.item.serial) answers_.erase(it);
    }
  });
  return settled;
}

bool Replica::settleReturned(WriteTxn& txn, wire::Change::Reader change) {
  // A create pushed again with later edits comes back as an update (and
  // compaction may have dropped the create's own entry since).
  auto kind = change.getKind();
  if ((kind != wire::ChangeKind::CREATED && kind != wire::ChangeKind::UPDATED) ||
      change.getOrigin() != name_) {
    return false;
  }
  OutboxItem item;
  item.key = OpaqueKey{change.getTree(), change.getId(), change.getRevision()};
  {
    auto entry = txn.table(kOutbox).get(recordKey(item.key));
    if (!entry) return false;  // settled by its answer, as a rule
    auto e = entry->getRoot<sync::OutboxEntry>();
    if (e.getKind() != sync::OutboxEntry::Kind::CREATE) return false;
    item.serial = e.getSerial();
  }
  auto rec = txn.tree(item.key.tree).find(item.key.id, item.key.revision);
  if (!rec || !rec.holds(change.getValue())) return false;
  return settle(txn, item);
}

bool Replica::settle(WriteTxn& txn, const OutboxItem& item, std::string_view refusal) {
  std::string rk = recordKey(item.key);
  auto table = txn.table(kOutbox);
  auto entry = table.get(rk);
  if (!entry || entry->getRoot<sync::OutboxEntry>().getSerial() != item.serial) return false;
  table.remove(rk);
  txn.onCommit([this, rk, serial = item.serial] {
    std::lock_guard lock(sentMutex_);
    auto it = sent_.find(rk);
    if (it != sent_.end() && it->second == serial) sent_.erase(it);
  });
  if (!refusal.empty() && item.kind == OutboxItem::Kind::kCreate) {
    // The server will never have it: keep it where the application finds it.
    auto value = copyOf(txn.tree(item.key.tree).find(item.key.id, item.key.revision));
    keepConflict(txn, item.key, bytesOf(value), refusal, 0);
  }
  return true;
}

// --- conflict copies ---------------------------------------------------------------

void Replica::keepConflict(WriteTxn& txn, const OpaqueKey& key, kj::ArrayPtr<const kj::byte> value,
                           std::string_view why, std::uint64_t fencing) {
  capnp::MallocMessageBuilder msg(static_cast<unsigned>(value.size() / 8 + 16));
  auto c = msg.initRoot<sync::Conflict>();
  c.setValue(value);
  c.setBrokenBy(std::string(why));
  c.setTime(protocol::toNanos(std::chrono::system_clock::now()));
  c.setFencing(fencing);
  // Copies of one record sort by their serial number: after every copy the
  // record has, whatever numbered those.
  std::string prefix = recordKey(key);
  std::uint64_t serial = nextSerial(txn);
  auto table = txn.table(kConflicts);
  std::string lastKey;
  table.scan(prefix, [&](std::string_view k, capnp::MessageReader&) {
    lastKey = k;
    return true;
  });
  if (lastKey.size() == prefix.size() + 8) {
    serial = std::max(serial, loadBigEndian(std::string_view(lastKey).substr(prefix.size())) + 1);
  }
  std::string k = prefix;
  storeBigEndian(k, serial);
  table.put(k, msg);
}

std::vector<ConflictCopy> Replica::conflicts(const ReadTxn& txn) const {
  std::vector<ConflictCopy> out;
  txn.table(kConflicts).scan("", [&](std::string_view key, capnp::MessageReader& msg) {
    auto c = msg.getRoot<sync::Conflict>();
    ConflictCopy copy;
    copy.key = parseRecordKey(key, kConflicts, 8);
    copy.brokenBy = c.getBrokenBy().cStr();
    copy.fencing = c.getFencing();
    copy.time = protocol::fromNanos(c.getTime());
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

void Replica::dropConflict(WriteTxn& txn, const OpaqueKey& key) {
  std::vector<std::string> keys;
  auto table = txn.table(kConflicts);
  table.scan(recordKey(key), [&](std::string_view k, capnp::MessageReader&) {
    keys.emplace_back(k);
    return true;
  });
  for (const auto& k : keys) table.remove(k);
}

// --- cursor and pinning ----------------------------------------------------------------

std::uint64_t Replica::cursor(const ReadTxn& txn) const {
  return std::stoull(txn.property(kCursor).value_or("0"));
}

std::string Replica::pinnedServer(const ReadTxn& txn) const {
  return txn.property(kPinned).value_or("");
}

void Replica::setCursor(WriteTxn& txn, std::uint64_t sequence) {
  txn.setProperty(kCursor, std::to_string(sequence));
}

std::string Replica::pinnedFingerprint(const ReadTxn& txn) const {
  return txn.property(kPinnedFingerprint).value_or("");
}

void Replica::pin(WriteTxn& txn, std::string_view uuid, std::string_view certificate,
                  std::string_view fingerprint) {
  std::string pinned = pinnedServer(txn);
  if (!pinned.empty() && pinned != uuid) {
    throw Error(ErrorCode::kWrongServer, "the replica belongs to server " + pinned +
                                             ", not to server " + std::string(uuid));
  }
  if (pinned.empty()) txn.setProperty(kPinned, uuid);
  // The connection checked the certificate against the pin, or against a
  // fingerprint the administrator gave, which replaces the pin.
  if (!fingerprint.empty() && pinnedFingerprint(txn) != fingerprint) {
    txn.setProperty(kPinnedCertificate, certificate);
    txn.setProperty(kPinnedFingerprint, fingerprint);
  }
}

}  // namespace hills::client
