// A replica's mirror of its server's borrows (client/src/replica.cc): who
// may edit, check-ins queued and settled, borrows broken by the server.
// A "server" database with a change log and the authority's hook lends
// records; the replicas "A" and "B" follow its log with applyChange.
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

TEST_CASE_METHOD(LentToA, "a replica mirrors the server's borrows and only the holder may edit",
                 "[client][replica]") {
  ReplicaDatabase b(dir.sub("b"), "B");
  replicate(server, b, 0);

  for (ReplicaDatabase* db : {&a, &b}) {
    auto mirrored = borrowsOf(*db);
    REQUIRE(mirrored.size() == 1);
    CHECK(mirrored[0].key == hills::opaque(p));
    CHECK(mirrored[0].holder == "A");
    CHECK(mirrored[0].fencing == borrow.fencing);
    CHECK_FALSE(mirrored[0].returning);
  }
  rename(a, p, 1, "edited by A");
  CHECK(nameIn(valueOf(a, p)) == "edited by A");
  auto e = renameError(b, p);
  CHECK(e.code() == ErrorCode::kNotBorrowed);
  CHECK_THAT(e.what(), Catch::Contains("'A'"));
  CHECK(nameIn(valueOf(b, p)) == "part 1");
}

TEST_CASE("queueCheckIn marks the borrow returning and settle drops the entry",
          "[client][replica]") {
  TempDir dir;
  hills::Database server(dir.sub("server"), serverOptions());
  ReplicaDatabase a(dir.sub("a"), "A");
  auto p = createPart(server, 1);
  auto q = createPart(server, 2);
  auto r = createPart(server, 3);
  checkOut(server, p, "A");
  checkOut(server, q, "A");
  replicate(server, a, 0);
  rename(a, p, 1, "edited by A");

  // A record it does not hold has nothing to check in.
  auto none = errorOf([&] { queueCheckIn(a, r); });
  CHECK(none.code() == ErrorCode::kNotBorrowed);
  CHECK(outboxOf(a).empty());

  queueCheckIn(a, p);
  auto box = outboxOf(a);
  REQUIRE(box.size() == 1);
  CHECK(box[0].kind == OutboxItem::Kind::kCheckIn);
  CHECK(box[0].key == hills::opaque(p));
  CHECK_FALSE(box[0].sent);
  CHECK_FALSE(box[0].keepBorrow);
  auto mirror = borrowOf(a, p);
  REQUIRE(mirror);
  CHECK(mirror->returning);
  auto e = renameError(a, p);
  CHECK(e.code() == ErrorCode::kNotBorrowed);
  CHECK_THAT(e.what(), Catch::Contains("on its way"));
  // Queued once: a second check-in is refused.
  CHECK(errorOf([&] { queueCheckIn(a, p); }).code() == ErrorCode::kNotBorrowed);

  bool dropped = settle(a, box[0]);
  CHECK(dropped);
  CHECK(outboxOf(a).empty());

  SECTION("an entry queued again since it was read stays") {
    queueCheckIn(a, q, true);
    auto first = outboxOf(a);
    REQUIRE(first.size() == 1);
    queueCheckIn(a, q);
    auto second = outboxOf(a);
    REQUIRE(second.size() == 1);
    REQUIRE(second[0].serial != first[0].serial);
    CHECK_FALSE(second[0].keepBorrow);

    bool stale = settle(a, first[0]);
    CHECK_FALSE(stale);
    auto kept = outboxOf(a);
    REQUIRE(kept.size() == 1);
    CHECK(kept[0].key == hills::opaque(q));
    CHECK(kept[0].serial == second[0].serial);
    bool current = settle(a, second[0]);
    CHECK(current);
    CHECK(outboxOf(a).empty());
    // Settling an entry that is gone drops nothing.
    CHECK_FALSE(settle(a, second[0]));
  }
}

TEST_CASE_METHOD(LentToA, "a borrow change applied again leaves a returning borrow as it is",
                 "[client][replica]") {
  rename(a, p, 1, "edited by A");
  queueCheckIn(a, p);
  // The same batch again, as after a crash before the cursor was saved.
  replicate(server, a, 0);
  auto mirror = borrowOf(a, p);
  REQUIRE(mirror);
  CHECK(mirror->fencing == borrow.fencing);
  CHECK(mirror->returning);
  CHECK(renameError(a, p).code() == ErrorCode::kNotBorrowed);
  CHECK(nameIn(valueOf(a, p)) == "edited by A");
  CHECK(outboxOf(a).size() == 1);
}

TEST_CASE_METHOD(LentToA, "queueCheckIn with keepBorrow leaves the record editable",
                 "[client][replica]") {
  rename(a, p, 1, "first edit");
  queueCheckIn(a, p, true);
  auto box = outboxOf(a);
  REQUIRE(box.size() == 1);
  CHECK(box[0].kind == OutboxItem::Kind::kCheckIn);
  CHECK(box[0].keepBorrow);
  auto mirror = borrowOf(a, p);
  REQUIRE(mirror);
  CHECK_FALSE(mirror->returning);
  rename(a, p, 1, "second edit");
  CHECK(nameIn(valueOf(a, p)) == "second edit");
}

