// A fresh replica starts from a snapshot of the server (Session.snapshot)
// rather than from the server's whole change log: the records and borrows
// as of one change, then the log after it.
#include <capnp/message.h>
#include <capnp/serialize.h>

#include <algorithm>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

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

// Bytes of parts stored in one commit.
constexpr std::size_t kCommitBytes = std::size_t{8} << 20;
// Parts asked for ahead of the one being received: they travel while this
// replica stores what it has (the server sends each once it is spooled).
constexpr std::size_t kPartsAhead = 8;
// Records one commit may refuse before the bootstrap fails as a whole.
constexpr std::size_t kMaxRefused = 4096;

std::uint64_t bootstrapStart(const ReadTxn& txn) {
  auto text = txn.property(kBootstrap);
  return text && !text->empty() ? std::stoull(*text) : 0;
}

// The origin of a record a snapshot brings: the client that made it as it
// is, or the server when the record does not say.
std::string_view originOf(sync::SnapshotRecord::Reader record) {
  auto origin = record.getOrigin();
  return origin.size() == 0 ? std::string_view("hills-server")
                            : std::string_view(origin.cStr(), origin.size());
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
  auto origin = originOf(record);
  change.setOrigin(capnp::Text::Reader(origin.data(), origin.size()));
  change.setValue(record.getValue());
  client::quarantine(txn, change.asReader(), why);
}

}  // namespace

// One snapshot being received: the parts asked for, in order, and those
// received and not yet stored.
struct SyncEngine::SnapshotStream {
  SnapshotStream(sync::Snapshot::Client snapshot, std::uint64_t sequence)
      : snapshot(kj::mv(snapshot)), sequence(sequence) {}

  sync::Snapshot::Client snapshot;
  std::uint64_t sequence;
  std::deque<kj::Promise<capnp::Response<sync::Snapshot::NextResults>>> asked;
  std::vector<capnp::Response<sync::Snapshot::NextResults>> received;
  std::size_t receivedBytes = 0;
};

kj::Promise<void> SyncEngine::bootstrap() {
  adding_.clear();
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
        return readSnapshot(response.getSnapshot(), sequence);
      });
}

kj::Promise<void> SyncEngine::addTrees() {
  adding_ = client_.db.read([&](const ReadTxn& txn) { return client_.replica->adding(txn); });
  if (adding_.empty()) return kj::READY_NOW;
  // The session's snapshot, of which the parts of the added trees are kept.
  return timed(session().snapshotRequest().send()).then([this](auto&& response) {
    std::uint64_t sequence = response.getSequence();
    client_.db.write([&](WriteTxn& txn) { client_.replica->startAdding(txn, sequence); });
    return readSnapshot(response.getSnapshot(), sequence);
  });
}

void SyncEngine::treesAdded() {
  client_.db.write([&](WriteTxn& txn) { client_.replica->doneAdding(txn); });
  adding_.clear();
}

kj::Promise<void> SyncEngine::readSnapshot(sync::Snapshot::Client snapshot,
                                           std::uint64_t sequence) {
  auto stream = kj::heap<SnapshotStream>(kj::mv(snapshot), sequence);
  for (std::size_t i = 0; i <= kPartsAhead; ++i) {
    stream->asked.push_back(stream->snapshot.nextRequest().send());
  }
  return storeParts(kj::mv(stream));
}

kj::Promise<void> SyncEngine::storeParts(kj::Own<SnapshotStream> stream) {
  auto next = kj::mv(stream->asked.front());
  stream->asked.pop_front();
  return timed(kj::mv(next)).then([this, stream = kj::mv(stream)](auto&& response) mutable
                                  -> kj::Promise<void> {
    if (!response.getDone()) {
      stream->asked.push_back(stream->snapshot.nextRequest().send());
      stream->receivedBytes += response.getPart().size();
      stream->received.push_back(kj::mv(response));
      // Parts are stored a few at a time: each commit waits for the disk.
      if (stream->receivedBytes >= kCommitBytes) {
        applyParts(stream->received, stream->sequence);
        stream->received.clear();
        stream->receivedBytes = 0;
      }
      return storeParts(kj::mv(stream));
    }
    std::uint64_t sequence = stream->sequence;
    applyParts(stream->received, sequence);
    if (!adding_.empty()) {
      treesAdded();
      return kj::READY_NOW;
    }
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
  });
}

