// The authority's rules on a sync server (server/src/authority.cc): borrows,
// id grants and the checks on what clients push. A "server" database with a
// change log and the authority's hook lends records to the replicas "A" and
// "B", which follow its log with applyChange.
#include <capnp/message.h>

#include <catch2/catch.hpp>
#include <cstring>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "replication.h"
#include "temp_dir.h"

using hills::ErrorCode;
using hills::EventKind;
using hills::Key;
using namespace hills::test;

namespace {

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

std::vector<LogEntry> changesAfter(hills::Database& db, std::uint64_t after) {
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

std::uint64_t lastSequence(hills::Database& db) {
  return db.read([](const hills::ReadTxn& txn) { return txn.lastSequence(); });
}

void checkIn(hills::Database& db, Key<plm::Part> key, const hills::server::CheckIn& in) {
  db.write([&](hills::WriteTxn& txn) { hills::server::checkIn(txn, hills::opaque(key), in); });
}

// The error of a check-in the server refuses. It is caught inside the write,
// which then commits: what the refused call left behind would be kept.
hills::Error checkInError(hills::Database& db, Key<plm::Part> key,
                          const hills::server::CheckIn& in) {
  return db.write([&](hills::WriteTxn& txn) {
    return errorOf([&] { hills::server::checkIn(txn, hills::opaque(key), in); });
  });
}

using EnvelopeBuilder = hills::wire::Envelope::Builder;

// `value` as the client `author` would edit it: renamed to `name`, one data
// iteration on.
Words editedBy(const Words& value, const std::string& author, const std::string& name) {
  return altered(value, [&](EnvelopeBuilder env) {
    env.setDataIteration(env.getDataIteration() + 1);
    env.setAuthor(author);
    env.getBody().getAs<plm::Part::Capnp>().setName(name);
  });
}

}  // namespace

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

TEST_CASE("acceptCreate stores a record created on a replica with a granted id",
          "[server][authority]") {
  TempDir dir;
  hills::Database server(dir.sub("server"), serverOptions());
  ReplicaDatabase a(dir.sub("a"), "A");
  auto range = grant(server, a, "parts", 10);
  auto p = createPart(a, 1);
  REQUIRE(p.id == range.first);
  auto value = valueOf(a, p);

  auto seq = lastSequence(server);
  server.write([&](hills::WriteTxn& txn) {
    hills::server::acceptCreate(txn, hills::opaque(p), bytesOf(value), "A");
  });
  CHECK(hex(valueOf(server, p)) == hex(value));
  auto log = changesAfter(server, seq);
  REQUIRE(log.size() == 1);
  CHECK(log[0].kind == EventKind::kCreated);
  CHECK(log[0].id == p.id);
  CHECK(log[0].origin == "A");
  CHECK(hex(log[0].value) == hex(value));

  SECTION("the same bytes pushed again change nothing") {
    seq = lastSequence(server);
    server.write([&](hills::WriteTxn& txn) {
      hills::server::acceptCreate(txn, hills::opaque(p), bytesOf(value), "A");
    });
    CHECK(lastSequence(server) == seq);
    CHECK(hex(valueOf(server, p)) == hex(value));
  }

  SECTION("other bytes for the same id are refused") {
    auto other = altered(value, [](hills::wire::Envelope::Builder env) {
      env.getBody().getAs<plm::Part::Capnp>().setName("another");
    });
    server.write([&](hills::WriteTxn& txn) {
      auto e =
          errorOf([&] { hills::server::acceptCreate(txn, hills::opaque(p), bytesOf(other), "A"); });
      CHECK(e.code() == ErrorCode::kAlreadyExists);
    });
    CHECK(hex(valueOf(server, p)) == hex(value));
  }

  SECTION("an id granted to another client is refused naming both") {
    auto toB = server.write(
        [](hills::WriteTxn& txn) { return hills::server::grantIds(txn, "parts", 10, "B"); });
    seq = lastSequence(server);
    server.write([&](hills::WriteTxn& txn) {
      auto e = errorOf([&] {
        hills::server::acceptCreate(txn, hills::OpaqueKey{"parts", toB.first, 0}, bytesOf(value),
                                    "A");
      });
      CHECK(e.code() == ErrorCode::kDenied);
      CHECK_THAT(e.what(), Catch::Contains("'A'"));
      CHECK_THAT(e.what(), Catch::Contains("'B'"));
      CHECK_FALSE(txn.tree("parts").contains(toB.first, 0));
    });
    CHECK(lastSequence(server) == seq);
    CHECK(valueOf(server, Key<plm::Part>{toB.first, 0}).empty());
  }

  SECTION("an id never granted is refused") {
    auto unnamed =
        server.write([](hills::WriteTxn& txn) { return txn.tree("parts").grantIds(10); });
    seq = lastSequence(server);
    server.write([&](hills::WriteTxn& txn) {
      for (std::uint64_t id : {unnamed.first, unnamed.second + 1000}) {
        auto e = errorOf([&] {
          hills::server::acceptCreate(txn, hills::OpaqueKey{"parts", id, 0}, bytesOf(value), "A");
        });
        CHECK(e.code() == ErrorCode::kDenied);
        CHECK_THAT(e.what(), Catch::Contains("'A'"));
        CHECK_FALSE(txn.tree("parts").contains(id, 0));
      }
    });
    CHECK(lastSequence(server) == seq);
  }
}

TEST_CASE("grantee names the client for ids inside its ranges and nothing outside",
          "[server][authority]") {
  TempDir dir;
  hills::Database server(dir.path(), serverOptions());
  auto [toA, toB, unnamed] = server.write([](hills::WriteTxn& txn) {
    auto a = hills::server::grantIds(txn, "parts", 5, "A");
    auto b = hills::server::grantIds(txn, "parts", 5, "B");
    auto n = txn.tree("parts").grantIds(5);  // granted to nobody in particular
    return std::tuple(a, b, n);
  });
  auto own = createPart(server, 1);
  server.read([&](const hills::ReadTxn& txn) {
    CHECK(hills::server::grantee(txn, "parts", toA.first) == "A");
    CHECK(hills::server::grantee(txn, "parts", toA.second - 1) == "A");
    CHECK(hills::server::grantee(txn, "parts", toB.first) == "B");
    CHECK(hills::server::grantee(txn, "parts", toB.second - 1) == "B");
    CHECK(hills::server::grantee(txn, "parts", unnamed.first) == "");
    CHECK(hills::server::grantee(txn, "parts", unnamed.second - 1) == "");
    CHECK(hills::server::grantee(txn, "parts", own.id) == "");
    CHECK(hills::server::grantee(txn, "parts", 0) == "");
    CHECK(hills::server::grantee(txn, "parts", toB.second + 100000) == "");
    // Grants belong to their tree.
    CHECK(hills::server::grantee(txn, "boms", toA.first) == "");
  });
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

namespace {

// Grants ids of `tree` to the replica "A" and creates one record there, not
// pushed yet: a part, or a stock item of the unversioned tree "stock".
hills::OpaqueKey createOnA(hills::Database& server, ReplicaDatabase& a, const std::string& tree) {
  grant(server, a, tree, 10);
  return a.write([&](hills::WriteTxn& txn) {
    if (tree == "stock") {
      plm::StockItem item{};
      item.location = "A-03-2";
      item.quantity = 5;
      return hills::opaque(txn.tree<plm::StockItem>().create(item));
    }
    return hills::opaque(txn.tree<plm::Part>().create(makePart(1)));
  });
}

// The error of a create the server refuses (caught inside the write, which
// then commits).
hills::Error acceptError(hills::Database& db, const hills::OpaqueKey& key, const Words& value,
                         std::string_view origin) {
  return db.write([&](hills::WriteTxn& txn) {
    return errorOf([&] { hills::server::acceptCreate(txn, key, bytesOf(value), origin); });
  });
}

void accept(hills::Database& db, const hills::OpaqueKey& key, const Words& value,
            std::string_view origin) {
  db.write(
      [&](hills::WriteTxn& txn) { hills::server::acceptCreate(txn, key, bytesOf(value), origin); });
}

}  // namespace

TEST_CASE("acceptCreate refuses a value that is not a new draft authored by its pusher",
          "[server][authority]") {
  // Parts are versioned; stock items are edited in place. The rule is the same.
  const std::string tree = GENERATE(as<std::string>(), "parts", "stock");
  CAPTURE(tree);
  TempDir dir;
  hills::Database server(dir.sub("server"), serverOptions());
  ReplicaDatabase a(dir.sub("a"), "A");
  auto key = createOnA(server, a, tree);
  auto value = valueOf(a, key);
  REQUIRE_FALSE(value.empty());
  REQUIRE(iterationsOf(value) == std::pair<std::uint32_t, std::uint32_t>(1, 1));

  struct Case {
    const char* what;
    Words value;
    const char* message;
  };
  const Case cases[] = {
      {"authored by another client",
       altered(value, [](EnvelopeBuilder env) { env.setAuthor("B"); }), "'B'"},
      {"at its second meta iteration",
       altered(value, [](EnvelopeBuilder env) { env.setMetaIteration(2); }), "new draft"},
      {"with a lifecycle", altered(value, [](EnvelopeBuilder env) { env.setLifecycle(3); }),
       "new draft"},
      {"released",
       altered(value, [](EnvelopeBuilder env) { env.setState(hills::wire::State::RELEASED); }),
       "new draft"},
  };
  auto seq = lastSequence(server);
  for (const auto& c : cases) {
    CAPTURE(c.what);
    auto e = acceptError(server, key, c.value, "A");
    CHECK(e.code() == ErrorCode::kInvalidArgument);
    CHECK_THAT(e.what(), Catch::Contains(c.message));
    CHECK_THAT(e.what(), Catch::Contains(hills::describe(key)));
    CHECK(valueOf(server, key).empty());
    CHECK(lastSequence(server) == seq);
  }
  // The author's refusal names the pusher too.
  CHECK_THAT(acceptError(server, key, cases[0].value, "A").what(), Catch::Contains("'A'"));

  // The value rebuilt without a change is taken: the refusals were about the
  // envelope, not about how the values were built.
  auto same = altered(value, [](EnvelopeBuilder) {});
  accept(server, key, same, "A");
  CHECK(hex(valueOf(server, key)) == hex(same));
  auto log = changesAfter(server, seq);
  REQUIRE(log.size() == 1);
  CHECK(log[0].kind == EventKind::kCreated);
  CHECK(log[0].tree == tree);
  CHECK(log[0].origin == "A");
}

TEST_CASE("acceptCreate takes a create pushed again with later edits while nobody touched it",
          "[server][authority]") {
  TempDir dir;
  hills::Database server(dir.sub("server"), serverOptions());
  ReplicaDatabase a(dir.sub("a"), "A");
  auto key = createOnA(server, a, "parts");
  Key<plm::Part> p{key.id, key.revision};
  auto first = valueOf(a, p);
  accept(server, key, first, "A");
  // The client lost the answer, went on editing its draft, and pushes it again.
  rename(a, p, 1, "edited by A");
  rename(a, p, 1, "edited again by A");
  auto later = valueOf(a, p);
  REQUIRE(iterationsOf(later) == std::pair<std::uint32_t, std::uint32_t>(3, 1));

  SECTION("the later edit is taken as an update by the client") {
    auto seq = lastSequence(server);
    accept(server, key, later, "A");
    CHECK(hex(valueOf(server, p)) == hex(later));
    auto log = changesAfter(server, seq);
    REQUIRE(log.size() == 1);
    CHECK(log[0].kind == EventKind::kUpdated);
    CHECK(log[0].id == p.id);
    CHECK(log[0].origin == "A");
    CHECK(hex(log[0].value) == hex(later));
    CHECK_FALSE(borrowOf(server, p));
  }

  SECTION("refused while another client has it checked out") {
    auto b = checkOut(server, p, "B");
    auto seq = lastSequence(server);
    auto e = acceptError(server, key, later, "A");
    CHECK(e.code() == ErrorCode::kAlreadyExists);
    CHECK(hex(valueOf(server, p)) == hex(first));
    CHECK(lastSequence(server) == seq);
    auto held = borrowOf(server, p);
    REQUIRE(held);
    CHECK(held->holder == "B");
    CHECK(held->fencing == b.fencing);
  }

  SECTION("refused once another client has checked it in since") {
    auto b = checkOut(server, p, "B");
    auto byB = editedBy(first, "B", "edited by B");
    checkIn(server, p,
            hills::server::CheckIn{.holder = "B", .fencing = b.fencing, .value = bytesOf(byB)});
    REQUIRE(hex(valueOf(server, p)) == hex(byB));
    // A's push is newer by its data iteration: only the author tells.
    REQUIRE(iterationsOf(later).first > iterationsOf(byB).first);
    auto seq = lastSequence(server);
    auto e = acceptError(server, key, later, "A");
    CHECK(e.code() == ErrorCode::kAlreadyExists);
    CHECK(hex(valueOf(server, p)) == hex(byB));
    CHECK(lastSequence(server) == seq);
  }

  SECTION("refused once the server has moved it past its first meta iteration") {
    server.write([&](hills::WriteTxn& txn) { txn.tree<plm::Part>().setLifecycle(p, 2); });
    // A has checked it out and in since: the record is A's again, unborrowed,
    // and A's push is newer by its data iteration; only the meta iteration tells.
    auto b = checkOut(server, p, "A");
    auto byA = editedBy(valueOf(server, p), "A", "checked in by A");
    checkIn(server, p,
            hills::server::CheckIn{.holder = "A", .fencing = b.fencing, .value = bytesOf(byA)});
    REQUIRE(hex(valueOf(server, p)) == hex(byA));
    REQUIRE(iterationsOf(byA) == std::pair<std::uint32_t, std::uint32_t>(2, 2));
    REQUIRE_FALSE(borrowOf(server, p));
    auto seq = lastSequence(server);
    auto e = acceptError(server, key, later, "A");
    CHECK(e.code() == ErrorCode::kAlreadyExists);
    CHECK(hex(valueOf(server, p)) == hex(byA));
    CHECK(lastSequence(server) == seq);
  }
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

TEST_CASE(
    "on the authority a change level with its record or beside it is skipped without a "
    "conflict copy",
    "[server][authority]") {
  TempDir dir;
  hills::Database server(dir.sub("server"), serverOptions());
  auto p = createPart(server, 1);
  rename(server, p, 1, "edited on the server");
  auto mine = valueOf(server, p);
  REQUIRE(iterationsOf(mine) == std::pair<std::uint32_t, std::uint32_t>(2, 1));
  auto seq = lastSequence(server);
  std::vector<hills::Event> events;
  auto sub = server.subscribe({}, [&](const hills::Event& e) { events.push_back(e); });

  // B's record at the given iterations, renamed to `name`.
  auto byB = [&](const std::string& name, std::uint32_t data, std::uint32_t meta) {
    return altered(mine, [&](EnvelopeBuilder env) {
      env.setAuthor("B");
      env.setDataIteration(data);
      env.setMetaIteration(meta);
      env.getBody().getAs<plm::Part::Capnp>().setName(name);
    });
  };
  SECTION("level with other bytes") {
    applyChange(server, changeOf(hills::wire::ChangeKind::UPDATED, p, byB("edited by B", 2, 1), "B"));
  }
  SECTION("ahead on one count and behind on the other") {
    applyChange(server, changeOf(hills::wire::ChangeKind::LIFECYCLE_CHANGED, p,
                                 byB("given a lifecycle by B", 1, 2), "B"));
  }
  // The authority's record is the truth (AuthorityHook::keepOwn).
  CHECK(hex(valueOf(server, p)) == hex(mine));
  CHECK(events.empty());
  CHECK(lastSequence(server) == seq);
  // It keeps no conflict copies: it has no table for them.
  server.read([](const hills::ReadTxn& txn) {
    CHECK(errorOf([&] { txn.table("_conflicts"); }).code() == ErrorCode::kInvalidArgument);
  });
}
