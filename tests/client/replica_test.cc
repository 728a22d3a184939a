// A replica's rules (client/src/replica.cc): what it may edit, its outbox
// and its conflict copies. A "server" database with a change log and the
// authority's hook lends records; the replicas "A" and "B", each with its
// client::Replica hook, follow its log with applyChange.
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

TEST_CASE_METHOD(GrantedToA,
                 "a replica's create goes to the outbox and the record can be edited until it is "
                 "marked sent",
                 "[client][replica]") {
  CHECK(outboxOf(a).empty());
  auto p = createPart(a, 1);

  auto box = outboxOf(a);
  REQUIRE(box.size() == 1);
  CHECK(box[0].kind == OutboxItem::Kind::kCreate);
  CHECK(box[0].key == hills::opaque(p));
  CHECK_FALSE(box[0].sent);
  CHECK_FALSE(box[0].keepBorrow);
  CHECK(box[0].serial > 0);

  rename(a, p, 1, "edited before the push");
  CHECK(nameIn(valueOf(a, p)) == "edited before the push");
  // Queuing a check-in of it changes nothing: the create carries the record.
  queueCheckIn(a, p);
  auto same = outboxOf(a);
  REQUIRE(same.size() == 1);
  CHECK(same[0].kind == OutboxItem::Kind::kCreate);
  CHECK(same[0].serial == box[0].serial);

  markSent(a, {hills::opaque(p)});
  auto sent = outboxOf(a);
  REQUIRE(sent.size() == 1);
  CHECK(sent[0].kind == OutboxItem::Kind::kCreate);
  CHECK(sent[0].sent);
  CHECK(sent[0].serial == box[0].serial);
  CHECK(renameError(a, p).code() == ErrorCode::kNotBorrowed);
  CHECK(nameIn(valueOf(a, p)) == "edited before the push");
}

TEST_CASE_METHOD(GrantedToA, "after markSent the record cannot be updated", "[client][replica]") {
  auto p = createPart(a, 1);
  auto q = createPart(a, 2);
  markSent(a, {hills::opaque(p)});
  auto before = valueOf(a, p);

  auto e = renameError(a, p);
  CHECK(e.code() == ErrorCode::kNotBorrowed);
  CHECK_THAT(e.what(), Catch::Contains("pushed"));
  auto removal =
      errorOf([&] { a.write([&](hills::WriteTxn& txn) { txn.tree<plm::Part>().remove(p); }); });
  CHECK(removal.code() == ErrorCode::kNotBorrowed);
  CHECK(hex(valueOf(a, p)) == hex(before));
  // The other create was not marked: it stays editable.
  rename(a, q, 2, "still a local draft");
  CHECK(nameIn(valueOf(a, q)) == "still a local draft");
}

TEST_CASE(
    "a replica refuses edits of records it has not checked out and what only the server "
    "decides",
    "[client][replica]") {
  TempDir dir;
  hills::Database server(dir.sub("server"), serverOptions());
  ReplicaDatabase a(dir.sub("a"), "A");
  auto p = createPart(server, 1);
  auto q = createPart(server, 2);
  server.write([&](hills::WriteTxn& txn) { txn.tree<plm::Part>().release(q); });
  auto cursor = replicate(server, a, 0);
  auto before = valueOf(a, p);
  REQUIRE_FALSE(before.empty());

  auto update = renameError(a, p);
  CHECK(update.code() == ErrorCode::kNotBorrowed);
  CHECK_THAT(update.what(), Catch::Contains("'A'"));
  auto removal =
      errorOf([&] { a.write([&](hills::WriteTxn& txn) { txn.tree<plm::Part>().remove(p); }); });
  CHECK(removal.code() == ErrorCode::kNotBorrowed);
  CHECK(hex(valueOf(a, p)) == hex(before));

  // Even with the borrow, the server alone releases, revises and sets lifecycles.
  checkOut(server, p, "A");
  replicate(server, a, cursor);
  rename(a, p, 1, "edited by A");  // the borrow works
  a.write([&](hills::WriteTxn& txn) {
    auto parts = txn.tree<plm::Part>();
    auto release = errorOf([&] { parts.release(p); });
    CHECK(release.code() == ErrorCode::kInvalidArgument);
    auto lifecycle = errorOf([&] { parts.setLifecycle(p, 3); });
    CHECK(lifecycle.code() == ErrorCode::kInvalidArgument);
    auto revision = errorOf([&] { parts.newRevision(q); });
    CHECK(revision.code() == ErrorCode::kInvalidArgument);
    CHECK_THAT(revision.what(), Catch::Contains("server"));
  });
  a.read([&](const hills::ReadTxn& txn) {
    auto parts = txn.tree<plm::Part>();
    auto meta = parts.meta(p);
    REQUIRE(meta);
    CHECK(meta->state == hills::State::kDraft);
    CHECK(meta->lifecycle == 0);
    CHECK_FALSE(parts.contains(Key<plm::Part>{q.id, 1}));
  });
}

