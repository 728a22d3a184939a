// What the authority of a sync server (server/src/authority.cc) takes from
// its clients: records created on a replica (acceptCreate, ids it granted)
// and changes applied to it. A "server" database with a change log and the
// authority's hook; the replica "A" follows its log with applyChange.
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
