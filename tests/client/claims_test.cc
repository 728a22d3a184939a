// Ids a replica claims before its first contact (client/src/claims.cc):
// what it claims, and how a claim its server refuses is given up: the
// records made from it move to granted ids, and this replica's own
// references to them follow. Replicas are plain databases with the
// client::Replica hook; a "server" database grants the fresh ids.
#include <algorithm>
#include <catch2/catch.hpp>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "replication.h"
#include "temp_dir.h"

using hills::ErrorCode;
using hills::EventKind;
using hills::kClaimableIds;
using hills::Key;
using hills::client::IdClaim;
using namespace hills::test;

namespace {

constexpr std::uint64_t kParts = kClaimableIds + 1000;
constexpr std::uint64_t kBoms = kClaimableIds + 2000;
constexpr std::uint64_t kStock = kClaimableIds + 3000;
constexpr std::uint64_t kBlock = 100;

std::vector<IdClaim> pendingOf(ReplicaDatabase& db) {
  return db.read([&](const hills::ReadTxn& txn) {
    return db.replica().pendingClaims(txn, {"parts", "boms", "stock"});
  });
}

std::optional<std::size_t> giveUp(ReplicaDatabase& db, const IdClaim& claim,
                                  const hills::client::IdRanges& fresh) {
  return db.write(
      [&](hills::WriteTxn& txn) { return db.replica().giveUpClaim(txn, claim, fresh); });
}

template <class T>
std::optional<T> get(hills::Database& db, Key<T> key) {
  return db.read([&](const hills::ReadTxn& txn) { return txn.tree<T>().get(key); });
}

// A fresh replica "A" that claimed a block of each tree and made records
// from them that reference each other: two parts, a bom with references in
// a nested struct and a list of lists, a stock item with a list of them.
struct ClaimedByA {
  TempDir dir;
  hills::Database server{dir.sub("server"), serverOptions()};
  ReplicaDatabase a{dir.sub("a"), "A"};
  IdClaim parts{"parts", kParts, kParts + kBlock};
  Key<plm::Part> p1, p2;
  Key<plm::Bom> bom;
  Key<plm::StockItem> stock;

  ClaimedByA() {
    a.write([&](hills::WriteTxn& txn) {
      for (auto& [tree, start] :
           {std::pair("parts", kParts), std::pair("boms", kBoms), std::pair("stock", kStock)}) {
        REQUIRE(a.replica().mayClaim(txn, tree));
        a.replica().claim(txn, tree, start, start + kBlock);
      }
      p1 = txn.tree<plm::Part>().create(makePart(1));
      p2 = txn.tree<plm::Part>().create(makePart(2));
      bom = txn.tree<plm::Bom>().create(bomOf(p1, p2));
      plm::StockItem s{};
      s.part = p1;
      s.alternates = {p2, p1};
      s.location = "A-03-2";
      stock = txn.tree<plm::StockItem>().create(s);
    });
  }

  static plm::Bom bomOf(Key<plm::Part> x, Key<plm::Part> y) {
    plm::Bom b{};
    b.assembly = x;
    b.lines = {plm::Bom::Line{y, 2, {"R1"}}, plm::Bom::Line{Key<plm::Part>{}, 1, {}}};
    b.interchangeable = {{x, y}, {y}};
    b.notes = "made offline";
    return b;
  }

  // Ids the server grants A, which A has not added to its ranges.
  hills::client::IdRanges granted(std::uint64_t count) {
    return {server.write(
        [&](hills::WriteTxn& txn) { return hills::server::grantIds(txn, "parts", count, "A"); })};
  }
};

}  // namespace