TEST_CASE_METHOD(LentToA, "a queued check-in accepted by the server ends the borrow on the replica",
                 "[client][replica]") {
  rename(a, p, 1, "edited by A");
  queueCheckIn(a, p);
  auto item = outboxOf(a).at(0);
  markSent(a, {item.key});
  auto value = valueOf(a, p);
  server.write([&](hills::WriteTxn& txn) {
    hills::server::checkIn(
        txn, hills::opaque(p),
        hills::server::CheckIn{.holder = "A", .fencing = borrow.fencing, .value = bytesOf(value)});
  });
  replicate(server, a, cursor);
  CHECK(settle(a, item));
  CHECK(outboxOf(a).empty());
  CHECK_FALSE(borrowOf(a, p));
  CHECK(hex(valueOf(a, p)) == hex(valueOf(server, p)));
  CHECK(conflictsOf(a).empty());
  CHECK(renameError(a, p).code() == ErrorCode::kNotBorrowed);
}

TEST_CASE(
    "a broken borrow with local edits keeps a conflict copy and restores the server's "
    "record",
    "[client][replica]") {
  TempDir dir;
  hills::Database server(dir.sub("server"), serverOptions());
  ReplicaDatabase a(dir.sub("a"), "A");
  ReplicaDatabase b(dir.sub("b"), "B");
  auto p = createPart(server, 1);
  auto q = createPart(server, 2);
  auto borrowP = checkOut(server, p, "A");
  checkOut(server, q, "A");
  auto cursorA = replicate(server, a, 0);
  auto cursorB = replicate(server, b, 0);

  // p is edited and its check-in queued; q is only queued, unedited.
  rename(a, p, 1, "edited by A");
  auto edited = valueOf(a, p);
  queueCheckIn(a, p);
  queueCheckIn(a, q);
  REQUIRE(outboxOf(a).size() == 2);
  auto serverP = valueOf(server, p);
  auto serverQ = valueOf(server, q);
  REQUIRE(hex(edited) != hex(serverP));

  breakBorrow(server, p);
  breakBorrow(server, q);
  replicate(server, a, cursorA);
  replicate(server, b, cursorB);

  auto copies = conflictsOf(a);
  REQUIRE(copies.size() == 1);
  CHECK(copies[0].key == hills::opaque(p));
  CHECK(copies[0].brokenBy == "admin");
  CHECK(copies[0].fencing == borrowP.fencing);
  CHECK(hex(copies[0].value) == hex(edited));
  CHECK(copies[0].time.time_since_epoch().count() > 0);
  CHECK(hex(valueOf(a, p)) == hex(serverP));
  CHECK(hex(valueOf(a, q)) == hex(serverQ));
  CHECK(outboxOf(a).empty());
  CHECK_FALSE(borrowOf(a, p));
  CHECK_FALSE(borrowOf(a, q));
  CHECK(renameError(a, p).code() == ErrorCode::kNotBorrowed);
  // Another replica only drops its mirror of the borrow.
  CHECK(conflictsOf(b).empty());
  CHECK_FALSE(borrowOf(b, p));
  CHECK(hex(valueOf(b, p)) == hex(serverP));
}

TEST_CASE_METHOD(
    LentToA,
    "a broken borrow of a record removed locally keeps an empty conflict copy and brings "
    "the record back",
    "[client][replica]") {
  a.write([&](hills::WriteTxn& txn) { txn.tree<plm::Part>().remove(p); });
  REQUIRE(valueOf(a, p).empty());
  breakBorrow(server, p);
  replicate(server, a, cursor);
  auto copies = conflictsOf(a);
  REQUIRE(copies.size() == 1);
  CHECK(copies[0].key == hills::opaque(p));
  CHECK(copies[0].value.empty());
  CHECK(hex(valueOf(a, p)) == hex(valueOf(server, p)));
}

TEST_CASE_METHOD(LentToA,
                 "a queued check-in keeps the fencing number of the borrow it was queued under",
                 "[client][replica]") {
  rename(a, p, 1, "edited by A");
  queueCheckIn(a, p);
  auto box = outboxOf(a);
  REQUIRE(box.size() == 1);
  CHECK(box[0].kind == OutboxItem::Kind::kCheckIn);
  CHECK(box[0].fencing == borrow.fencing);

  // The server took a check-in and lent the record to A again; the replica
  // follows before its own entry is settled.
  server.write([&](hills::WriteTxn& txn) {
    hills::server::checkIn(
        txn, hills::opaque(p),
        hills::server::CheckIn{.holder = "A", .fencing = borrow.fencing, .value = {}});
  });
  auto second = checkOut(server, p, "A");
  REQUIRE(second.fencing > borrow.fencing);
  replicate(server, a, cursor);
  auto mirror = borrowOf(a, p);
  REQUIRE(mirror);
  CHECK(mirror->fencing == second.fencing);
  CHECK_FALSE(mirror->returning);

  auto after = outboxOf(a);
  REQUIRE(after.size() == 1);
  CHECK(after[0].key == hills::opaque(p));
  CHECK(after[0].serial == box[0].serial);
  CHECK(after[0].fencing == borrow.fencing);
}