TEST_CASE_METHOD(GrantedToA,
                 "a refused create settled with a refusal keeps a conflict copy naming the reason",
                 "[client][replica]") {
  auto r = createPart(a, 1);
  auto value = valueOf(a, r);
  markSent(a, {hills::opaque(r)});
  auto item = outboxOf(a).at(0);
  CHECK(settle(a, item, "the id was not granted"));
  CHECK(outboxOf(a).empty());
  auto copies = conflictsOf(a);
  REQUIRE(copies.size() == 1);
  CHECK(copies[0].key == hills::opaque(r));
  CHECK(copies[0].brokenBy == "the id was not granted");
  CHECK(copies[0].fencing == 0);
  CHECK(hex(copies[0].value) == hex(value));

  // A refused check-in keeps nothing yet: its broken borrow will.
  auto p = createPart(server, 2);
  checkOut(server, p, "A");
  replicate(server, a, 0);
  rename(a, p, 2, "edited by A");
  queueCheckIn(a, p);
  auto checkInItem = outboxOf(a).at(0);
  REQUIRE(checkInItem.kind == OutboxItem::Kind::kCheckIn);
  CHECK(settle(a, checkInItem, "stale borrow"));
  CHECK(outboxOf(a).empty());
  CHECK(conflictsOf(a).size() == 1);

  // An accepted create keeps nothing.
  auto s = createPart(a, 3);
  auto accepted = outboxOf(a).at(0);
  REQUIRE(accepted.key == hills::opaque(s));
  CHECK(settle(a, accepted));
  CHECK(conflictsOf(a).size() == 1);
}

TEST_CASE_METHOD(GrantedToA,
                 "an answered entry is not pushed again and leaves the outbox with the next settle",
                 "[client][replica][answers]") {
  auto p = createPart(a, 1);
  auto q = createPart(a, 2);
  markSent(a, {hills::opaque(p), hills::opaque(q)});
  auto box = outboxOf(a);
  REQUIRE(box.size() == 2);
  auto answeredItem = box[0].key == hills::opaque(p) ? box[0] : box[1];

  a.replica().answered(answeredItem, "");
  CHECK(a.replica().hasAnswers());
  // Not pushed again, but still in the outbox: flush() waits for the settle.
  auto left = outboxOf(a);
  REQUIRE(left.size() == 1);
  CHECK(left[0].key == hills::opaque(q));
  a.read([&](const hills::ReadTxn& txn) {
    CHECK(a.replica().outboxLength(txn) == 2);
    CHECK(a.replica().queued(txn, hills::opaque(p)));
  });

  SECTION("a settle that does not commit keeps the answers") {
    CHECK_THROWS_AS(a.write([&](hills::WriteTxn& txn) {
      CHECK(a.replica().settleAnswered(txn) == 1);
      throw std::runtime_error("the apply failed");
    }),
                    std::runtime_error);
    CHECK(a.replica().hasAnswers());
    CHECK(outboxOf(a).size() == 1);
    a.read([&](const hills::ReadTxn& txn) { CHECK(a.replica().outboxLength(txn) == 2); });
  }

  auto settled = a.write([&](hills::WriteTxn& txn) { return a.replica().settleAnswered(txn); });
  CHECK(settled == 1);
  CHECK_FALSE(a.replica().hasAnswers());
  a.read([&](const hills::ReadTxn& txn) {
    CHECK(a.replica().outboxLength(txn) == 1);
    CHECK_FALSE(a.replica().queued(txn, hills::opaque(p)));
  });
  // Settled, the pushed create is the server's: it needs a borrow now.
  CHECK(renameError(a, p).code() == ErrorCode::kNotBorrowed);
  CHECK(a.write([&](hills::WriteTxn& txn) { return a.replica().settleAnswered(txn); }) == 0);
}