TEST_CASE_METHOD(ClaimedByA,
                 "a refused claim moves its records to granted ids and references follow them "
                 "in nested structs and lists",
                 "[client][claims]") {
  CHECK(p1.id == kParts);
  CHECK(p2.id == kParts + 1);
  auto v1 = valueOf(a, p1), v2 = valueOf(a, p2);
  auto bomBefore = iterationsOf(valueOf(a, bom));
  std::vector<hills::Event> events;
  auto sub = a.subscribe({}, [&](const hills::Event& e) { events.push_back(e); });

  auto fresh = granted(50);
  auto moved = giveUp(a, parts, fresh);
  REQUIRE(moved);
  CHECK(*moved == 2);
  Key<plm::Part> n1{fresh[0].first, 0}, n2{fresh[0].first + 1, 0};

  // Same values under the new ids; the old ones are gone.
  CHECK(hex(valueOf(a, n1)) == hex(v1));
  CHECK(hex(valueOf(a, n2)) == hex(v2));
  CHECK(valueOf(a, p1).empty());
  CHECK(valueOf(a, p2).empty());

  // Every reference followed, the null one stayed null.
  CHECK(get(a, bom) == bomOf(n1, n2));
  auto item = get(a, stock);
  REQUIRE(item);
  CHECK(item->part == n1);
  CHECK(item->alternates == std::vector{n2, n1});
  CHECK(item->location == "A-03-2");
  // A rewritten record is still a new draft of A's, one data iteration on.
  auto bomAfter = iterationsOf(valueOf(a, bom));
  CHECK(bomAfter.first == bomBefore.first + 1);
  CHECK(bomAfter.second == 1);

  // The rest of the block is gone; the granted ids not taken are A's now.
  a.read([&](const hills::ReadTxn& txn) { CHECK(txn.tree("parts").idsLeft() == 48); });
  CHECK(createPart(a, 3).id == fresh[0].first + 2);
  auto pending = pendingOf(a);
  REQUIRE(pending.size() == 2);
  CHECK(pending[0].tree == "boms");
  CHECK(pending[1].tree == "stock");

  // The application hears of the move: the old keys removed, the new created.
  auto happened = [&](EventKind kind, Key<plm::Part> key) {
    return std::any_of(events.begin(), events.end(), [&](const hills::Event& e) {
      return e.kind == kind && e.key == hills::opaque(key) && e.origin.empty();
    });
  };
  CHECK(happened(EventKind::kRemoved, p1));
  CHECK(happened(EventKind::kCreated, n1));
  CHECK(happened(EventKind::kCreated, n2));

  // The server takes all of it: the moved parts from A's grant, the rest
  // once their claims are confirmed.
  server.write([&](hills::WriteTxn& txn) {
    hills::server::claimIds(txn, "boms", kBoms, kBoms + kBlock, "A", 4096);
    hills::server::claimIds(txn, "stock", kStock, kStock + kBlock, "A", 4096);
  });
  for (auto key :
       {hills::opaque(n1), hills::opaque(n2), hills::opaque(bom), hills::opaque(stock)}) {
    auto value = valueOf(a, key);
    server.write(
        [&](hills::WriteTxn& txn) { hills::server::acceptCreate(txn, key, bytesOf(value), "A"); });
  }
  CHECK(get(server, bom) == bomOf(n1, n2));
}

TEST_CASE_METHOD(ClaimedByA,
                 "a moved record's outbox entry follows it and the entry of a removed create goes",
                 "[client][claims]") {
  auto gone = createPart(a, 9);
  a.write([&](hills::WriteTxn& txn) { txn.tree<plm::Part>().remove(gone); });
  auto before = a.read([&](const hills::ReadTxn& txn) { return a.replica().outbox(txn); });
  std::map<std::uint64_t, std::uint64_t> serials;  // part id -> serial
  for (auto& item : before) {
    if (item.key.tree == "parts") serials[item.key.id] = item.serial;
  }
  REQUIRE(serials.size() == 3);

  auto fresh = granted(10);
  REQUIRE(giveUp(a, parts, fresh) == std::optional<std::size_t>(2));
  auto after = a.read([&](const hills::ReadTxn& txn) { return a.replica().outbox(txn); });
  std::map<std::uint64_t, std::uint64_t> moved;
  for (auto& item : after) {
    CHECK(item.kind == hills::OutboxItem::Kind::kCreate);
    if (item.key.tree == "parts") moved[item.key.id] = item.serial;
  }
  CHECK(moved == std::map<std::uint64_t, std::uint64_t>{{fresh[0].first, serials[p1.id]},
                                                        {fresh[0].first + 1, serials[p2.id]}});
  CHECK(after.size() == 4);  // and the bom and the stock item, still under their claims
}

