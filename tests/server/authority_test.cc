// The authority's borrows on a sync server (server/src/authority.cc):
// check-outs, check-ins and their fencing. A "server" database with a
// change log and the authority's hook lends records to the replicas "A"
// and "B", which follow its log with applyChange.
#include <catch2/catch.hpp>
#include <cstring>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "authority_fixtures.h"
#include "temp_dir.h"

using hills::ErrorCode;
using hills::EventKind;
using hills::Key;
using namespace hills::test;


TEST_CASE("a check-out is granted with a fencing number that grows with every grant",
          "[server][authority]") {
  TempDir dir;
  hills::Database server(dir.path(), serverOptions());
  auto p1 = createPart(server, 1);
  auto p2 = createPart(server, 2);

  auto first = checkOut(server, p1, "A");
  CHECK(first.key == hills::opaque(p1));
  CHECK(first.holder == "A");
  CHECK(first.fencing > 0);
  CHECK_FALSE(first.returning);
  auto second = checkOut(server, p2, "B");
  CHECK(second.key == hills::opaque(p2));
  CHECK(second.holder == "B");
  CHECK(second.fencing > first.fencing);

  // The same holder asking again gets its borrow back unchanged; nothing is logged.
  auto seq = lastSequence(server);
  auto again = checkOut(server, p2, "B");
  CHECK(again.key == second.key);
  CHECK(again.holder == "B");
  CHECK(again.fencing == second.fencing);
  CHECK(again.since == second.since);
  CHECK(lastSequence(server) == seq);

  checkIn(server, p1, hills::server::CheckIn{.holder = "A", .fencing = first.fencing, .value = {}});
  CHECK_FALSE(borrowOf(server, p1));
  auto third = checkOut(server, p1, "A");
  CHECK(third.holder == "A");
  CHECK(third.fencing > second.fencing);
  auto stored = borrowOf(server, p1);
  REQUIRE(stored);
  CHECK(stored->fencing == third.fencing);
  CHECK(stored->holder == "A");
}

TEST_CASE("a second client's check-out is refused naming the holder", "[server][authority]") {
  TempDir dir;
  hills::Database server(dir.path(), serverOptions());
  auto p = createPart(server, 1);
  auto held = checkOut(server, p, "A");
  auto seq = lastSequence(server);
  server.write([&](hills::WriteTxn& txn) {
    auto e = errorOf([&] {
      hills::server::checkOut(txn, hills::OpaqueKey{"parts", p.id, p.revision}, "B");
    });
    CHECK(e.code() == ErrorCode::kBorrowed);
    CHECK_THAT(e.what(), Catch::Contains("'A'"));
  });
  auto now = borrowOf(server, p);
  REQUIRE(now);
  CHECK(now->holder == "A");
  CHECK(now->fencing == held.fencing);
  CHECK(lastSequence(server) == seq);
}

TEST_CASE_METHOD(LentToA,
                 "a check-in stores the edited value and ends the borrow and the log has updated "
                 "then checkedIn entries with holder and fencing",
                 "[server][authority]") {
  rename(a, p, 1, "edited by A");
  auto edited = valueOf(a, p);
  REQUIRE(nameIn(edited) == "edited by A");

  auto seq = lastSequence(server);
  checkIn(
      server, p,
      hills::server::CheckIn{.holder = "A", .fencing = borrow.fencing, .value = bytesOf(edited)});
  CHECK(hex(valueOf(server, p)) == hex(edited));  // stored as it came
  CHECK_FALSE(borrowOf(server, p));
  auto log = changesAfter(server, seq);
  REQUIRE(log.size() == 2);
  CHECK(log[0].kind == EventKind::kUpdated);
  CHECK(log[0].id == p.id);
  CHECK(log[0].origin == "A");
  CHECK(hex(log[0].value) == hex(edited));
  CHECK(log[1].kind == hills::sync::kCheckedIn);
  CHECK(log[1].tree == "parts");
  CHECK(log[1].id == p.id);
  CHECK(log[1].revision == p.revision);
  CHECK(log[1].holder == "A");
  CHECK(log[1].fencing == borrow.fencing);
  CHECK(log[1].origin == "A");

  // The replica's mirror follows: the borrow is gone there too.
  replicate(server, a, cursor);
  CHECK_FALSE(borrowOf(a, p));
  CHECK(hex(valueOf(a, p)) == hex(edited));
}

