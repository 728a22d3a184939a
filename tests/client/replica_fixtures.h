// What the tests of a replica (client/src/replica.cc) do to one: break a
// borrow on its server, read its outbox and conflict copies, queue, mark
// and settle outbox entries as its sync engine does, and a replica with an
// edit of its own that a server change meets.
#pragma once

#include <algorithm>
#include <catch2/catch.hpp>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "replication.h"

namespace hills::test {

inline void breakBorrow(hills::Database& server, Key<plm::Part> key) {
  server.write(
      [&](hills::WriteTxn& txn) { hills::server::breakBorrow(txn, hills::opaque(key), "admin"); });
}

// The error of renaming `key` on the replica (the write does not commit).
inline hills::Error renameError(hills::Database& replica, Key<plm::Part> key) {
  return errorOf([&] { rename(replica, key, 0, "refused"); });
}

inline std::vector<OutboxItem> outboxOf(ReplicaDatabase& db) {
  return db.read([&](const hills::ReadTxn& txn) { return db.replica().outbox(txn); });
}

inline std::vector<hills::ConflictCopy> conflictsOf(ReplicaDatabase& db) {
  return db.read([&](const hills::ReadTxn& txn) { return db.replica().conflicts(txn); });
}

inline void queueCheckIn(ReplicaDatabase& db, Key<plm::Part> key, bool keepBorrow = false) {
  db.write([&](hills::WriteTxn& txn) {
    db.replica().queueCheckIn(txn, hills::opaque(key), keepBorrow);
  });
}

// Marks the outbox entries of `keys` pushed, as a push does.
inline void markSent(ReplicaDatabase& db, const std::vector<hills::OpaqueKey>& keys) {
  db.write([&](hills::WriteTxn& txn) {
    std::vector<OutboxItem> items;
    for (auto& item : db.replica().outbox(txn)) {
      if (std::find(keys.begin(), keys.end(), item.key) != keys.end()) items.push_back(item);
    }
    REQUIRE(items.size() == keys.size());
    db.replica().markSent(txn, items);
  });
}

// Settles `item` as the server answered it (`refusal` empty: accepted).
inline bool settle(ReplicaDatabase& db, const OutboxItem& item, std::string_view refusal = {}) {
  return db.write([&](hills::WriteTxn& txn) { return db.replica().settle(txn, item, refusal); });
}

inline void dropConflict(ReplicaDatabase& db, Key<plm::Part> key) {
  db.write([&](hills::WriteTxn& txn) { db.replica().dropConflict(txn, hills::opaque(key)); });
}

using Iterations = std::pair<std::uint32_t, std::uint32_t>;
using EnvelopeBuilder = hills::wire::Envelope::Builder;

// Every event a database delivers while it lives.
struct Recorder {
  std::vector<hills::Event> events;
  hills::Subscription sub;
  explicit Recorder(hills::Database& db)
      : sub(db.subscribe({}, [this](const hills::Event& e) { events.push_back(e); })) {}
};

// `value` renamed to `name` and authored by "B", at the given iterations: a
// record as another client's check-in left it on the server.
inline Words editedByB(const Words& value, const std::string& name, Iterations iterations) {
  return altered(value, [&](EnvelopeBuilder env) {
    env.setAuthor("B");
    env.setDataIteration(iterations.first);
    env.setMetaIteration(iterations.second);
    env.getBody().getAs<plm::Part::Capnp>().setName(name);
  });
}

// LentToA, where the replica "A" has edited its part (data iteration 2)
// without checking it in.
struct EditedOnA : LentToA {
  Words original = valueOf(a, p);
  Words edited;
  EditedOnA() {
    rename(a, p, 1, "edited by A");
    edited = valueOf(a, p);
  }
};

}  // namespace hills::test