void SyncEngine::applyParts(
    const std::vector<capnp::Response<sync::Snapshot::NextResults>>& parts,
    std::uint64_t sequence) {
  if (parts.empty()) return;
  // Each part is a message of its own, sent as bytes: read with the
  // limits of any message from the server.
  std::vector<std::unique_ptr<capnp::FlatArrayMessageReader>> decoded;
  for (const auto& response : parts) {
    auto bytes = response.getPart();
    if (bytes.size() % sizeof(capnp::word) != 0 ||
        reinterpret_cast<std::uintptr_t>(bytes.begin()) % alignof(capnp::word) != 0) {
      throw Error(ErrorCode::kProtocol, "a part of the server's snapshot is not whole words");
    }
    capnp::ReaderOptions options;
    options.traversalLimitInWords = bytes.size() / sizeof(capnp::word) * 2 + 1024;
    try {
      decoded.push_back(std::make_unique<capnp::FlatArrayMessageReader>(
          kj::arrayPtr(reinterpret_cast<const capnp::word*>(bytes.begin()),
                       bytes.size() / sizeof(capnp::word)),
          options));
      decoded.back()->getRoot<sync::SnapshotPart>();
    } catch (const kj::Exception& e) {
      throw Error(ErrorCode::kProtocol, std::string("a part of the server's snapshot does not "
                                                    "decode: ") +
                                            e.getDescription().cStr());
    }
  }
  // Of a snapshot for added trees (addTrees), the parts of those only.
  auto adding = [&](std::string_view tree) {
    return adding_.empty() || tree.empty() ||
           std::find(adding_.begin(), adding_.end(), tree) != adding_.end();
  };
  // As with the log: a record that cannot be stored here waits in the
  // quarantine, and the parts are stored again without it.
  std::map<std::pair<std::size_t, unsigned>, Error> refused;  // by part and record
  for (std::size_t attempt = 0;; ++attempt) {
    std::optional<std::pair<std::pair<std::size_t, unsigned>, Error>> failed;
    try {
      client_.db.write([&](WriteTxn& txn) {
        // As a batch of the log: a bootstrap cut off by a crash starts again.
        txn.setCommitSync(client_.options.appliedChanges);
        failed.reset();
        for (std::size_t p = 0; p < parts.size(); ++p) {
          auto part = decoded[p]->getRoot<sync::SnapshotPart>();
          std::string tree = part.getTree();
          if (!adding(tree)) continue;  // followed already: the log keeps it
          auto records = part.getRecords();
          std::optional<GenericTree> stored;  // a part holds one tree's records
          for (unsigned i = 0; i < records.size(); ++i) {
            auto record = records[i];
            if (auto it = refused.find({p, i}); it != refused.end()) {
              quarantineRecord(txn, tree, record, sequence, it->second);
              continue;
            }
            try {
              if (!stored) stored.emplace(txn.tree(tree));
              stored->adopt(record.getId(), record.getRevision(), record.getValue(),
                            originOf(record));
            } catch (const Error& e) {
              if (client::quarantinable(e.code()) && attempt < kMaxRefused) {
                failed.emplace(std::pair(p, i), e);
              }
              throw;
            }
          }
          for (auto borrow : part.getBorrows()) {
            if (!adding(borrow.getKey().getTree().cStr())) continue;
            protocol::putBorrow(txn, protocol::borrowOf(borrow));
          }
        }
      });
      return;
    } catch (const Error&) {
      if (!failed) throw;
      refused.emplace(failed->first, failed->second);
    }
  }
}

}  // namespace hills
