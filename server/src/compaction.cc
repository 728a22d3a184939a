#include "compaction.h"

#include <capnp/message.h>

#include <charconv>
#include <chrono>

#include <string_view>

#include "hills/protocol.h"
#include "server_impl.h"
#include "hills/sync_tables.capnp.h"
#include "hills/table.h"

namespace hills::server {

namespace {

constexpr std::string_view kHeads = "_logHeads";
constexpr std::string_view kSuperseded = "_superseded";
constexpr std::string_view kIndexed = "logIndexed";  // property: entries up to it are read

std::string sequenceKey(std::uint64_t sequence) {
  std::string key(8, '\0');
  for (int i = 7; i >= 0; --i, sequence >>= 8) key[i] = static_cast<char>(sequence & 0xff);
  return key;
}

std::uint64_t sequenceOf(std::string_view key) {
  if (key.size() != 8) {
    throw Error(ErrorCode::kCorrupt, "a key of table " + std::string(kSuperseded) + " is " +
                                         std::to_string(key.size()) + " bytes, not 8");
  }
  std::uint64_t sequence = 0;
  for (char c : key) sequence = sequence << 8 | static_cast<unsigned char>(c);
  return sequence;
}

void putHead(Table& table, std::string_view key, std::uint64_t sequence, std::uint16_t kind) {
  capnp::MallocMessageBuilder msg(8);
  auto head = msg.initRoot<sync::LogHead>();
  head.setSequence(sequence);
  head.setKind(kind);
  table.put(key, msg);
}

// Reads entries after the property's position into the tables.
std::uint64_t indexEntries(WriteTxn& txn, std::size_t limit, bool& more) {
  auto heads = txn.table(kHeads);
  auto superseded = txn.table(kSuperseded);
  std::uint64_t through = logIndexed(txn);
  std::uint64_t last = txn.lastSequence();
  if (through >= last || limit == 0) return 0;
  std::uint64_t read = 0;
  txn.changes(through, [&](wire::Change::Reader change) {
    through = change.getSequence();
    auto kind = static_cast<std::uint16_t>(change.getKind());
    // One head per record and history; a kind this server does not know
    // is never dropped.
    if (auto history = sync::historyOf(kind); history != sync::History::kNone) {
      std::string key(1, static_cast<char>(history));
      key += recordKey(change.getTree().cStr(), change.getId(), change.getRevision());
      if (auto previous = heads.get(key)) {
        auto head = previous->getRoot<sync::LogHead>();
        if (sync::supersedes(kind, head.getKind())) {
          putHead(superseded, sequenceKey(head.getSequence()), through, kind);
        }
      }
      putHead(heads, key, through, kind);
    }
    return ++read < limit;
  });
  txn.setProperty(kIndexed, std::to_string(through));
  more = more || through < last;
  return read;
}

// Drops the queued entries that are old enough, oldest first.
std::uint64_t dropSuperseded(WriteTxn& txn, std::int64_t cutoff, std::size_t limit, bool& more) {
  auto superseded = txn.table(kSuperseded);
  std::vector<std::uint64_t> due;
  superseded.scan("", [&](std::string_view key, capnp::MessageReader&) {
    due.push_back(sequenceOf(key));
    return due.size() < limit;
  });
  std::uint64_t dropped = 0;
  std::size_t done = 0;
  for (std::uint64_t sequence : due) {
    bool present = false, old = false;
    txn.changes(sequence - 1, [&](wire::Change::Reader change) {
      present = change.getSequence() == sequence;
      old = change.getTime() < cutoff;
      return false;
    });
    // Entries come in the order of their time: the rest are younger still.
    if (present && !old) break;
    if (present && txn.dropChange(sequence)) ++dropped;
    superseded.remove(sequenceKey(sequence));
    ++done;
  }
  more = more || (done == due.size() && due.size() == limit);
  return dropped;
}

}  // namespace

std::vector<std::string> compactionTables() {
  return {std::string(kHeads), std::string(kSuperseded)};
}

std::uint64_t logIndexed(const ReadTxn& txn) {
  auto text = txn.property(kIndexed);
  if (!text) return 0;
  std::uint64_t through = 0;
  auto [end, ec] = std::from_chars(text->data(), text->data() + text->size(), through);
  if (ec != std::errc() || end != text->data() + text->size()) {
    throw Error(ErrorCode::kCorrupt, "the property " + std::string(kIndexed) + " is '" + *text +
                                         "', not a sequence number");
  }
  return through;
}

CompactionStep compactLog(WriteTxn& txn, std::int64_t cutoff, std::size_t limit) {
  CompactionStep step;
  step.indexed = indexEntries(txn, limit, step.more);
  step.dropped = dropSuperseded(txn, cutoff, limit, step.more);
  return step;
}

}  // namespace hills::server

namespace hills {

namespace {

constexpr auto kCompactEvery = 1 * kj::SECONDS;
// Entries a step reads, and entries it drops, at most: a step shares its
// commit with clients' writes and must not hold them up for long.
constexpr std::size_t kCompactBatch = 4096;

}  // namespace

kj::Promise<void> SyncServer::Impl::compactLater() {
  return timer.afterDelay(kCompactEvery).then([this] { compactStep(); });
}

void SyncServer::Impl::compactStep() {
  if (shuttingDown) return;
  auto cutoff = std::chrono::duration_cast<std::chrono::nanoseconds>(
                    (std::chrono::system_clock::now() - config.logRetention).time_since_epoch())
                    .count();
  struct Outcome {
    server::CompactionStep step;
    std::string corrupt;
  };
  auto outcome = kj::heap<Outcome>();
  auto& out = *outcome;
  // Each step is a task of its own, which schedules the next: a chain of
  // promises that never ended would grow with every step.
  tasks.add(commit([&out, cutoff](WriteTxn& txn) {
              // A damaged entry must not fail the clients' writes in this commit.
              try {
                out.step = server::compactLog(txn, cutoff, kCompactBatch);
              } catch (const Error& e) {
                if (e.code() != ErrorCode::kCorrupt) throw;
                out.corrupt = e.what();
              }
            },
            false)
                .then(
                    [this, &out] {
                      logDropped += out.step.dropped;
                      if (!out.corrupt.empty()) {
                        refusal("server", "compaction failed",
                                "compacting the change log stopped: " + out.corrupt);
                      }
                      if (out.step.more && out.corrupt.empty()) {
                        compactStep();
                      } else {
                        tasks.add(compactLater());
                      }
                    },
                    [this](kj::Exception&& e) {
                      refusal("server", "compaction failed",
                              "compacting the change log failed: " +
                                  std::string(e.getDescription().cStr()));
                      tasks.add(compactLater());
                    })
                .attach(kj::mv(outcome)));
}

}  // namespace hills