TEST_CASE_METHOD(LentToA, "a check-in with keepBorrow keeps the borrow and logs no checkedIn entry",
                 "[server][authority]") {
  rename(a, p, 1, "first edit");
  auto edited = valueOf(a, p);

  auto seq = lastSequence(server);
  hills::server::CheckIn in{.holder = "A", .fencing = borrow.fencing, .value = bytesOf(edited)};
  in.keepBorrow = true;
  checkIn(server, p, in);
  CHECK(hex(valueOf(server, p)) == hex(edited));
  auto still = borrowOf(server, p);
  REQUIRE(still);
  CHECK(still->holder == "A");
  CHECK(still->fencing == borrow.fencing);
  auto log = changesAfter(server, seq);
  REQUIRE(log.size() == 1);
  CHECK(log[0].kind == EventKind::kUpdated);

  // The replica keeps editing under the same borrow and checks in for good.
  replicate(server, a, cursor);
  rename(a, p, 1, "second edit");
  auto again = valueOf(a, p);
  checkIn(
      server, p,
      hills::server::CheckIn{.holder = "A", .fencing = borrow.fencing, .value = bytesOf(again)});
  CHECK(nameIn(valueOf(server, p)) == "second edit");
  CHECK_FALSE(borrowOf(server, p));
}

TEST_CASE_METHOD(
    LentToA,
    "a check-in with a stale fencing number after a break is refused and the value stays "
    "the server's",
    "[server][authority]") {
  rename(a, p, 1, "edited by A");
  auto edited = valueOf(a, p);
  auto serverValue = valueOf(server, p);
  REQUIRE(hex(edited) != hex(serverValue));

  auto seq = lastSequence(server);
  auto broken = server.write([&](hills::WriteTxn& txn) {
    return hills::server::breakBorrow(txn, hills::opaque(p), "admin");
  });
  CHECK(broken.holder == "A");
  CHECK(broken.fencing == borrow.fencing);
  CHECK_FALSE(borrowOf(server, p));
  auto log = changesAfter(server, seq);
  REQUIRE(log.size() == 1);
  CHECK(log[0].kind == hills::sync::kBorrowBroken);
  CHECK(log[0].id == p.id);
  CHECK(log[0].holder == "A");
  CHECK(log[0].origin == "admin");
  CHECK(log[0].fencing == borrow.fencing);
  CHECK(hex(log[0].value) == hex(serverValue));

  // Nobody holds it now.
  auto unheld = checkInError(
      server, p,
      hills::server::CheckIn{.holder = "A", .fencing = borrow.fencing, .value = bytesOf(edited)});
  CHECK(unheld.code() == ErrorCode::kNotBorrowed);

  // Granted again (to the same client): the old fencing number is stale.
  auto second = checkOut(server, p, "A");
  CHECK(second.fencing > borrow.fencing);
  seq = lastSequence(server);
  auto stale = checkInError(
      server, p,
      hills::server::CheckIn{.holder = "A", .fencing = borrow.fencing, .value = bytesOf(edited)});
  CHECK(stale.code() == ErrorCode::kStaleBorrow);
  CHECK_THAT(stale.what(), Catch::Contains(std::to_string(borrow.fencing)));
  CHECK(hex(valueOf(server, p)) == hex(serverValue));
  CHECK(lastSequence(server) == seq);
  auto held = borrowOf(server, p);
  REQUIRE(held);
  CHECK(held->fencing == second.fencing);

  // Breaking a borrow nobody holds is refused.
  server.write(
      [&](hills::WriteTxn& txn) { hills::server::breakBorrow(txn, hills::opaque(p), "admin"); });
  server.write([&](hills::WriteTxn& txn) {
    auto e = errorOf([&] { hills::server::breakBorrow(txn, hills::opaque(p), "admin"); });
    CHECK(e.code() == ErrorCode::kNotBorrowed);
  });
}