TEST_CASE_METHOD(ClaimedByA, "records already on the server are untouched when records move",
                 "[client][claims]") {
  // The server holds boms of its own that name the id p1 has here: another
  // client's part with that id, as far as this replica can tell. One of
  // them A holds under a borrow and edits to name its own p1.
  auto theirs = server.write([&](hills::WriteTxn& txn) {
    return txn.tree<plm::Bom>().create(ClaimedByA::bomOf(p1, Key<plm::Part>{}));
  });
  auto held = server.write([&](hills::WriteTxn& txn) {
    return txn.tree<plm::Bom>().create(ClaimedByA::bomOf(Key<plm::Part>{}, Key<plm::Part>{}));
  });
  auto elsewhere = server.write(
      [&](hills::WriteTxn& txn) { return txn.tree<plm::Bom>().create(ClaimedByA::bomOf(p2, p2)); });
  checkOut(server, held, "A");
  checkOut(server, elsewhere, "B");
  replicate(server, a, 0);
  a.write(
      [&](hills::WriteTxn& txn) { txn.tree<plm::Bom>().update(held, ClaimedByA::bomOf(p1, p2)); });
  a.write([&](hills::WriteTxn& txn) { a.replica().queueCheckIn(txn, hills::opaque(held), false); });
  auto theirsBefore = valueOf(a, theirs), elsewhereBefore = valueOf(a, elsewhere);
  auto heldBefore = iterationsOf(valueOf(a, held));

  auto fresh = granted(10);
  REQUIRE(giveUp(a, parts, fresh));
  Key<plm::Part> n1{fresh[0].first, 0}, n2{fresh[0].first + 1, 0};
  CHECK(hex(valueOf(a, theirs)) == hex(theirsBefore));
  CHECK(hex(valueOf(a, elsewhere)) == hex(elsewhereBefore));
  // The record A holds names A's parts where they went, and its queued
  // check-in carries that.
  CHECK(get(a, held) == ClaimedByA::bomOf(n1, n2));
  CHECK(iterationsOf(valueOf(a, held)).first == heldBefore.first + 1);
  auto borrow = borrowOf(a, held);
  REQUIRE(borrow);
  CHECK(borrow->returning);
}

TEST_CASE_METHOD(ClaimedByA, "a refused claim is not given up with fewer fresh ids than records",
                 "[client][claims]") {
  auto v1 = valueOf(a, p1);
  auto fresh = granted(1);
  CHECK_FALSE(giveUp(a, parts, fresh));
  CHECK(hex(valueOf(a, p1)) == hex(v1));
  CHECK(get(a, bom) == bomOf(p1, p2));
  CHECK(pendingOf(a).size() == 3);
  a.read([&](const hills::ReadTxn& txn) { CHECK(txn.tree("parts").idsLeft() == kBlock - 2); });
  // A claim with no records left to move goes with no fresh ids at all.
  a.write([&](hills::WriteTxn& txn) { txn.tree<plm::StockItem>().remove(stock); });
  IdClaim stockClaim{"stock", kStock, kStock + kBlock};
  CHECK(giveUp(a, stockClaim, {}) == std::optional<std::size_t>(0));
  a.read([&](const hills::ReadTxn& txn) { CHECK(txn.tree("stock").idsLeft() == 0); });
  CHECK(a.read([&](const hills::ReadTxn& txn) { return a.replica().outboxLength(txn); }) == 3);
}

TEST_CASE("a replica claims its ids once, before its first contact, and keeps the claim",
          "[client][claims]") {
  TempDir dir;
  hills::Database server(dir.sub("server"), serverOptions());
  {
    ReplicaDatabase a(dir.sub("a"), "A");
    a.write([&](hills::WriteTxn& txn) {
      CHECK(a.replica().mayClaim(txn, "parts"));
      a.replica().claim(txn, "parts", kParts, kParts + kBlock);
      CHECK_FALSE(a.replica().mayClaim(txn, "parts"));
    });
    createPart(a, 1);
  }
  // Reopened (the process died before the server answered): the same
  // claim, still asked for, and the ids go on where they were.
  ReplicaDatabase a(dir.sub("a"), "A");
  auto pending = pendingOf(a);
  REQUIRE(pending.size() == 1);
  CHECK(pending[0].start == kParts);
  CHECK(pending[0].end == kParts + kBlock);
  CHECK(createPart(a, 2).id == kParts + 1);
  a.write([&](hills::WriteTxn& txn) {
    CHECK_FALSE(a.replica().mayClaim(txn, "parts"));
    a.replica().confirmClaim(txn, pending[0]);
  });
  CHECK(pendingOf(a).empty());
  CHECK(createPart(a, 3).id == kParts + 2);

  // A replica that has met its server, or holds granted ids, claims nothing.
  ReplicaDatabase b(dir.sub("b"), "B");
  grant(server, b, "boms");
  b.write([&](hills::WriteTxn& txn) {
    CHECK_FALSE(b.replica().mayClaim(txn, "boms"));
    CHECK(b.replica().mayClaim(txn, "parts"));
    b.replica().pin(txn, "server-uuid");
    CHECK_FALSE(b.replica().mayClaim(txn, "parts"));
  });
}
