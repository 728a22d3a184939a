// A fresh replica starts from a snapshot of the server (Session.snapshot)
// rather than from the server's whole change log: the records and borrows
// as of one change, then the log after it.
#include <capnp/message.h>

#include <map>
#include <optional>
#include <string>

#include "client_impl.h"
#include "quarantine.h"

namespace hills {

namespace {

// Where a bootstrap began that has not ended yet: the sequence of the first
// snapshot this replica took records from. A bootstrap that starts again
// (the process stopped, the connection dropped) takes a newer snapshot; the
// replica then follows the log from the older sequence, so a record it took
// from the first and that was removed before the second goes too.
constexpr char kBootstrap[] = "syncBootstrap";

std::uint64_t bootstrapStart(const ReadTxn& txn) {
  auto text = txn.property(kBootstrap);
  return text && !text->empty() ? std::stoull(*text) : 0;
}

// The origin of a record a snapshot brings: the client that made it as it
// is, or the server when the record does not say.
std::string originOf(sync::SnapshotRecord::Reader record) {
  std::string origin = record.getOrigin();
  return origin.empty() ? "hills-server" : origin;
}

// A snapshot record as a change of the log, for the quarantine.
void quarantineRecord(WriteTxn& txn, std::string_view tree, sync::SnapshotRecord::Reader record,
                      std::uint64_t sequence, const Error& why) {
  capnp::MallocMessageBuilder msg;
  auto change = msg.initRoot<wire::Change>();
  change.setSequence(sequence);
  change.setKind(wire::ChangeKind::CREATED);
  change.setTree(std::string(tree));
  change.setId(record.getId());
  change.setRevision(record.getRevision());
  change.setOrigin(originOf(record));
  change.setValue(record.getValue());
  client::quarantine(txn, change.asReader(), why);
}

}  // namespace

kj::Promise<void> SyncEngine::bootstrap() {
  std::uint64_t serverLast;
  {
    std::lock_guard lock(client_.mutex);
    serverLast = client_.state.serverSequence;
  }
  bool fresh = client_.db.read([&](const ReadTxn& txn) {
    return client_.replica->cursor(txn) == 0 && serverLast > 0;
  });
  if (!fresh) return kj::READY_NOW;
  return timed(session().snapshotRequest().send())
      .then([this](auto&& response) {
        std::uint64_t sequence = response.getSequence();
        client_.db.write([&](WriteTxn& txn) {
          if (bootstrapStart(txn) == 0) txn.setProperty(kBootstrap, std::to_string(sequence));
        });
        return nextPart(response.getSnapshot(), sequence);
      });
}

kj::Promise<void> SyncEngine::nextPart(sync::Snapshot::Client snapshot, std::uint64_t sequence) {
  auto request = snapshot.nextRequest();
  return timed(request.send()).then(
      [this, snapshot = kj::mv(snapshot), sequence](auto&& response) mutable -> kj::Promise<void> {
        if (response.getDone()) {
          client_.db.write([&](WriteTxn& txn) {
            std::uint64_t start = bootstrapStart(txn);
            client_.replica->setCursor(txn, start != 0 ? std::min(start, sequence) : sequence);
            txn.setProperty(kBootstrap, "");
          });
          {
            std::lock_guard lock(client_.mutex);
            client_.state.lastApplied = std::max(client_.state.lastApplied, sequence);
          }
          client_.changed.notify_all();
          return kj::READY_NOW;
        }
        applyPart(response.getPart(), sequence);
        return nextPart(kj::mv(snapshot), sequence);
      });
}

void SyncEngine::applyPart(sync::SnapshotPart::Reader part, std::uint64_t sequence) {
  std::string tree = part.getTree();
  // As with the log: a record that cannot be stored here waits in the
  // quarantine, and the part is stored again without it.
  std::map<unsigned, Error> refused;  // by index into part.getRecords()
  auto records = part.getRecords();
  for (std::size_t attempt = 0;; ++attempt) {
    std::optional<std::pair<unsigned, Error>> failed;
    try {
      client_.db.write([&](WriteTxn& txn) {
        failed.reset();
        for (unsigned i = 0; i < records.size(); ++i) {
          auto record = records[i];
          if (auto it = refused.find(i); it != refused.end()) {
            quarantineRecord(txn, tree, record, sequence, it->second);
            continue;
          }
          try {
            txn.tree(tree).adopt(record.getId(), record.getRevision(), record.getValue(),
                                 originOf(record));
          } catch (const Error& e) {
            if (client::quarantinable(e.code()) && attempt < records.size()) failed.emplace(i, e);
            throw;
          }
        }
        for (auto borrow : part.getBorrows()) protocol::putBorrow(txn, protocol::borrowOf(borrow));
      });
      return;
    } catch (const Error&) {
      if (!failed) throw;
      refused.emplace(failed->first, failed->second);
    }
  }
}

}  // namespace hills