TEST_CASE("a check-in by a client that holds no borrow or by another holder is refused",
          "[server][authority]") {
  TempDir dir;
  hills::Database server(dir.path(), serverOptions());
  auto p = createPart(server, 1);
  auto serverValue = valueOf(server, p);
  // A valid edit of the record by B (the check-in at the end takes it).
  auto edit = editedBy(serverValue, "B", "sneaked in");

  auto seq = lastSequence(server);
  auto e = checkInError(
      server, p, hills::server::CheckIn{.holder = "A", .fencing = 1, .value = bytesOf(edit)});
  CHECK(e.code() == ErrorCode::kNotBorrowed);
  CHECK(hex(valueOf(server, p)) == hex(serverValue));
  CHECK(lastSequence(server) == seq);

  auto b = checkOut(server, p, "B");
  seq = lastSequence(server);
  auto refused = checkInError(
      server, p,
      hills::server::CheckIn{.holder = "A", .fencing = b.fencing, .value = bytesOf(edit)});
  CHECK(refused.code() == ErrorCode::kBorrowed);
  CHECK_THAT(refused.what(), Catch::Contains("'B'"));
  CHECK(hex(valueOf(server, p)) == hex(serverValue));
  CHECK(lastSequence(server) == seq);
  auto held = borrowOf(server, p);
  REQUIRE(held);
  CHECK(held->holder == "B");

  // The holder itself may check the same value in.
  checkIn(server, p,
          hills::server::CheckIn{.holder = "B", .fencing = b.fencing, .value = bytesOf(edit)});
  CHECK(nameIn(valueOf(server, p)) == "sneaked in");
}

TEST_CASE("released records cannot be checked out", "[server][authority]") {
  TempDir dir;
  hills::Database server(dir.path(), serverOptions());
  auto p = createPart(server, 1);
  server.write([&](hills::WriteTxn& txn) { txn.tree<plm::Part>().release(p); });
  auto seq = lastSequence(server);
  server.write([&](hills::WriteTxn& txn) {
    auto e = errorOf([&] {
      hills::server::checkOut(txn, hills::OpaqueKey{"parts", p.id, p.revision}, "A");
    });
    CHECK(e.code() == ErrorCode::kReleased);
    auto missing = errorOf([&] {
      hills::server::checkOut(txn, hills::OpaqueKey{"parts", p.id + 1000, 0}, "A");
    });
    CHECK(missing.code() == ErrorCode::kNotFound);
  });
  CHECK_FALSE(borrowOf(server, p));
  CHECK(lastSequence(server) == seq);
  CHECK(borrowsOf(server).empty());

  // Its new revision is a draft, and can be.
  auto next =
      server.write([&](hills::WriteTxn& txn) { return txn.tree<plm::Part>().newRevision(p); });
  auto borrow = checkOut(server, next, "A");
  CHECK(borrow.key == hills::opaque(next));
  CHECK(borrow.key.revision == 1);
}