TEST_CASE_METHOD(LentToA, "an entry queued again after its answer stays in the outbox",
                 "[client][replica][answers]") {
  rename(a, p, 1, "edited by A");
  queueCheckIn(a, p, true);
  auto first = outboxOf(a).at(0);
  a.replica().answered(first, "");
  CHECK(outboxOf(a).empty());
  // Edited and checked in again before the answer was settled.
  rename(a, p, 1, "edited again");
  queueCheckIn(a, p, true);
  auto second = outboxOf(a);
  REQUIRE(second.size() == 1);
  CHECK(second[0].serial != first.serial);

  // The answer was to the entry queued before: nothing is dropped.
  CHECK(a.write([&](hills::WriteTxn& txn) { return a.replica().settleAnswered(txn); }) == 0);
  CHECK_FALSE(a.replica().hasAnswers());
  auto kept = outboxOf(a);
  REQUIRE(kept.size() == 1);
  CHECK(kept[0].serial == second[0].serial);
}

TEST_CASE_METHOD(GrantedToA, "a refused answer settled keeps the create as a conflict copy",
                 "[client][replica][answers]") {
  auto r = createPart(a, 1);
  markSent(a, {hills::opaque(r)});
  a.replica().answered(outboxOf(a).at(0), "the id was not granted");
  CHECK(conflictsOf(a).empty());
  a.write([&](hills::WriteTxn& txn) { a.replica().settleAnswered(txn); });
  auto copies = conflictsOf(a);
  REQUIRE(copies.size() == 1);
  CHECK(copies[0].key == hills::opaque(r));
  CHECK(copies[0].brokenBy == "the id was not granted");
}

TEST_CASE_METHOD(GrantedToA, "dropConflict removes the copies of one record", "[client][replica]") {
  auto p = createPart(server, 1);
  std::uint64_t cursor = 0;
  std::vector<std::uint64_t> fencings;
  for (int round = 0; round < 2; ++round) {
    fencings.push_back(checkOut(server, p, "A").fencing);
    cursor = replicate(server, a, cursor);
    rename(a, p, 1, "edit " + std::to_string(round));
    breakBorrow(server, p);
    cursor = replicate(server, a, cursor);
  }
  auto r = createPart(a, 2);
  auto item = outboxOf(a).at(0);
  settle(a, item, "refused");

  auto copies = conflictsOf(a);
  REQUIRE(copies.size() == 3);
  std::vector<const hills::ConflictCopy*> ofP;
  for (const auto& c : copies) {
    if (c.key == hills::opaque(p)) ofP.push_back(&c);
  }
  REQUIRE(ofP.size() == 2);
  // Oldest first within the record.
  CHECK(ofP[0]->fencing == fencings[0]);
  CHECK(nameIn(ofP[0]->value) == "edit 0");
  CHECK(ofP[1]->fencing == fencings[1]);
  CHECK(nameIn(ofP[1]->value) == "edit 1");

  dropConflict(a, p);
  auto left = conflictsOf(a);
  REQUIRE(left.size() == 1);
  CHECK(left[0].key == hills::opaque(r));
  CHECK(left[0].brokenBy == "refused");
  // A record without copies: nothing to drop.
  dropConflict(a, p);
  CHECK(conflictsOf(a).size() == 1);
}

TEST_CASE("the outbox and conflicts survive a reopen", "[client][replica]") {
  TempDir dir;
  hills::Database server(dir.sub("server"), serverOptions());
  std::vector<OutboxItem> box;
  std::vector<hills::ConflictCopy> copies;
  Key<plm::Part> created, held;
  {
    ReplicaDatabase a(dir.sub("a"), "A");
    grant(server, a);
    auto refused = createPart(a, 1);
    settle(a, outboxOf(a).at(0), "refused");
    created = createPart(a, 2);
    markSent(a, {hills::opaque(created)});
    held = createPart(server, 3);
    checkOut(server, held, "A");
    replicate(server, a, 0);
    rename(a, held, 3, "edited by A");
    queueCheckIn(a, held);
    box = outboxOf(a);
    copies = conflictsOf(a);
    REQUIRE(box.size() == 2);
    REQUIRE(copies.size() == 1);
    REQUIRE(copies[0].key == hills::opaque(refused));
  }
  ReplicaDatabase a(dir.sub("a"), "A");
  auto boxAfter = outboxOf(a);
  REQUIRE(boxAfter.size() == box.size());
  for (std::size_t i = 0; i < box.size(); ++i) {
    CAPTURE(i);
    CHECK(boxAfter[i].kind == box[i].kind);
    CHECK(boxAfter[i].key == box[i].key);
    // Pushes are marked in memory only: a reopened replica pushes again.
    CHECK_FALSE(boxAfter[i].sent);
    CHECK(boxAfter[i].keepBorrow == box[i].keepBorrow);
    CHECK(boxAfter[i].serial == box[i].serial);
  }
  auto copiesAfter = conflictsOf(a);
  REQUIRE(copiesAfter.size() == 1);
  CHECK(copiesAfter[0].key == copies[0].key);
  CHECK(copiesAfter[0].brokenBy == "refused");
  CHECK(copiesAfter[0].time == copies[0].time);
  CHECK(hex(copiesAfter[0].value) == hex(copies[0].value));
  // The rules that follow from them hold after the reopen too.
  auto mirror = borrowOf(a, held);
  REQUIRE(mirror);
  CHECK(mirror->returning);
  CHECK(renameError(a, held).code() == ErrorCode::kNotBorrowed);
  // The create marked sent before the reopen is unpushed again, so editable.
  rename(a, created, 2, "edited after the reopen");
  CHECK(a.read([&](const hills::ReadTxn& txn) {
    return txn.tree<plm::Part>().get(created)->name;
  }) == "edited after the reopen");
}

