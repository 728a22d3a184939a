#include "read_cache.h"

#include <cstring>

#include "client_impl.h"

namespace hills {

namespace client {

namespace {

// The words of a stored value's message (a copy).
std::vector<capnp::word> wordsOf(capnp::MessageReader& message) {
  capnp::MallocMessageBuilder copy;
  copy.setRoot(message.getRoot<wire::Envelope>());
  auto flat = copy.getSegmentsForOutput();
  KJ_ASSERT(flat.size() == 1);
  return std::vector<capnp::word>(flat[0].begin(), flat[0].end());
}

FetchedRecord fromCache(const OpaqueKey& key, capnp::MessageReader& message) {
  FetchedRecord out{key, wordsOf(message), {}, true};
  out.origin = message.getRoot<wire::Envelope>().getAuthor().cStr();
  return out;
}

// What the server sent: whole words, copied so they are aligned.
std::vector<capnp::word> wordsOf(capnp::Data::Reader bytes, const OpaqueKey& key) {
  if (bytes.size() % sizeof(capnp::word) != 0) {
    throw Error(ErrorCode::kCorrupt,
                "the server sent a value of " + describe(key) + " that is not whole words");
  }
  std::vector<capnp::word> words(bytes.size() / sizeof(capnp::word));
  if (!words.empty()) std::memcpy(words.data(), bytes.begin(), bytes.size());
  return words;
}

}  // namespace

void cacheRecord(WriteTxn& txn, const FetchedRecord& record) {
  const auto& key = record.key;
  auto bytes = kj::arrayPtr(record.value.data(), record.value.size()).asBytes();
  txn.tree(key.tree).checkValue(key.id, key.revision, bytes);
  detail::ValueReader reader(kj::arrayPtr(record.value.data(), record.value.size()));
  capnp::MallocMessageBuilder msg;
  msg.setRoot(reader.getRoot<wire::Envelope>());
  txn.table(kReadCache).put(recordKey(key), msg);
}

bool uncacheRecord(WriteTxn& txn, const OpaqueKey& key) {
  return txn.table(kReadCache).remove(recordKey(key));
}

std::optional<FetchedRecord> cachedRecord(const ReadTxn& txn, const OpaqueKey& key, bool newest) {
  auto cache = txn.table(kReadCache);
  if (!newest) {
    auto message = cache.get(recordKey(key));
    if (!message) return std::nullopt;
    return fromCache(key, *message);
  }
  // The keys of one id share all but their last 8 bytes (revision, padding).
  std::string last = recordKey(key.tree, key.id, UINT32_MAX);
  std::string prefix = last.substr(0, last.size() - 8);
  std::optional<FetchedRecord> out;
  cache.scan(prefix, [&](std::string_view k, capnp::MessageReader& m) {
    out = fromCache(parseRecordKey(k, kReadCache), m);
    return true;  // the last one is the newest
  });
  return out;
}

std::optional<FetchedRecord> localRecord(const ReadTxn& txn, const OpaqueKey& key, bool newest) {
  auto tree = txn.tree(key.tree);
  std::optional<std::uint32_t> revision = key.revision;
  if (newest) revision = tree.latestRevision(key.id);
  if (!revision) return std::nullopt;
  auto rec = tree.find(key.id, *revision);
  if (!rec) return std::nullopt;
  return FetchedRecord{OpaqueKey{key.tree, key.id, *revision},
                       std::vector<capnp::word>(rec.value().begin(), rec.value().end()),
                       rec.envelope().getAuthor().cStr(), false};
}

bool isReleased(const FetchedRecord& record) {
  detail::ValueReader reader(kj::arrayPtr(record.value.data(), record.value.size()));
  return reader.getRoot<wire::Envelope>().getState() == wire::State::RELEASED;
}

}  // namespace client

kj::Promise<std::optional<FetchedRecord>> SyncEngine::fetch(OpaqueKey key, bool newest) {
  auto request = session().fetchRequest();
  auto wanted = request.initWanted(1);
  protocol::setKey(wanted[0].initKey(), key);
  wanted[0].setNewest(newest);
  return timed(request.send().then([key, newest](auto&& response) -> std::optional<FetchedRecord> {
    auto records = response.getRecords();
    if (records.size() != 1) {
      throw Error(ErrorCode::kProtocol, "the server answered a fetch of one record with " +
                                            std::to_string(records.size()));
    }
    auto record = records[0];
    if (!record.getFound()) return std::nullopt;
    OpaqueKey found = protocol::keyOf(record.getKey());
    if (found.tree != key.tree || found.id != key.id || (!newest && found.revision != key.revision)) {
      throw Error(ErrorCode::kProtocol, "the server answered a fetch of " + describe(key) +
                                            " with " + describe(found));
    }
    return FetchedRecord{found, client::wordsOf(record.getValue(), found),
                         record.getOrigin().cStr(), false};
  }));
}

std::optional<FetchedRecord> Client::Impl::fetch(const OpaqueKey& key, bool newest) {
  requireOtherThread("fetch");
  if (replica->replicates(key.tree)) {
    return db.read([&](const ReadTxn& txn) { return client::localRecord(txn, key, newest); });
  }
  auto cached =
      db.read([&](const ReadTxn& txn) { return client::cachedRecord(txn, key, newest); });
  // A released record never changes: the cached copy is the server's.
  if (cached && !newest && client::isReleased(*cached)) return cached;
  bool online;
  {
    std::lock_guard lock(mutex);
    online = state.connected;
  }
  if (online) {
    try {
      auto answer = onSyncThread([&] { return engine->fetch(key, newest); });
      db.write([&](WriteTxn& txn) {
        if (answer) {
          client::cacheRecord(txn, *answer);
        } else if (!newest) {
          client::uncacheRecord(txn, key);
        }
      });
      return answer;
    } catch (const Error& e) {
      // Lost on the way, or no answer in time: the cache answers.
      if (e.code() != ErrorCode::kOffline && e.code() != ErrorCode::kProtocol) throw;
      if (e.code() == ErrorCode::kProtocol && !cached) throw;
    }
  }
  if (cached) return cached;
  throw Error(ErrorCode::kOffline, describe(key) + " is not in the read cache of client '" +
                                       options.name + "', and the client is not connected to " +
                                       "its server");
}

std::optional<FetchedRecord> Client::fetch(const OpaqueKey& key) { return impl_->fetch(key, false); }

std::optional<FetchedRecord> Client::fetchNewest(std::string_view tree, std::uint64_t id) {
  return impl_->fetch(OpaqueKey{std::string(tree), id, 0}, true);
}

}  // namespace hills
