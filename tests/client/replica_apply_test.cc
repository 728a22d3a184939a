// A server change that meets a replica's own edit (client/src/replica.cc):
// which one wins, and the conflict copy kept of the edit. A "server"
// database with a change log and the authority's hook lends a part to the
// replica "A", which follows its log with applyChange.
#include <catch2/catch.hpp>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "replica_fixtures.h"
#include "temp_dir.h"

using hills::ErrorCode;
using hills::Key;
using hills::OutboxItem;
using namespace hills::test;

TEST_CASE_METHOD(EditedOnA,
                 "a server change level with a local edit but with other bytes wins and the edit "
                 "is kept as a conflict copy",
                 "[client][replica]") {
  REQUIRE(iterationsOf(edited) == Iterations(2, 1));
  auto theirs = editedByB(edited, "edited by B", iterationsOf(edited));
  REQUIRE(hex(theirs) != hex(edited));
  Recorder rec(a);
  applyChange(a, changeOf(hills::wire::ChangeKind::UPDATED, p, theirs, "B"));

  CHECK(hex(valueOf(a, p)) == hex(theirs));
  auto copies = conflictsOf(a);
  REQUIRE(copies.size() == 1);
  CHECK(copies[0].key == hills::opaque(p));
  CHECK(copies[0].brokenBy == "B");
  CHECK(hex(copies[0].value) == hex(edited));
  REQUIRE(rec.events.size() == 1);
  CHECK(rec.events[0].kind == hills::EventKind::kUpdated);
  CHECK(rec.events[0].origin == "B");
  CHECK(rec.events[0].key == hills::opaque(p));

  // The same change again (a batch applied twice) is identical now: skipped.
  applyChange(a, changeOf(hills::wire::ChangeKind::UPDATED, p, theirs, "B"));
  CHECK(conflictsOf(a).size() == 1);
  CHECK(rec.events.size() == 1);
}

TEST_CASE_METHOD(EditedOnA,
                 "a server change ahead on one counter and behind on the other wins with a "
                 "conflict copy",
                 "[client][replica]") {
  // A lifecycle given on the server to the record before A's edit: its meta
  // iteration is ahead of A's record and its data iteration behind.
  auto mine = iterationsOf(edited);
  auto theirs = editedByB(original, "given a lifecycle", {mine.first - 1, mine.second + 1});
  applyChange(a, changeOf(hills::wire::ChangeKind::LIFECYCLE_CHANGED, p, theirs, "B"));

  CHECK(hex(valueOf(a, p)) == hex(theirs));
  auto copies = conflictsOf(a);
  REQUIRE(copies.size() == 1);
  CHECK(copies[0].key == hills::opaque(p));
  CHECK(copies[0].brokenBy == "B");
  CHECK(hex(copies[0].value) == hex(edited));
}

TEST_CASE("a server change behind the replica's record or with its very bytes is skipped",
          "[client][replica]") {
  TempDir dir;
  hills::Database server(dir.sub("server"), serverOptions());
  ReplicaDatabase a(dir.sub("a"), "A");
  auto p = createPart(server, 1);
  auto first = valueOf(server, p);  // iterations (1, 1)
  server.write([&](hills::WriteTxn& txn) { txn.tree<plm::Part>().setLifecycle(p, 2); });
  auto second = valueOf(server, p);  // (1, 2)
  checkOut(server, p, "A");
  replicate(server, a, 0);
  rename(a, p, 1, "edited by A");
  auto edited = valueOf(a, p);
  REQUIRE(iterationsOf(first) == Iterations(1, 1));
  REQUIRE(iterationsOf(second) == Iterations(1, 2));
  REQUIRE(iterationsOf(edited) == Iterations(2, 2));

  Recorder rec(a);
  SECTION("behind on both counts") {
    applyChange(a, changeOf(hills::wire::ChangeKind::UPDATED, p, first, "B"));
  }
  SECTION("behind on one count and level on the other") {
    applyChange(a, changeOf(hills::wire::ChangeKind::LIFECYCLE_CHANGED, p, second, "B"));
  }
  SECTION("the replica's own bytes") {
    applyChange(a, changeOf(hills::wire::ChangeKind::UPDATED, p, edited, "B"));
  }
  CHECK(hex(valueOf(a, p)) == hex(edited));
  CHECK(conflictsOf(a).empty());
  CHECK(rec.events.empty());
}