TEST_CASE_METHOD(LentToA, "a check-in that changes the state or lifecycle is refused",
                 "[server][authority]") {
  rename(a, p, 1, "edited by A");
  auto edited = valueOf(a, p);
  auto serverValue = valueOf(server, p);

  auto released = altered(edited, [](hills::wire::Envelope::Builder env) {
    env.setState(hills::wire::State::RELEASED);
  });
  auto lifecycle = altered(edited, [](hills::wire::Envelope::Builder env) { env.setLifecycle(7); });
  auto seq = lastSequence(server);
  server.write([&](hills::WriteTxn& txn) {
    for (const Words* value : {&released, &lifecycle}) {
      auto e = errorOf([&] {
        hills::server::checkIn(
            txn, hills::opaque(p),
            hills::server::CheckIn{
                .holder = "A", .fencing = borrow.fencing, .value = bytesOf(*value)});
      });
      CHECK(e.code() == ErrorCode::kInvalidArgument);
      CHECK_THAT(e.what(), Catch::Contains("state, lifecycle"));
    }
  });
  CHECK(hex(valueOf(server, p)) == hex(serverValue));
  CHECK(lastSequence(server) == seq);
  server.read([&](const hills::ReadTxn& txn) {
    auto rec = txn.tree("parts").require(p.id, p.revision);
    CHECK(rec.state() == hills::State::kDraft);
    CHECK(rec.meta().lifecycle == 0);
  });
  auto held = borrowOf(server, p);
  REQUIRE(held);
  CHECK(held->holder == "A");

  // The same value rebuilt without a change is taken: the refusals were
  // about state and lifecycle, not about how the values were built.
  auto same = altered(edited, [](hills::wire::Envelope::Builder) {});
  checkIn(server, p,
          hills::server::CheckIn{.holder = "A", .fencing = borrow.fencing, .value = bytesOf(same)});
  CHECK(nameIn(valueOf(server, p)) == "edited by A");
  CHECK_FALSE(borrowOf(server, p));
}

TEST_CASE("borrows survive reopening the server database", "[server][authority]") {
  TempDir dir;
  Key<plm::Part> p1, p2;
  hills::BorrowInfo before;
  std::pair<std::uint64_t, std::uint64_t> granted;
  {
    hills::Database server(dir.path(), serverOptions());
    p1 = createPart(server, 1);
    p2 = createPart(server, 2);
    before = checkOut(server, p1, "A");
    granted = server.write(
        [](hills::WriteTxn& txn) { return hills::server::grantIds(txn, "parts", 5, "A"); });
  }
  hills::Database server(dir.path(), serverOptions());
  auto after = borrowOf(server, p1);
  REQUIRE(after);
  CHECK(after->key == before.key);
  CHECK(after->holder == "A");
  CHECK(after->fencing == before.fencing);
  CHECK(after->since == before.since);
  server.read([&](const hills::ReadTxn& txn) {
    CHECK(hills::protocol::listBorrows(txn).size() == 1);
    CHECK(hills::server::grantee(txn, "parts", granted.first) == "A");
  });
  // The fencing numbers go on growing, and the borrow is still refused to others.
  auto next = checkOut(server, p2, "B");
  CHECK(next.fencing > before.fencing);
  server.write([&](hills::WriteTxn& txn) {
    auto e = errorOf([&] {
      hills::server::checkOut(txn, hills::OpaqueKey{"parts", p1.id, p1.revision}, "B");
    });
    CHECK(e.code() == ErrorCode::kBorrowed);
  });
  checkIn(server, p1,
          hills::server::CheckIn{.holder = "A", .fencing = before.fencing, .value = {}});
  CHECK_FALSE(borrowOf(server, p1));
}

