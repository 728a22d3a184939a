#include "quarantine.h"

#include <algorithm>
#include <chrono>
#include <optional>
#include <string>

#include "hills/protocol.h"
#include "hills/sync_tables.capnp.h"
#include "hills/table.h"

namespace hills::client {

namespace {

std::string sequenceSuffix(std::uint64_t sequence) {
  std::string out(8, '\0');
  for (int i = 7; i >= 0; --i) {
    out[static_cast<std::size_t>(i)] = static_cast<char>(sequence & 0xff);
    sequence >>= 8;
  }
  return out;
}

std::uint64_t sequenceOf(std::string_view key) {
  std::uint64_t out = 0;
  for (char c : key.substr(key.size() - 8)) out = (out << 8) | static_cast<unsigned char>(c);
  return out;
}

std::string entryKey(const OpaqueKey& key, std::uint64_t sequence) {
  return recordKey(key) + sequenceSuffix(sequence);
}

OpaqueKey keyOf(wire::Change::Reader change) {
  return OpaqueKey{change.getTree(), change.getId(), change.getRevision()};
}

void put(WriteTxn& txn, wire::Change::Reader change, const Error& refusal, std::int64_t since,
         std::uint32_t tries) {
  capnp::MallocMessageBuilder msg;
  auto entry = msg.initRoot<sync::Quarantined>();
  entry.setChange(change);
  entry.setCode(static_cast<std::uint16_t>(refusal.code()));
  entry.setReason(refusal.what());
  entry.setSince(since);
  entry.setTries(tries);
  txn.table(kQuarantine).put(entryKey(keyOf(change), change.getSequence()), msg);
}

// Calls fn(entry key, entry) for the quarantined changes of `key` older
// than `sequence`, in the log's order, while fn returns true.
template <class F>
void scanEarlier(const ReadTxn& txn, const OpaqueKey& key, std::uint64_t sequence, F&& fn) {
  auto table = txn.table(kQuarantine);
  if (table.size() == 0) return;
  const std::string prefix = recordKey(key);
  table.scan(prefix, [&](std::string_view k, capnp::MessageReader& msg) {
    if (k.size() != prefix.size() + 8 || sequenceOf(k) >= sequence) return true;
    return fn(k, msg.getRoot<sync::Quarantined>());
  });
}

}  // namespace

bool quarantinable(ErrorCode code) {
  return code != ErrorCode::kIo && code != ErrorCode::kMapFull && code != ErrorCode::kStorage;
}

void quarantine(WriteTxn& txn, wire::Change::Reader change, const Error& refusal) {
  put(txn, change, refusal, protocol::toNanos(std::chrono::system_clock::now()), 1);
}

void dropOvertaken(WriteTxn& txn, const OpaqueKey& key, std::uint64_t sequence,
                   std::uint16_t kind) {
  std::vector<std::string> older;
  scanEarlier(txn, key, sequence, [&](std::string_view k, sync::Quarantined::Reader entry) {
    auto waiting = static_cast<std::uint16_t>(entry.getChange().getKind());
    if (sync::supersedes(kind, waiting)) older.emplace_back(k);
    return true;
  });
  auto table = txn.table(kQuarantine);
  for (const auto& k : older) table.remove(k);
}

std::optional<Error> behindBrokenBorrow(const ReadTxn& txn, const OpaqueKey& key,
                                        std::uint64_t sequence) {
  std::optional<Error> out;
  scanEarlier(txn, key, sequence, [&](std::string_view k, sync::Quarantined::Reader entry) {
    if (entry.getChange().getKind() != static_cast<wire::ChangeKind>(sync::BORROW_BROKEN_KIND)) {
      return true;
    }
    out.emplace(static_cast<ErrorCode>(entry.getCode()),
                "waits behind the broken borrow of its record (change " +
                    std::to_string(sequenceOf(k)) + "), which waits in the quarantine: " +
                    entry.getReason().cStr());
    return false;
  });
  return out;
}

std::vector<QuarantinedChange> quarantined(const ReadTxn& txn) {
  std::vector<QuarantinedChange> out;
  txn.table(kQuarantine).scan("", [&](std::string_view key, capnp::MessageReader& msg) {
    auto entry = msg.getRoot<sync::Quarantined>();
    auto change = entry.getChange();
    QuarantinedChange q;
    q.sequence = change.getSequence();
    q.key = parseRecordKey(key, kQuarantine, 8);
    q.kind = sync::kindName(static_cast<EventKind>(static_cast<std::uint16_t>(change.getKind())));
    q.origin = change.getOrigin();
    q.code = static_cast<ErrorCode>(entry.getCode());
    q.reason = entry.getReason();
    q.since = protocol::fromNanos(entry.getSince());
    q.tries = entry.getTries();
    out.push_back(std::move(q));
    return true;
  });
  std::sort(out.begin(), out.end(),
            [](const auto& a, const auto& b) { return a.sequence < b.sequence; });
  return out;
}

std::size_t retryQuarantined(Database& db) {
  auto waiting = db.read([](const ReadTxn& txn) { return quarantined(txn); });
  for (const auto& q : waiting) {
    std::string key = entryKey(q.key, q.sequence);
    try {
      db.write([&](WriteTxn& txn) {
        auto msg = txn.table(kQuarantine).get(key);
        if (!msg) return;  // overtaken by a later change retried before it
        // Applied after the broken borrow before it, or not at all: the
        // borrow's end puts the server's value back first.
        if (behindBrokenBorrow(txn, q.key, q.sequence)) return;
        auto change = msg->getRoot<sync::Quarantined>().getChange();
        auto kind = static_cast<std::uint16_t>(change.getKind());
        txn.tree(change.getTree().cStr()).applyChange(change, change.getOrigin().cStr());
        txn.table(kQuarantine).remove(key);
        dropOvertaken(txn, q.key, q.sequence, kind);
      });
    } catch (const Error& e) {
      if (!quarantinable(e.code())) throw;
      // Still refused: the entry says why, now.
      db.write([&](WriteTxn& txn) {
        auto msg = txn.table(kQuarantine).get(key);
        if (!msg) return;
        auto entry = msg->getRoot<sync::Quarantined>();
        put(txn, entry.getChange(), e, entry.getSince(), entry.getTries() + 1);
      });
    }
  }
  return db.read([](const ReadTxn& txn) { return txn.table(kQuarantine).size(); });
}

}  // namespace hills::client
