// A sync server and its replicas as plain databases, for the tests of the
// authority (server/src/authority.cc) and of the replica's rules
// (client/src/replica.cc): a "server" database with a change log and the
// authority's hook lends records of the parts tree; replicas, each with its
// client::Replica hook, follow its log with applyChange.
#pragma once

#include <capnp/message.h>
#include <capnp/serialize.h>

#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "authority.h"
#include "error_of.h"
#include "hills/protocol.h"
#include "plm_fixtures.h"
#include "replica.h"
#include "temp_dir.h"

namespace hills::test {

// A stored value or a change message, as the words it is made of.
using Words = std::vector<capnp::word>;

// The server's database: it keeps a change log, hands out ids, and keeps
// borrows and grants through the authority's hook.
inline hills::Options serverOptions() {
  auto o = plmOptions();
  o.changeLog = true;
  o.author = "server";
  o.hooks.push_back(hills::server::authorityHook());
  return o;
}

// A replica's database, writing as the client `replica` names: it creates
// records only with ids the server granted, and `replica` keeps its rules.
inline hills::Options replicaOptions(const std::shared_ptr<hills::client::Replica>& replica) {
  auto o = plmOptions();
  o.ids = hills::Options::IdSource::kRanges;
  o.author = replica->name();
  o.hooks.push_back(replica);
  return o;
}

// A replica's database with its write hook at hand, whose members read and
// write what the replica keeps beside its trees (outbox, conflict copies,
// its mirror of the server's borrows).
class ReplicaDatabase : public hills::Database {
 public:
  // Opens the replica of the client `name` in `path`.
  ReplicaDatabase(const std::string& path, const std::string& name)
      : ReplicaDatabase(path, std::make_shared<hills::client::Replica>(name)) {}
  // Opens a replica with a hook made (and set up) by the caller.
  ReplicaDatabase(const std::string& path, std::shared_ptr<hills::client::Replica> replica)
      : hills::Database(path, replicaOptions(replica)), replica_(std::move(replica)) {}

  hills::client::Replica& replica() { return *replica_; }