TEST_CASE("listBorrows lists every borrow with tree and key and holder and fencing",
          "[server][authority]") {
  TempDir dir;
  hills::Database server(dir.path(), serverOptions());
  CHECK(borrowsOf(server).empty());
  auto [p1, p2, p3, bom] = server.write([](hills::WriteTxn& txn) {
    auto parts = txn.tree<plm::Part>();
    auto a = parts.create(makePart(1));
    auto b = parts.create(makePart(2));
    auto c = parts.create(makePart(3));
    parts.release(c);
    auto c1 = parts.newRevision(c);
    plm::Bom bom{};
    bom.assembly = a;
    auto k = txn.tree<plm::Bom>().create(bom);
    return std::tuple(a, b, c1, k);
  });
  auto b1 = checkOut(server, p1, "A");
  auto b2 = checkOut(server, p2, "B");
  auto b3 = checkOut(server, p3, "B");
  auto b4 = server.write([&](hills::WriteTxn& txn) {
    return hills::server::checkOut(txn, hills::OpaqueKey{"boms", bom.id, bom.revision}, "A");
  });

  auto all = borrowsOf(server);
  REQUIRE(all.size() == 4);
  // By tree, then key.
  const hills::BorrowInfo* expected[] = {&b4, &b1, &b2, &b3};
  for (std::size_t i = 0; i < all.size(); ++i) {
    CAPTURE(i);
    CHECK(all[i].key == expected[i]->key);
    CHECK(all[i].holder == expected[i]->holder);
    CHECK(all[i].fencing == expected[i]->fencing);
    CHECK(all[i].since == expected[i]->since);
  }
  CHECK(all[0].key == hills::OpaqueKey{"boms", bom.id, 0});
  CHECK(all[3].key == hills::OpaqueKey{"parts", p3.id, 1});

  checkIn(server, p2, hills::server::CheckIn{.holder = "B", .fencing = b2.fencing, .value = {}});
  all = borrowsOf(server);
  REQUIRE(all.size() == 3);
  CHECK(all[1].key == b1.key);
  CHECK(all[2].key == b3.key);
}

TEST_CASE_METHOD(LentToA,
                 "a check-in with other bytes that are not newer than the server's record is "
                 "refused",
                 "[server][authority]") {
  // The server's record is at its second data iteration: A checked in an
  // edit and kept the borrow.
  rename(a, p, 1, "edited by A");
  auto edited = valueOf(a, p);
  hills::server::CheckIn kept{.holder = "A", .fencing = borrow.fencing, .value = bytesOf(edited)};
  kept.keepBorrow = true;
  checkIn(server, p, kept);
  auto serverValue = valueOf(server, p);
  REQUIRE(iterationsOf(serverValue).first == 2);
  auto level = altered(serverValue, [](EnvelopeBuilder env) {
    env.setAuthor("A");
    env.getBody().getAs<plm::Part::Capnp>().setName("level with the server");
  });
  auto older = altered(serverValue, [](EnvelopeBuilder env) {
    env.setDataIteration(env.getDataIteration() - 1);
    env.setAuthor("A");
    env.getBody().getAs<plm::Part::Capnp>().setName("behind the server");
  });

  auto seq = lastSequence(server);
  for (const Words* value : {&level, &older}) {
    CAPTURE(nameIn(*value));
    auto e = checkInError(
        server, p,
        hills::server::CheckIn{.holder = "A", .fencing = borrow.fencing, .value = bytesOf(*value)});
    CHECK(e.code() == ErrorCode::kInvalidArgument);
    CHECK_THAT(e.what(), Catch::Contains("not newer"));
  }
  CHECK(hex(valueOf(server, p)) == hex(serverValue));
  CHECK(lastSequence(server) == seq);
  auto held = borrowOf(server, p);
  REQUIRE(held);
  CHECK(held->holder == "A");
  CHECK(held->fencing == borrow.fencing);

  // One data iteration more, and it is taken.
  auto newer = altered(level, [](EnvelopeBuilder env) { env.setDataIteration(3); });
  checkIn(
      server, p,
      hills::server::CheckIn{.holder = "A", .fencing = borrow.fencing, .value = bytesOf(newer)});
  CHECK(nameIn(valueOf(server, p)) == "level with the server");
}

