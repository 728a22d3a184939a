// Compaction of the server's change log (server/src/compaction.cc): what it
// drops and keeps, and that replicas that stood at any cursor before it
// converge on the compacted log. The "server" database keeps the
// authority's tables (replication.h); replicas follow it with applyChange.
#include <catch2/catch.hpp>
#include <limits>
#include <map>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include "compaction.h"
#include "contents.h"
#include "replication.h"

using hills::EventKind;
using hills::Key;
using namespace hills::test;

namespace {

std::uint64_t lastSequence(hills::Database& db) {
  return db.read([](const hills::ReadTxn& txn) { return txn.lastSequence(); });
}

constexpr std::int64_t kAll = std::numeric_limits<std::int64_t>::max();  // every entry is old

// The log's entries: sequence -> (kind, id).
std::map<std::uint64_t, std::pair<std::uint16_t, std::uint64_t>> logOf(hills::Database& db) {
  return db.read([](const hills::ReadTxn& txn) {
    std::map<std::uint64_t, std::pair<std::uint16_t, std::uint64_t>> out;
    txn.changes(0, [&](hills::wire::Change::Reader c) {
      out[c.getSequence()] = {static_cast<std::uint16_t>(c.getKind()), c.getId()};
      return true;
    });
    return out;
  });
}

// Runs steps of at most `limit` until none leaves work; returns the entries dropped.
std::uint64_t compactAll(hills::Database& db, std::int64_t cutoff, std::size_t limit = 4096) {
  std::uint64_t dropped = 0;
  for (int steps = 0;; ++steps) {
    REQUIRE(steps < 10000);
    auto step = db.write(
        [&](hills::WriteTxn& txn) { return hills::server::compactLog(txn, cutoff, limit); });
    dropped += step.dropped;
    if (!step.more) return dropped;
  }
}

void update(hills::Database& db, Key<plm::Part> key, const std::string& name) {
  db.write([&](hills::WriteTxn& txn) {
    auto parts = txn.tree<plm::Part>();
    auto part = *parts.get(key);
    part.name = name;
    parts.update(key, part);
  });
}

// Borrows and check-ins, several per record, as clients make them.
void editUnderBorrow(hills::Database& server, Key<plm::Part> key, const std::string& holder) {
  auto borrow = checkOut(server, key, holder);
  server.write([&](hills::WriteTxn& txn) {
    hills::server::checkIn(txn, hills::opaque(key),
                           hills::server::CheckIn{holder, borrow.fencing, {}, false, false});
  });
}

struct Workload {
  std::vector<Key<plm::Part>> parts;
  std::uint64_t marks[4] = {};  // log positions part way through
};

// Creates, edits, borrows, releases and removes; marks where replicas stop.
Workload busyLog(hills::Database& server) {
  Workload w;
  for (int i = 0; i < 20; ++i) w.parts.push_back(createPart(server, i));
  w.marks[0] = lastSequence(server);
  for (int round = 0; round < 3; ++round) {
    for (std::size_t i = 0; i < w.parts.size(); ++i) {
      update(server, w.parts[i], "part " + std::to_string(i) + " r" + std::to_string(round));
      if (i % 3 == 0) editUnderBorrow(server, w.parts[i], i % 2 ? "A" : "B");
    }
    w.marks[round + 1] = lastSequence(server);
  }
  server.write([&](hills::WriteTxn& txn) {
    auto parts = txn.tree<plm::Part>();
    parts.remove(w.parts[1]);
    parts.release(w.parts[2]);
    parts.newRevision(w.parts[2]);
  });
  checkOut(server, w.parts[4], "A");  // held at the end
  checkOut(server, w.parts[5], "B");
  server.write([&](hills::WriteTxn& txn) {
    hills::server::breakBorrow(txn, hills::opaque(w.parts[5]), "admin");
  });
  update(server, w.parts[6], "last word");
  return w;
}

// Every record's key, every revision.
std::vector<Key<plm::Part>> keysOf(hills::Database& db) {
  return db.read([](const hills::ReadTxn& txn) {
    std::vector<Key<plm::Part>> out;
    txn.tree("parts").scan(0, UINT64_MAX, [&](const hills::StoredRecord& rec) {
      out.push_back(Key<plm::Part>{rec.id(), rec.revision()});
      return true;
    });
    return out;
  });
}

void requireSameBorrows(hills::Database& server, hills::Database& replica,
                        const std::vector<Key<plm::Part>>& keys) {
  for (auto key : keys) {
    auto held = borrowOf(server, key);
    auto mirrored = borrowOf(replica, key);
    INFO("part " << key.id << "/" << key.revision);
    REQUIRE(held.has_value() == mirrored.has_value());
    if (held) {
      CHECK(held->holder == mirrored->holder);
      CHECK(held->fencing == mirrored->fencing);
    }
  }
}

}  // namespace

