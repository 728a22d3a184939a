#include "read_cache.h"

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

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

// A stamp of the order table: 8 bytes, big-endian, so keys sort by it.
std::string stampBytes(std::uint64_t stamp) {
  std::string out(8, '\0');
  for (int i = 7; i >= 0; --i, stamp >>= 8) out[static_cast<std::size_t>(i)] = static_cast<char>(stamp & 0xff);
  return out;
}

std::uint64_t stampOf(std::string_view bytes) {
  std::uint64_t stamp = 0;
  for (char c : bytes.substr(0, 8)) stamp = stamp << 8 | static_cast<unsigned char>(c);
  return stamp;
}

void putStamp(Table& order, std::string_view key, std::uint64_t stamp) {
  capnp::MallocMessageBuilder msg(4);
  auto bytes = stampBytes(stamp);
  msg.initRoot<capnp::AnyPointer>().setAs<capnp::Data>(
      kj::arrayPtr(reinterpret_cast<const kj::byte*>(bytes.data()), bytes.size()));
  order.put(key, msg);
}

std::optional<std::uint64_t> getStamp(const Table& order, std::string_view key) {
  auto message = order.get(key);
  if (!message) return std::nullopt;
  auto data = message->getRoot<capnp::AnyPointer>().getAs<capnp::Data>();
  if (data.size() != 8) {
    throw Error(ErrorCode::kCorrupt,
                std::string("the read cache's order holds a stamp of ") +
                    std::to_string(data.size()) + " bytes under '" + std::string(key) + "'");
  }
  return stampOf(std::string_view(reinterpret_cast<const char*>(data.begin()), 8));
}

// Takes `record` (its key) out of the cache's order; false when it was
// not in it.
bool forget(Table& order, const std::string& record) {
  auto stamp = getStamp(order, "k" + record);
  if (!stamp) return false;
  order.remove("s" + stampBytes(*stamp) + record);
  order.remove("k" + record);
  return true;
}

// Puts `record` last in the cache's order.
void placeNewest(Table& order, const std::string& record) {
  forget(order, record);
  std::uint64_t next = getStamp(order, "n").value_or(0);
  capnp::MallocMessageBuilder empty(4);
  empty.initRoot<capnp::AnyPointer>();
  order.put("s" + stampBytes(next) + record, empty);
  putStamp(order, "k" + record, next);
  putStamp(order, "n", next + 1);
}

// Drops the records stored longest ago while the cache holds more than
// `limit`. Records with no place in the order (cached by a build that
// kept none) go first: they are older than any that has one.
void evict(Table& cache, Table& order, std::size_t limit) {
  if (limit == 0 || cache.size() <= limit) return;
  // The order holds two entries per record and the next stamp.
  std::size_t placed = order.size() / 2;
  if (cache.size() > placed) {
    std::vector<std::string> unplaced;
    std::size_t excess = cache.size() - limit;
    cache.scan("", [&](std::string_view key, capnp::MessageReader&) {
      if (!order.contains("k" + std::string(key))) unplaced.emplace_back(key);
      return unplaced.size() < excess;
    });
    for (const auto& key : unplaced) cache.remove(key);
  }
  while (cache.size() > limit) {
    std::string entry;
    order.scan("s", [&](std::string_view key, capnp::MessageReader&) {
      entry = std::string(key);
      return false;
    });
    if (entry.size() <= 9) return;  // no record in the order is left to go
    std::string oldest = entry.substr(9);
    forget(order, oldest);
    order.remove(entry);  // should its stamp have been lost, the entry goes all the same
    cache.remove(oldest);
  }
}

}  // namespace

void cacheRecord(WriteTxn& txn, const FetchedRecord& record, std::size_t limit) {
  const auto& key = record.key;
  auto bytes = kj::arrayPtr(record.value.data(), record.value.size()).asBytes();
  txn.tree(key.tree).checkValue(key.id, key.revision, bytes);
  detail::ValueReader reader(kj::arrayPtr(record.value.data(), record.value.size()));
  capnp::MallocMessageBuilder msg;
  msg.setRoot(reader.getRoot<wire::Envelope>());
  auto cache = txn.table(kReadCache);
  auto order = txn.table(kReadCacheOrder);
  std::string rk = recordKey(key);
  cache.put(rk, msg);
  placeNewest(order, rk);
  evict(cache, order, limit);
}