TEST_CASE_METHOD(LentToA, "a check-in of the server's own bytes changes nothing",
                 "[server][authority]") {
  auto serverValue = valueOf(server, p);
  // Made by the server: its author is not the holder, and it need not be.
  REQUIRE(std::string(hills::detail::ValueReader({serverValue.data(), serverValue.size()})
                          .getRoot<hills::wire::Envelope>()
                          .getAuthor()
                          .cStr()) == "server");
  auto seq = lastSequence(server);
  hills::server::CheckIn in{
      .holder = "A", .fencing = borrow.fencing, .value = bytesOf(serverValue)};

  SECTION("the borrow ends with a checkedIn entry and nothing else") {
    checkIn(server, p, in);
    CHECK(hex(valueOf(server, p)) == hex(serverValue));
    CHECK_FALSE(borrowOf(server, p));
    auto log = changesAfter(server, seq);
    REQUIRE(log.size() == 1);
    CHECK(log[0].kind == hills::sync::kCheckedIn);
    CHECK(log[0].holder == "A");
    CHECK(log[0].fencing == borrow.fencing);
  }

  SECTION("with keepBorrow nothing is logged and the borrow stays") {
    in.keepBorrow = true;
    checkIn(server, p, in);
    CHECK(hex(valueOf(server, p)) == hex(serverValue));
    CHECK(lastSequence(server) == seq);
    auto held = borrowOf(server, p);
    REQUIRE(held);
    CHECK(held->holder == "A");
    CHECK(held->fencing == borrow.fencing);
  }
}

TEST_CASE_METHOD(LentToA, "a check-in authored by another client than the holder is refused",
                 "[server][authority]") {
  auto serverValue = valueOf(server, p);
  auto byB = editedBy(serverValue, "B", "edited by B");
  auto seq = lastSequence(server);
  auto e = checkInError(
      server, p,
      hills::server::CheckIn{.holder = "A", .fencing = borrow.fencing, .value = bytesOf(byB)});
  CHECK(e.code() == ErrorCode::kInvalidArgument);
  CHECK_THAT(e.what(), Catch::Contains("'B'"));
  CHECK_THAT(e.what(), Catch::Contains("'A'"));
  CHECK(hex(valueOf(server, p)) == hex(serverValue));
  CHECK(lastSequence(server) == seq);
  auto held = borrowOf(server, p);
  REQUIRE(held);
  CHECK(held->holder == "A");

  // The same edit authored by the holder is taken.
  auto byA = altered(byB, [](EnvelopeBuilder env) { env.setAuthor("A"); });
  checkIn(server, p,
          hills::server::CheckIn{.holder = "A", .fencing = borrow.fencing, .value = bytesOf(byA)});
  CHECK(hex(valueOf(server, p)) == hex(byA));
  CHECK_FALSE(borrowOf(server, p));
}

TEST_CASE_METHOD(LentToA,
                 "a local edit of the server's database is refused while another client holds "
                 "the record",
                 "[server][authority]") {
  auto serverValue = valueOf(server, p);
  auto seq = lastSequence(server);
  auto update = errorOf([&] { rename(server, p, 1, "edited on the server"); });
  CHECK(update.code() == ErrorCode::kBorrowed);
  CHECK_THAT(update.what(), Catch::Contains("'A'"));
  auto removal = errorOf(
      [&] { server.write([&](hills::WriteTxn& txn) { txn.tree<plm::Part>().remove(p); }); });
  CHECK(removal.code() == ErrorCode::kBorrowed);
  CHECK(hex(valueOf(server, p)) == hex(serverValue));
  CHECK(lastSequence(server) == seq);

  // Made for the holder, the edit is the holder's own.
  server.write([&](hills::WriteTxn& txn) {
    txn.setOrigin("A");
    auto part = makePart(1);
    part.name = "edited for A";
    txn.tree<plm::Part>().update(p, part);
  });
  CHECK(nameIn(valueOf(server, p)) == "edited for A");

  // Checked in, the record is the server's to edit again.
  checkIn(server, p, hills::server::CheckIn{.holder = "A", .fencing = borrow.fencing, .value = {}});
  rename(server, p, 1, "edited on the server");
  CHECK(nameIn(valueOf(server, p)) == "edited on the server");
}