TEST_CASE(
    "the function given to setOnOutbox is called after commits that queue outbox entries and "
    "no others",
    "[client][replica]") {
  TempDir dir;
  hills::Database server(dir.sub("server"), serverOptions());
  int calls = 0;
  auto replica = std::make_shared<hills::client::Replica>("A");
  replica->setOnOutbox([&] { ++calls; });
  ReplicaDatabase a(dir.sub("a"), replica);
  grant(server, a);
  CHECK(calls == 0);
  auto created = createPart(a, 1);
  CHECK(calls == 1);
  // An edit of the unpushed create queues nothing new.
  rename(a, created, 1, "renamed");
  CHECK(calls == 1);
  // A transaction that fails queues nothing.
  CHECK_THROWS(a.write([&](hills::WriteTxn& txn) {
    txn.tree<plm::Part>().create(makePart(2));
    throw std::runtime_error("abandoned");
  }));
  CHECK(calls == 1);
  auto held = createPart(server, 3);
  checkOut(server, held, "A");
  replicate(server, a, 0);
  CHECK(calls == 1);  // applying the server's changes queues nothing
  queueCheckIn(a, held, true);
  CHECK(calls == 2);
}
TEST_CASE_METHOD(GrantedToA, "a push mark of an aborted transaction is undone",
                 "[client][replica]") {
  auto p = createPart(a, 1);
  CHECK_THROWS_AS(a.write([&](hills::WriteTxn& txn) {
    auto items = a.replica().outbox(txn);
    REQUIRE(items.size() == 1);
    a.replica().markSent(txn, items);
    // Inside the transaction that marked it, the create counts as pushed.
    CHECK(a.replica().outbox(txn).at(0).sent);
    throw std::runtime_error("the push failed");
  }),
                  std::runtime_error);

  auto box = outboxOf(a);
  REQUIRE(box.size() == 1);
  CHECK(box[0].key == hills::opaque(p));
  CHECK_FALSE(box[0].sent);
  rename(a, p, 1, "edited after the failed push");
  CHECK(nameIn(valueOf(a, p)) == "edited after the failed push");
}

TEST_CASE_METHOD(LentToA,
                 "outbox entries and conflict copies are told apart by serial numbers, not clocks",
                 "[client][replica]") {
  // Check-ins of one record queued in quick succession: each one a new
  // entry, and the answer to an older one settles none of them.
  queueCheckIn(a, p, true);
  auto oldest = outboxOf(a).at(0);
  auto last = oldest;
  for (int i = 0; i < 3; ++i) {
    queueCheckIn(a, p, true);
    auto now = outboxOf(a).at(0);
    CHECK(now.serial > last.serial);
    last = now;
  }
  CHECK_FALSE(settle(a, oldest));
  auto box = outboxOf(a);
  REQUIRE(box.size() == 1);
  CHECK(box[0].serial == last.serial);

  // Two conflict copies of one record kept in one transaction both stay,
  // oldest first.
  a.write([&](hills::WriteTxn& txn) {
    for (const char* name : {"first edit by A", "second edit by A"}) {
      auto part = makePart(1);
      part.name = name;
      txn.tree<plm::Part>().update(p, part);
      auto mine = txn.tree("parts").require(p.id, p.revision);
      Words value(mine.value().begin(), mine.value().end());
      // B's record, level with A's edit: it wins, and A's edit is kept.
      auto theirs = altered(value, [](hills::wire::Envelope::Builder env) {
        env.setAuthor("B");
        env.getBody().getAs<plm::Part::Capnp>().setName("edited by B");
      });
      applyMessage(txn, changeOf(hills::wire::ChangeKind::UPDATED, p, theirs, "B"));
    }
  });
  auto copies = conflictsOf(a);
  REQUIRE(copies.size() == 2);
  CHECK(nameIn(copies[0].value) == "first edit by A");
  CHECK(nameIn(copies[1].value) == "second edit by A");

  // Two check-ins of one record queued in one transaction: one moment, two
  // entries.
  auto [kept, returned] = a.write([&](hills::WriteTxn& txn) {
    a.replica().queueCheckIn(txn, hills::opaque(p), true);
    auto first = a.replica().outbox(txn).at(0);
    a.replica().queueCheckIn(txn, hills::opaque(p), false);
    auto second = a.replica().outbox(txn).at(0);
    return std::pair(first, second);
  });
  CHECK(kept.keepBorrow);
  CHECK_FALSE(returned.keepBorrow);
  CHECK(kept.serial > last.serial);
  CHECK(returned.serial > kept.serial);
  CHECK_FALSE(settle(a, kept));
  box = outboxOf(a);
  REQUIRE(box.size() == 1);
  CHECK(box[0].serial == returned.serial);
  CHECK_FALSE(box[0].keepBorrow);
  CHECK(settle(a, returned));
  CHECK(outboxOf(a).empty());
}