 private:
  std::shared_ptr<hills::client::Replica> replica_;
};

// Applies one change message (a flat array of words) with its own origin, as
// a replica applies what its server sends.
inline void applyMessage(hills::WriteTxn& txn, const Words& change) {
  capnp::FlatArrayMessageReader msg(kj::ArrayPtr<const capnp::word>(change.data(), change.size()));
  auto c = msg.getRoot<hills::wire::Change>();
  txn.tree(c.getTree().cStr()).applyChange(c, c.getOrigin().cStr());
}

// The server's change-log entries in (after, upto], each a message
// (applyMessage), and the sequence number of the last (`after` if none).
inline std::pair<std::vector<Words>, std::uint64_t> logMessages(
    hills::Database& server, std::uint64_t after,
    std::uint64_t upto = std::numeric_limits<std::uint64_t>::max()) {
  std::pair<std::vector<Words>, std::uint64_t> out{{}, after};
  server.read([&](const hills::ReadTxn& txn) {
    txn.changes(after, [&](hills::wire::Change::Reader c) {
      if (c.getSequence() > upto) return false;
      capnp::MallocMessageBuilder copy;
      copy.setRoot(c);
      auto words = capnp::messageToFlatArray(copy);
      out.first.emplace_back(words.begin(), words.end());
      out.second = c.getSequence();
      return true;
    });
  });
  return out;
}

// Applies the server's change-log entries in (after, upto] to the replica,
// in order, and returns the sequence number of the last one applied.
inline std::uint64_t replicate(hills::Database& server, hills::Database& replica,
                               std::uint64_t after,
                               std::uint64_t upto = std::numeric_limits<std::uint64_t>::max()) {
  auto messages = logMessages(server, after, upto);
  replica.write([&](hills::WriteTxn& txn) {
    for (auto& w : messages.first) applyMessage(txn, w);
  });
  return messages.second;
}

// The stored value of a record; empty when there is no record.
inline Words valueOf(hills::Database& db, const hills::OpaqueKey& key) {
  return db.read([&](const hills::ReadTxn& txn) {
    auto rec = txn.tree(key.tree).find(key.id, key.revision);
    if (!rec) return Words();
    auto v = rec.value();
    return Words(v.begin(), v.end());
  });
}

// The stored value of a typed record; empty when there is no record.
template <hills::TreeRecord T>
Words valueOf(hills::Database& db, Key<T> key) {
  return valueOf(db, hills::opaque(key));
}

// The bytes of a stored value, as a check-in or acceptCreate takes them.
inline kj::ArrayPtr<const kj::byte> bytesOf(const Words& w) {
  return kj::arrayPtr(reinterpret_cast<const kj::byte*>(w.data()), w.size() * sizeof(capnp::word));
}

// A stored value rebuilt with `change` applied to its envelope: a single
// segment without the segment table, as values are stored.
template <class F>
Words altered(const Words& value, F&& change) {
  hills::detail::ValueReader reader({value.data(), value.size()});
  capnp::MallocMessageBuilder msg(static_cast<unsigned>(value.size() * 2 + 64));
  msg.setRoot(reader.getRoot<hills::wire::Envelope>());
  change(msg.getRoot<hills::wire::Envelope>());
  auto segments = msg.getSegmentsForOutput();
  REQUIRE(segments.size() == 1);
  return Words(segments[0].begin(), segments[0].end());
}

// A change-log entry made by hand, as a server sends it: `kind` of the part
// `key` with `value` (the stored value after the change), made for `origin`.
inline Words changeOf(hills::wire::ChangeKind kind, Key<plm::Part> key, const Words& value,
                      const std::string& origin) {
  capnp::MallocMessageBuilder msg;
  auto c = msg.initRoot<hills::wire::Change>();
  c.setKind(kind);
  c.setTree("parts");
  c.setId(key.id);
  c.setRevision(key.revision);
  c.setOrigin(origin);
  c.setValue(bytesOf(value));
  auto words = capnp::messageToFlatArray(msg);
  return Words(words.begin(), words.end());
}

// Applies one change message (changeOf) to `db` in a transaction of its own.
inline void applyChange(hills::Database& db, const Words& change) {
  db.write([&](hills::WriteTxn& txn) { applyMessage(txn, change); });
}

// The bytes of a stored value as hex, to compare values (capnp::word has
// no ==) and show them when a check fails.
inline std::string hex(const Words& value) {
  static const char digits[] = "0123456789abcdef";
  std::string out;
  auto bytes = reinterpret_cast<const unsigned char*>(value.data());
  for (std::size_t i = 0; i < value.size() * sizeof(capnp::word); ++i) {
    out.push_back(digits[bytes[i] >> 4]);
    out.push_back(digits[bytes[i] & 15]);
  }
  return out;
}

// The name of the part a stored value holds.
inline std::string nameIn(const Words& value) {
  hills::detail::ValueReader reader({value.data(), value.size()});
  return reader.getRoot<hills::wire::Envelope>().getBody().getAs<plm::Part::Capnp>().getName();
}

// The data and meta iterations a stored value carries.
inline std::pair<std::uint32_t, std::uint32_t> iterationsOf(const Words& value) {
  hills::detail::ValueReader reader({value.data(), value.size()});
  auto env = reader.getRoot<hills::wire::Envelope>();
  return {env.getDataIteration(), env.getMetaIteration()};
}

// Creates makePart(n) in `db` and returns its key.
inline Key<plm::Part> createPart(hills::Database& db, int n) {
  return db.write([&](hills::WriteTxn& txn) { return txn.tree<plm::Part>().create(makePart(n)); });
}

// Checks `key` out to `holder` on the server.
template <hills::TreeRecord T>
hills::BorrowInfo checkOut(hills::Database& server, Key<T> key, std::string_view holder) {
  return server.write([&](hills::WriteTxn& txn) {
    return hills::server::checkOut(txn, hills::opaque(key), holder);
  });
}

// The borrow of `key` (on a replica: its mirror of the server's); none when
// nobody holds it.
template <hills::TreeRecord T>
std::optional<hills::BorrowInfo> borrowOf(hills::Database& db, Key<T> key) {
  return db.read([&](const hills::ReadTxn& txn) {
    return hills::protocol::findBorrow(txn, hills::opaque(key));
  });
}

// Every borrow of `db` (on a replica: its mirror of the server's), by tree
// and key.
inline std::vector<hills::BorrowInfo> borrowsOf(hills::Database& db) {
  return db.read([](const hills::ReadTxn& txn) { return hills::protocol::listBorrows(txn); });
}

// Grants `count` ids of `tree` to `replica` (to its client, on the
// server) and adds them to its ranges; returns them as [first, end).
inline std::pair<std::uint64_t, std::uint64_t> grant(hills::Database& server,
                                                     ReplicaDatabase& replica,
                                                     const std::string& tree = "parts",
                                                     std::uint64_t count = 100) {
  auto range = server.write([&](hills::WriteTxn& txn) {
    return hills::server::grantIds(txn, tree, count, replica.replica().name());
  });
  replica.write(
      [&](hills::WriteTxn& txn) { txn.tree(tree).addIdRange(range.first, range.second); });
  return range;
}

// Replaces the part `key` with makePart(n) named `name`.
inline void rename(hills::Database& replica, Key<plm::Part> key, int n, const std::string& name) {
  replica.write([&](hills::WriteTxn& txn) {
    auto p = makePart(n);
    p.name = name;
    txn.tree<plm::Part>().update(key, p);
  });
}

// A server and the replica of client A, which holds ids of parts.
struct GrantedToA {
  TempDir dir;
  hills::Database server{dir.sub("server"), serverOptions()};
  ReplicaDatabase a{dir.sub("a"), "A"};
  std::pair<std::uint64_t, std::uint64_t> ids = grant(server, a);
};

// The server's part 1 checked out to the replica "A", replicated up to `cursor`.
struct LentToA {
  TempDir dir;
  hills::Database server{dir.sub("server"), serverOptions()};
  ReplicaDatabase a{dir.sub("a"), "A"};
  Key<plm::Part> p = createPart(server, 1);
  hills::BorrowInfo borrow = checkOut(server, p, "A");
  std::uint64_t cursor = replicate(server, a, 0);
};

}  // namespace hills::test
