// What the tests of the authority (server/src/authority.cc) read back from
// a server database: its change log, and check-ins made on it.
#pragma once

#include <capnp/message.h>

#include <cstring>
#include <string>
#include <vector>

#include "replication.h"

namespace hills::test {

// A change-log entry; for the borrow kinds, `holder` and `fencing` are what
// its note and number carry.
struct LogEntry {
  EventKind kind;
  std::string tree;
  std::uint64_t id;
  std::uint32_t revision;
  std::string origin;
  std::string holder;
  std::uint64_t fencing;
  Words value;
};

inline std::vector<LogEntry> changesAfter(hills::Database& db, std::uint64_t after) {
  return db.read([&](const hills::ReadTxn& txn) {
    std::vector<LogEntry> out;
    txn.changes(after, [&](hills::wire::Change::Reader c) {
      auto bytes = c.getValue();
      Words value(bytes.size() / sizeof(capnp::word));
      if (!value.empty()) std::memcpy(value.data(), bytes.begin(), value.size() * sizeof(capnp::word));
      auto kind = static_cast<EventKind>(static_cast<std::uint16_t>(c.getKind()));
      out.push_back(LogEntry{kind, c.getTree(), c.getId(), c.getRevision(), c.getOrigin(),
                             c.getNote(), c.getNumber(), std::move(value)});
      return true;
    });
    return out;
  });
}

inline std::uint64_t lastSequence(hills::Database& db) {
  return db.read([](const hills::ReadTxn& txn) { return txn.lastSequence(); });
}

inline void checkIn(hills::Database& db, Key<plm::Part> key, const hills::server::CheckIn& in) {
  db.write([&](hills::WriteTxn& txn) { hills::server::checkIn(txn, hills::opaque(key), in); });
}

// The error of a check-in the server refuses. It is caught inside the write,
// which then commits: what the refused call left behind would be kept.
inline hills::Error checkInError(hills::Database& db, Key<plm::Part> key,
                          const hills::server::CheckIn& in) {
  return db.write([&](hills::WriteTxn& txn) {
    return errorOf([&] { hills::server::checkIn(txn, hills::opaque(key), in); });
  });
}

using EnvelopeBuilder = hills::wire::Envelope::Builder;

// `value` as the client `author` would edit it: renamed to `name`, one data
// iteration on.
inline Words editedBy(const Words& value, const std::string& author, const std::string& name) {
  return altered(value, [&](EnvelopeBuilder env) {
    env.setDataIteration(env.getDataIteration() + 1);
    env.setAuthor(author);
    env.getBody().getAs<plm::Part::Capnp>().setName(name);
  });
}

}  // namespace hills::test