namespace {

// Applies the server's changes after `after` to the replica as its sync
// engine does: each change, then the settle of a create come back.
std::size_t followReturning(hills::Database& server, ReplicaDatabase& replica,
                            std::uint64_t after) {
  auto batch = logMessages(server, after).first;
  return replica.write([&](hills::WriteTxn& txn) {
    std::size_t settled = 0;
    for (auto& w : batch) {
      applyMessage(txn, w);
      capnp::FlatArrayMessageReader msg(kj::arrayPtr(w.data(), w.size()));
      if (replica.replica().settleReturned(txn, msg.getRoot<hills::wire::Change>())) ++settled;
    }
    return settled;
  });
}

}  // namespace

TEST_CASE_METHOD(GrantedToA,
                 "a create that comes back from the server leaves the outbox though its answer "
                 "was lost with a restart",
                 "[client][replica][answers][regression]") {
  auto p = createPart(a, 1);
  auto q = createPart(a, 2);
  std::uint64_t cursor = server.read([](const hills::ReadTxn& txn) { return txn.lastSequence(); });
  // Both were pushed and the server took them; their answers, and the
  // marks that they were pushed (markSent), went with a restart: to this
  // replica they are creates not pushed yet. A edits q before the server's
  // change of it comes back.
  for (auto key : {p, q}) {
    Words value = valueOf(a, key);
    server.write([&](hills::WriteTxn& txn) {
      hills::server::acceptCreate(txn, hills::opaque(key), bytesOf(value), "A");
    });
  }
  a.write([&](hills::WriteTxn& txn) {
    auto edited = makePart(2);
    edited.name = "edited before the server's change came";
    txn.tree<plm::Part>().update(q, edited);
  });
  CHECK(followReturning(server, a, cursor) == 1);
  auto left = outboxOf(a);
  REQUIRE(left.size() == 1);
  CHECK(left[0].key == hills::opaque(q));  // its edit is still to push
  // p is the server's now: removing it here needs a borrow, as after an answer.
  auto removal = errorOf([&] {
    a.write([&](hills::WriteTxn& txn) { txn.tree<plm::Part>().remove(p); });
  });
  CHECK(removal.code() == ErrorCode::kNotBorrowed);
  // The same change again settles nothing more.
  CHECK(followReturning(server, a, cursor) == 0);
}

TEST_CASE_METHOD(GrantedToA,
                 "a create pushed again with later edits settles when its update comes back",
                 "[client][replica][answers][regression]") {
  auto r = createPart(a, 1);
  std::uint64_t cursor = server.read([](const hills::ReadTxn& txn) { return txn.lastSequence(); });
  auto accept = [&] {
    Words value = valueOf(a, r);
    server.write([&](hills::WriteTxn& txn) {
      hills::server::acceptCreate(txn, hills::opaque(r), bytesOf(value), "A");
    });
  };
  // Pushed, its answer lost with a restart, edited here, pushed again:
  // the server takes the edit as an update of the create it holds.
  accept();
  a.write([&](hills::WriteTxn& txn) {
    auto edited = makePart(1);
    edited.name = "edited after a lost answer";
    txn.tree<plm::Part>().update(r, edited);
  });
  accept();
  // The create comes back with the older value, then the update with this one.
  CHECK(followReturning(server, a, cursor) == 1);
  CHECK(outboxOf(a).empty());
}