bool uncacheRecord(WriteTxn& txn, const OpaqueKey& key) {
  std::string rk = recordKey(key);
  auto order = txn.table(kReadCacheOrder);
  forget(order, rk);
  return txn.table(kReadCache).remove(rk);
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

kj::Promise<std::vector<std::optional<FetchedRecord>>> SyncEngine::fetch(
    std::vector<OpaqueKey> keys, bool newest) {
  auto request = session().fetchRequest();
  auto wanted = request.initWanted(static_cast<unsigned>(keys.size()));
  for (unsigned i = 0; i < keys.size(); ++i) {
    protocol::setKey(wanted[i].initKey(), keys[i]);
    wanted[i].setNewest(newest);
  }
  return timed(request.send().then([keys = kj::mv(keys), newest](auto&& response) {
    auto records = response.getRecords();
    if (records.size() != keys.size()) {
      throw Error(ErrorCode::kProtocol, "the server answered a fetch of " +
                                            std::to_string(keys.size()) + " records with " +
                                            std::to_string(records.size()));
    }
    std::vector<std::optional<FetchedRecord>> out(keys.size());
    for (unsigned i = 0; i < records.size(); ++i) {
      auto record = records[i];
      if (!record.getFound()) continue;
      const OpaqueKey& key = keys[i];
      OpaqueKey found = protocol::keyOf(record.getKey());
      if (found.tree != key.tree || found.id != key.id ||
          (!newest && found.revision != key.revision)) {
        throw Error(ErrorCode::kProtocol, "the server answered a fetch of " + describe(key) +
                                              " with " + describe(found));
      }
      out[i] = FetchedRecord{found, client::wordsOf(record.getValue(), found),
                             record.getOrigin().cStr(), false};
    }
    return out;
  }));
}

std::vector<std::optional<FetchedRecord>> Client::Impl::fetch(const std::vector<OpaqueKey>& keys,
                                                              bool newest) {
  requireOtherThread("fetch");
  std::vector<std::optional<FetchedRecord>> out(keys.size());
  std::vector<std::size_t> ask;  // of keys the server answers for
  db.read([&](const ReadTxn& txn) {
    for (std::size_t i = 0; i < keys.size(); ++i) {
      const auto& key = keys[i];
      if (replica->replicates(key.tree)) {
        out[i] = client::localRecord(txn, key, newest);
        continue;
      }
      out[i] = client::cachedRecord(txn, key, newest);
      // A released record never changes: the cached copy is the server's.
      if (!(out[i] && !newest && client::isReleased(*out[i]))) ask.push_back(i);
    }
  });
  bool online;
  {
    std::lock_guard lock(mutex);
    online = state.connected;
  }
  std::size_t answered = 0;  // of `ask`, in order
  if (online) {
    try {
      // As many as one Session.fetch takes at a time, each batch cached in
      // one commit.
      while (answered < ask.size()) {
        std::size_t count = std::min<std::size_t>(ask.size() - answered, sync::MAX_FETCH);
        std::vector<OpaqueKey> wanted;
        for (std::size_t j = 0; j < count; ++j) wanted.push_back(keys[ask[answered + j]]);
        auto answers = onSyncThread([&] { return engine->fetch(wanted, newest); });
        db.write([&](WriteTxn& txn) {
          // As a batch of the log: what the server holds is fetched again
          // should a crash lose it.
          txn.setCommitSync(options.appliedChanges);
          for (std::size_t j = 0; j < count; ++j) {
            if (answers[j]) {
              client::cacheRecord(txn, *answers[j], options.readCacheRecords);
            } else if (!newest) {
              client::uncacheRecord(txn, wanted[j]);
            }
          }
        });
        for (std::size_t j = 0; j < count; ++j) out[ask[answered + j]] = std::move(answers[j]);
        answered += count;
      }
      return out;
    } catch (const Error& e) {
      // Lost on the way, or no answer in time: the cache answers for the
      // rest, if it holds every one of them.
      if (e.code() != ErrorCode::kOffline && e.code() != ErrorCode::kProtocol) throw;
      bool allCached = std::all_of(ask.begin() + static_cast<std::ptrdiff_t>(answered), ask.end(),
                                   [&](std::size_t i) { return out[i].has_value(); });
      if (e.code() == ErrorCode::kProtocol && !allCached) throw;
    }
  }
  for (std::size_t j = answered; j < ask.size(); ++j) {
    if (out[ask[j]]) continue;
    throw Error(ErrorCode::kOffline,
                describe(keys[ask[j]]) + " is not in the read cache of client '" + options.name +
                    "', and the client is not connected to its server");
  }
  return out;
}

std::optional<FetchedRecord> Client::fetch(const OpaqueKey& key) {
  return std::move(impl_->fetch({key}, false).front());
}

std::vector<std::optional<FetchedRecord>> Client::fetch(const std::vector<OpaqueKey>& keys) {
  return impl_->fetch(keys, false);
}

std::optional<FetchedRecord> Client::fetchNewest(std::string_view tree, std::uint64_t id) {
  return std::move(impl_->fetch({OpaqueKey{std::string(tree), id, 0}}, true).front());
}

}  // namespace hills