TEST_CASE("replicas at any cursor converge on a compacted log, borrows included",
          "[server][compaction]") {
  TempDir dir;
  hills::Database server(dir.path() + "/server", serverOptions());
  Workload w = busyLog(server);
  std::uint64_t end = lastSequence(server);
  auto before = logOf(server);
  REQUIRE(before.size() == end);

  // Replicas that had followed the log to a mark before it was compacted,
  // and one that never did.
  std::vector<std::uint64_t> cursors = {0, w.marks[0], w.marks[1], w.marks[2], w.marks[3], end - 3};
  std::vector<std::unique_ptr<ReplicaDatabase>> replicas;
  for (std::size_t i = 0; i < cursors.size(); ++i) {
    const char* name = i % 2 ? "A" : "B";
    replicas.push_back(std::make_unique<ReplicaDatabase>(
        dir.path() + "/replica" + std::to_string(i), name));
    replicate(server, *replicas.back(), 0, cursors[i]);
  }

  std::uint64_t dropped = compactAll(server, kAll, 7);  // small steps
  auto after = logOf(server);
  CHECK(dropped == before.size() - after.size());
  CHECK(after.size() < before.size() / 2);
  CHECK(after.rbegin()->first == end);  // the newest stays

  // Each record keeps one entry about its data and one about its borrow,
  // besides every broken borrow.
  std::map<std::tuple<char, std::uint64_t, std::uint32_t>, int> perRecord;
  int broken = 0;
  server.read([&](const hills::ReadTxn& txn) {
    txn.changes(0, [&](hills::wire::Change::Reader c) {
      auto kind = static_cast<std::uint16_t>(c.getKind());
      if (kind == hills::sync::BORROW_BROKEN_KIND) {
        ++broken;
      } else {
        char stream = kind >= hills::sync::BORROWED_KIND ? 'b' : 'd';
        ++perRecord[{stream, c.getId(), c.getRevision()}];
      }
      return true;
    });
  });
  CHECK(broken == 1);
  for (auto& [record, count] : perRecord) {
    INFO("stream " << std::get<0>(record) << ", record " << std::get<1>(record) << "/"
                   << std::get<2>(record));
    CHECK(count == 1);
  }

  auto keys = keysOf(server);
  for (std::size_t i = 0; i < replicas.size(); ++i) {
    INFO("replica that stood at " << cursors[i]);
    replicate(server, *replicas[i], cursors[i]);
    CHECK(digest(*replicas[i]) == digest(server));
    requireSameBorrows(server, *replicas[i], keys);
  }
}

TEST_CASE("compaction keeps superseded entries younger than the retention, and drops them later",
          "[server][compaction]") {
  TempDir dir;
  hills::Database server(dir.path(), serverOptions());
  auto key = createPart(server, 1);
  for (int i = 0; i < 5; ++i) update(server, key, "name " + std::to_string(i));
  auto full = logOf(server).size();
  // Every entry is younger than a cutoff in the past: read, none dropped.
  CHECK(compactAll(server, 0) == 0);
  CHECK(logOf(server).size() == full);
  // What was read is not read again; once old enough, the five go.
  CHECK(compactAll(server, kAll) == 5);
  auto log = logOf(server);
  REQUIRE(log.size() == 1);
  CHECK(log.begin()->second.first == static_cast<std::uint16_t>(EventKind::kUpdated));
}

TEST_CASE("compaction goes on where it stopped after the database is opened again",
          "[server][compaction]") {
  TempDir dir;
  Key<plm::Part> key;
  {
    hills::Database server(dir.path(), serverOptions());
    key = createPart(server, 1);
    update(server, key, "one");
    CHECK(compactAll(server, kAll) == 1);
    update(server, key, "two");
    update(server, key, "three");
  }
  hills::Database server(dir.path(), serverOptions());
  CHECK(compactAll(server, kAll) == 2);
  auto log = logOf(server);
  REQUIRE(log.size() == 1);
  CHECK(log.begin()->first == 4);
  CHECK(nameIn(valueOf(server, key)) == "three");
}
