// The sessions of a real hills-server (server/src/session.cc): borrows that
// outlive a restart, refused hellos, read-only clients, broken borrows and
// the calls that only the server may make (release, new revision, lifecycle).
#include <catch2/catch.hpp>
#include <memory>

#include "hills/client.h"
#include "plm_fixtures.h"
#include "raw_session.h"
#include "server_process.h"
#include "sync_fixtures.h"
#include "temp_dir.h"

using hills::ErrorCode;
using hills::Key;
using hills::OpaqueKey;
using namespace hills::test;
using namespace std::chrono_literals;

namespace {

std::optional<hills::RecordMeta> metaIn(hills::Database& db, Key<plm::Part> key) {
  return db.read([&](const hills::ReadTxn& txn) { return txn.tree<plm::Part>().meta(key); });
}

void renamePart(hills::Client& client, Key<plm::Part> key, const std::string& name) {
  client.db().write([&](hills::WriteTxn& txn) {
    auto p = *txn.tree<plm::Part>().get(key);
    p.name = name;
    txn.tree<plm::Part>().update(key, p);
  });
}

// The part a conflict copy holds (a stored value: a single-segment message
// whose root is the envelope).
plm::Part partOf(const hills::ConflictCopy& copy) {
  hills::detail::ValueReader reader(
      kj::ArrayPtr<const capnp::word>(copy.value.data(), copy.value.size()));
  auto env = reader.getRoot<hills::wire::Envelope>();
  plm::Part out{};
  hills::RecordTraits<plm::Part>::read(env.getBody().getAs<hills::RecordTraits<plm::Part>::Capnp>(),
                                       out);
  return out;
}

}  // namespace

TEST_CASE("a borrow survives a server restart", "[integration][session][borrow]") {
  TempDir dir;
  auto config = hills::test::writeServerConfig(dir.sub("server.json"));
  auto server = std::make_unique<ServerProcess>(dir.sub("server"), config);
  const unsigned port = server->port();
  const std::string address = server->address();

  hills::Client a(dir.sub("a"), clientOptions("A", address));
  REQUIRE(a.waitConnected(10s));
  REQUIRE(hasIds(a));
  auto key = createPart(a, 1);
  REQUIRE(a.sync(10s));
  auto borrow = a.checkOut(key);
  CHECK(borrow.holder == "A");
  CHECK(borrow.fencing > 0);

  // A clean stop: everything acknowledged was committed.
  REQUIRE(server->kill(SIGTERM) == 0);
  REQUIRE(eventually([&] { return !a.status().connected; }));
  CHECK_THAT(server->log(), Catch::Contains("SIGTERM: stopping"));
  server.reset();

  server = std::make_unique<ServerProcess>(dir.sub("server"), config, port);
  REQUIRE(server->port() == port);

  // B first meets the restarted server: the borrow is still A's there.
  hills::Client b(dir.sub("b"), clientOptions("B", address));
  REQUIRE(b.waitConnected(10s));
  REQUIRE(b.sync(10s));
  REQUIRE(partIn(b.db(), key));
  auto mirrored = b.borrows();
  REQUIRE(mirrored.size() == 1);
  CHECK(mirrored[0].holder == "A");
  CHECK(mirrored[0].fencing == borrow.fencing);
  auto refused = errorOf([&] { b.checkOut(key); });
  CHECK(refused.code() == ErrorCode::kBorrowed);
  CHECK_THAT(refused.what(), Catch::Contains("'A'"));

  // A reconnects by itself and returns its edit with the old fencing number.
  REQUIRE(a.waitConnected(10s));
  CHECK(a.status().reconnects >= 1);
  renamePart(a, key, "edited across a restart");
  a.checkIn(key);
  REQUIRE(a.sync(10s));
  CHECK(a.status().outbox == 0);
  CHECK(a.status().refused == 0);
  CHECK(a.conflicts().empty());
  CHECK(a.borrows().empty());

  REQUIRE(eventually([&] { return b.borrows().empty(); }));
  auto granted = b.checkOut(key);
  CHECK(granted.holder == "B");
  CHECK(granted.fencing > borrow.fencing);
  CHECK(partIn(b.db(), key)->name == "edited across a restart");
}

TEST_CASE("a bad token is refused and the server stays up", "[integration][session][hello]") {
  TempDir dir;
  auto config = hills::test::writeServerConfig(dir.sub("server.json"));
  ServerProcess server(dir.sub("server"), config);

  SECTION("a wrong token") {
    auto options = clientOptions("A", server.address());
    options.token = "not-A-token";
    hills::Client bad(dir.sub("bad"), options);
    CHECK(errorOf([&] { bad.waitConnected(10s); }).code() == ErrorCode::kDenied);
    REQUIRE(eventually([&] { return !bad.status().lastError.empty(); }));
    auto status = bad.status();
    CHECK_FALSE(status.connected);
    CHECK(status.serverUuid.empty());
    CHECK_THAT(status.lastError, Catch::Contains("token"));
    CHECK_THAT(status.lastError, Catch::Contains("'A'"));
    CHECK(status.refusedBy == ErrorCode::kDenied);
    CHECK(errorOf([&] { bad.checkOut(Key<plm::Part>{1, 0}); }).code() == ErrorCode::kOffline);

    // The server goes on serving others.
    hills::Client b(dir.sub("b"), clientOptions("B", server.address()));
    REQUIRE(b.waitConnected(10s));
    CHECK_FALSE(b.status().serverUuid.empty());
    CHECK_FALSE(bad.status().connected);
    REQUIRE(eventually([&] {
      return server.log().find("the token of client 'A' is wrong") != std::string::npos;
    }));
    auto log = server.log();
    CHECK_THAT(log, Catch::Contains("refused a hello from 127.0.0.1:"));
    CHECK_THAT(log, Catch::Contains("client 'B' connected"));
    CHECK_THAT(log, !Catch::Contains("client 'A' connected"));
  }

  SECTION("an unknown client name") {
    hills::Client unknown(dir.sub("unknown"), clientOptions("nobody", server.address()));
    CHECK(errorOf([&] { unknown.waitConnected(10s); }).code() == ErrorCode::kDenied);
    REQUIRE(eventually([&] { return !unknown.status().lastError.empty(); }));
    auto status = unknown.status();
    CHECK_FALSE(status.connected);
    CHECK(status.serverUuid.empty());
    CHECK_THAT(status.lastError, Catch::Contains("'nobody'"));

    hills::Client c(dir.sub("c"), clientOptions("C", server.address()));
    REQUIRE(c.waitConnected(10s));
    CHECK_FALSE(unknown.status().connected);
    REQUIRE(eventually([&] {
      return server.log().find("the server knows no client 'nobody'") != std::string::npos;
    }));
    auto log = server.log();
    CHECK_THAT(log, Catch::Contains("refused a hello from 127.0.0.1:"));
    CHECK_THAT(log, Catch::Contains("client 'C' connected"));
    CHECK_THAT(log, !Catch::Contains("client 'nobody' connected"));
  }
}

TEST_CASE("a read-only client cannot write", "[integration][session][permissions]") {
  TempDir dir;
  auto config = hills::test::writeServerConfig(dir.sub("server.json"));
  ServerProcess server(dir.sub("server"), config);

  hills::Client a(dir.sub("a"), clientOptions("A", server.address()));
  REQUIRE(a.waitConnected(10s));
  REQUIRE(hasIds(a));
  std::vector<Key<plm::Part>> keys;
  for (int i = 0; i < 3; ++i) keys.push_back(createPart(a, i));
  REQUIRE(a.sync(10s));

  hills::Client reader(dir.sub("reader"), clientOptions("reader", server.address()));
  bool readerConnected = reader.waitConnected(10s);
  INFO("reader's last error: '" << reader.status().lastError << "', reconnects "
                                << reader.status().reconnects);
  REQUIRE(readerConnected);
  CHECK(reader.status().connected);
  CHECK_FALSE(reader.status().serverUuid.empty());
  REQUIRE(reader.sync(10s));
  CHECK(partCount(reader.db()) == 3);

  // Borrowing needs the write permission.
  auto denied = errorOf([&] { reader.checkOut(keys[0]); });
  CHECK(denied.code() == ErrorCode::kDenied);
  CHECK_THAT(denied.what(), Catch::Contains("'reader'"));

  // No ranges are granted to it, so it cannot create either.
  CHECK(reader.status().idsLeft["parts"] == 0);
  auto noIds = errorOf([&] { createPart(reader, 99); });
  CHECK(noIds.code() == ErrorCode::kNoIds);
  CHECK(reader.status().outbox == 0);

  // Nor edit: it holds no borrow.
  auto notBorrowed = errorOf([&] { renamePart(reader, keys[1], "reader was here"); });
  CHECK(notBorrowed.code() == ErrorCode::kNotBorrowed);

  // It still follows A's changes, live.
  auto later = createPart(a, 3);
  REQUIRE(a.sync(10s));
  REQUIRE(eventually([&] { return partIn(reader.db(), later).has_value(); }));
  CHECK(partIn(reader.db(), later)->name == makePart(3).name);
  a.checkOut(keys[1]);
  renamePart(a, keys[1], "renamed by A");
  a.checkIn(keys[1]);
  REQUIRE(a.sync(10s));
  REQUIRE(eventually([&] { return partIn(reader.db(), keys[1])->name == "renamed by A"; }));

  // The refusals did not cost the reader its session.
  auto status = reader.status();
  CHECK(status.connected);
  CHECK(status.reconnects == 0);
  CHECK_THAT(server.log(), Catch::Contains("client 'reader' connected"));
}

TEST_CASE("a stale fencing number is refused after an admin break",
          "[integration][session][borrow]") {
  TempDir dir;
  auto config = hills::test::writeServerConfig(dir.sub("server.json"));
  ServerProcess server(dir.sub("server"), config);

  hills::Client a(dir.sub("a"), clientOptions("A", server.address()));
  hills::Client b(dir.sub("b"), clientOptions("B", server.address()));
  hills::Client admin(dir.sub("admin"), clientOptions("admin", server.address()));
  Recorder aEvents(a.db()), bEvents(b.db()), adminEvents(admin.db());
  REQUIRE(a.waitConnected(10s));
  REQUIRE(b.waitConnected(10s));
  REQUIRE(admin.waitConnected(10s));
  REQUIRE(hasIds(a));

  auto key = createPart(a, 7);
  const OpaqueKey opaqueKey = hills::opaque(key);
  const std::string original = makePart(7).name;
  REQUIRE(a.sync(10s));
  REQUIRE(eventually([&] { return partIn(b.db(), key) && partIn(admin.db(), key); }));

  // Only an administrator may break a borrow.
  auto borrow = a.checkOut(key);
  auto notAdmin = errorOf([&] { b.breakBorrow(opaqueKey); });
  CHECK(notAdmin.code() == ErrorCode::kDenied);

  // A edits and, before it checks in, the administrator takes the borrow.
  renamePart(a, key, "A's lost edit");
  auto broken = admin.breakBorrow(opaqueKey);
  CHECK(broken.holder == "A");
  CHECK(broken.fencing == borrow.fencing);
  CHECK(admin.borrows().empty());

  // A's check-in is refused: at once when the break arrived already, else
  // by the server (or dropped when the break arrives before it is pushed).
  try {
    a.checkIn(key);
  } catch (const hills::Error& e) {
    CHECK(e.code() == ErrorCode::kNotBorrowed);
  }
  REQUIRE(a.sync(10s));
  CHECK(a.status().outbox == 0);

  // The edit is kept as a conflict copy; the record is the server's again.
  REQUIRE(eventually([&] { return a.conflicts().size() == 1; }));
  auto copies = a.conflicts();
  REQUIRE(copies.size() == 1);
  CHECK(copies[0].key == opaqueKey);
  CHECK(copies[0].brokenBy == "admin");
  CHECK(copies[0].fencing == borrow.fencing);
  REQUIRE_FALSE(copies[0].value.empty());
  CHECK(partOf(copies[0]).name == "A's lost edit");
  CHECK(partIn(a.db(), key)->name == original);
  CHECK(partIn(b.db(), key)->name == original);
  CHECK(partIn(admin.db(), key)->name == original);
  CHECK(a.borrows().empty());
  // Nor may A go on editing without a new borrow.
  CHECK(errorOf([&] { renamePart(a, key, "again"); }).code() == ErrorCode::kNotBorrowed);

  // B borrows it now, and its check-in goes through.
  auto granted = b.checkOut(key);
  CHECK(granted.holder == "B");
  CHECK(granted.fencing > borrow.fencing);
  renamePart(b, key, "B's edit");
  b.checkIn(key);
  REQUIRE(b.sync(10s));
  CHECK(b.status().refused == 0);
  CHECK(b.status().outbox == 0);
  CHECK(b.conflicts().empty());
  for (auto* client : {&a, &b, &admin}) {
    REQUIRE(eventually([&] { return partIn(client->db(), key)->name == "B's edit"; }));
  }
  CHECK(a.conflicts().size() == 1);  // kept until the application drops it

  // Every client heard of the break, naming the administrator.
  for (auto* events : {&aEvents, &bEvents, &adminEvents}) {
    REQUIRE(eventually([&] { return !events->find(hills::sync::kBorrowBroken).empty(); }));
    auto e = events->find(hills::sync::kBorrowBroken).front();
    CHECK(e.key == opaqueKey);
    CHECK(e.origin == "admin");
  }
  CHECK_THAT(server.log(), Catch::Contains("client 'admin' broke the borrow of") &&
                               Catch::Contains("held by 'A'"));
}

TEST_CASE("a check-in queued offline is not stored after an admin break",
          "[integration][session][borrow]") {
  TempDir dir;
  auto config = hills::test::writeServerConfig(dir.sub("server.json"));
  ServerProcess server(dir.sub("server"), config);

  hills::Client admin(dir.sub("admin"), clientOptions("admin", server.address()));
  REQUIRE(admin.waitConnected(10s));
  Key<plm::Part> key;
  hills::BorrowInfo borrow;
  const std::string original = makePart(5).name;
  {
    hills::Client a(dir.sub("a"), clientOptions("A", server.address()));
    REQUIRE(a.waitConnected(10s));
    REQUIRE(hasIds(a));
    key = createPart(a, 5);
    REQUIRE(a.sync(10s));
    borrow = a.checkOut(key);
  }
  {
    // Offline, A edits and checks in: the check-in waits in the outbox.
    hills::Client a(dir.sub("a"), clientOptions("A", ""));
    renamePart(a, key, "A's offline edit");
    a.checkIn(key);
    CHECK(a.status().outbox == 1);
    auto held = a.borrows();
    REQUIRE(held.size() == 1);
    CHECK(held[0].returning);
  }

  // Meanwhile the administrator takes the borrow.
  REQUIRE(eventually([&] { return admin.borrows().size() == 1; }));
  auto broken = admin.breakBorrow(hills::opaque(key));
  CHECK(broken.holder == "A");
  CHECK(broken.fencing == borrow.fencing);

  // Back online, A's check-in does not reach the record (refused by the
  // server or dropped when the break arrives first); the edit is kept.
  hills::Client a(dir.sub("a"), clientOptions("A", server.address()));
  REQUIRE(a.waitConnected(10s));
  REQUIRE(a.sync(10s));
  REQUIRE(eventually([&] { return a.status().outbox == 0 && a.conflicts().size() == 1; }));
  auto copies = a.conflicts();
  REQUIRE(copies.size() == 1);
  CHECK(copies[0].key == hills::opaque(key));
  CHECK(copies[0].brokenBy == "admin");
  CHECK(copies[0].fencing == borrow.fencing);
  REQUIRE_FALSE(copies[0].value.empty());
  CHECK(partOf(copies[0]).name == "A's offline edit");
  CHECK(partIn(a.db(), key)->name == original);
  CHECK(a.borrows().empty());
  REQUIRE(admin.sync(10s));
  CHECK(partIn(admin.db(), key)->name == original);

  // The record is free: the administrator's client may borrow it.
  auto granted = admin.checkOut(key);
  CHECK(granted.holder == "admin");
  CHECK(granted.fencing > borrow.fencing);
}

TEST_CASE("release and new revision go through the server", "[integration][session][revision]") {
  TempDir dir;
  auto config = hills::test::writeServerConfig(dir.sub("server.json"));
  ServerProcess server(dir.sub("server"), config);

  hills::Client a(dir.sub("a"), clientOptions("A", server.address()));
  hills::Client b(dir.sub("b"), clientOptions("B", server.address()));
  Recorder bEvents(b.db());
  REQUIRE(a.waitConnected(10s));
  REQUIRE(b.waitConnected(10s));
  REQUIRE(hasIds(a));

  auto key = createPart(a, 11);
  const OpaqueKey opaqueKey = hills::opaque(key);
  REQUIRE(a.sync(10s));
  REQUIRE(eventually([&] { return partIn(b.db(), key).has_value(); }));

  // A releases its edited draft: the edit goes first, then the release.
  a.checkOut(key);
  renamePart(a, key, "released by A");
  a.release(opaqueKey);
  CHECK(metaIn(a.db(), key)->state == hills::State::kReleased);
  CHECK(partIn(a.db(), key)->name == "released by A");
  CHECK(a.borrows().empty());
  REQUIRE(eventually([&] { return metaIn(b.db(), key)->state == hills::State::kReleased; }));
  CHECK(partIn(b.db(), key)->name == "released by A");
  {
    bool released =
        eventually([&] { return !bEvents.find(hills::EventKind::kReleased, "A").empty(); });
    std::string seen;
    for (auto& e : bEvents.find(hills::EventKind::kReleased)) seen += "'" + e.origin + "' ";
    INFO("origins of the kReleased events B saw: " << seen);
    REQUIRE(released);
  }
  CHECK(b.borrows().empty());

  // Released: no borrow, no second release.
  CHECK(errorOf([&] { b.checkOut(key); }).code() == ErrorCode::kReleased);
  CHECK(errorOf([&] { b.release(opaqueKey); }).code() == ErrorCode::kReleased);

  // A new revision, checked out to A.
  CHECK(a.newRevision(opaqueKey) == 1);
  const Key<plm::Part> next{key.id, 1};
  const OpaqueKey opaqueNext = hills::opaque(next);
  auto aBorrows = a.borrows();
  REQUIRE(aBorrows.size() == 1);
  CHECK(aBorrows[0].key == opaqueNext);
  CHECK(aBorrows[0].holder == "A");
  CHECK(metaIn(a.db(), next)->state == hills::State::kDraft);
  REQUIRE(eventually([&] { return metaIn(b.db(), next).has_value(); }));
  CHECK(metaIn(b.db(), next)->state == hills::State::kDraft);
  CHECK(partIn(b.db(), next)->name == "released by A");
  REQUIRE(eventually([&] { return b.borrows().size() == 1; }));
  CHECK(b.borrows()[0].holder == "A");
  CHECK(errorOf([&] { b.checkOut(next); }).code() == ErrorCode::kBorrowed);
  // Revision 0 is not the newest any more.
  CHECK(errorOf([&] { b.newRevision(opaqueKey); }).code() == ErrorCode::kNotLatest);

  // B sets the lifecycle of the released revision 0; A sees it.
  b.setLifecycle(opaqueKey, 7);
  CHECK(metaIn(b.db(), key)->lifecycle == 7);
  REQUIRE(eventually([&] { return metaIn(a.db(), key)->lifecycle == 7; }));
  CHECK(metaIn(a.db(), key)->state == hills::State::kReleased);
  // Not on A's revision 1 while A holds it.
  CHECK(errorOf([&] { b.setLifecycle(opaqueNext, 3); }).code() == ErrorCode::kBorrowed);

  // A edits its new draft and checks it in.
  renamePart(a, next, "revision 1 by A");
  a.checkIn(next);
  REQUIRE(a.sync(10s));
  REQUIRE(eventually([&] { return partIn(b.db(), next)->name == "revision 1 by A"; }));
  CHECK(partIn(b.db(), key)->name == "released by A");

  // A replica cannot release, make revisions or set lifecycles by itself.
  auto local = errorOf(
      [&] { a.db().write([&](hills::WriteTxn& txn) { txn.tree<plm::Part>().release(next); }); });
  CHECK(local.code() == ErrorCode::kInvalidArgument);
  CHECK(errorOf([&] {
          b.db().write([&](hills::WriteTxn& txn) { txn.tree<plm::Part>().setLifecycle(key, 9); });
        }).code() == ErrorCode::kInvalidArgument);
  CHECK(errorOf([&] {
          b.db().write([&](hills::WriteTxn& txn) { txn.tree<plm::Part>().newRevision(next); });
        }).code() == ErrorCode::kInvalidArgument);
  CHECK(metaIn(a.db(), next)->state == hills::State::kDraft);
  CHECK(metaIn(b.db(), key)->lifecycle == 7);
}

namespace {

// Notes each batch of changes it is sent, as "change", in `order`.
class NotingListener final : public hills::sync::Listener::Server {
 public:
  explicit NotingListener(std::vector<std::string>& order) : order_(order) {}

 protected:
  kj::Promise<void> changes(ChangesContext context) override {
    if (context.getParams().getChanges().size() != 0) order_.push_back("change");
    return kj::READY_NOW;
  }

 private:
  std::vector<std::string>& order_;
};

}  // namespace

TEST_CASE("the server answers a push before it feeds the change back to the client that pushed it",
          "[integration][session][push]") {
  // The client then settles its outbox in the commit that applies the
  // change, instead of a commit of its own.
  TempDir dir;
  auto config = writeServerConfig(dir.sub("server.json"));
  ServerProcess server(dir.sub("server"), config);
  RawClient a(server.port(), "A");
  auto& ws = a.io.waitScope;
  std::vector<std::string> order;
  auto subscribe = a.session.subscribeRequest();
  subscribe.setAfter(0);
  subscribe.setListener(kj::heap<NotingListener>(order));
  auto subscription = subscribe.send().wait(ws).getSubscription();
  auto grant = a.session.grantIdsRequest();
  grant.setTree("parts");
  grant.setCount(10);
  std::uint64_t id = grant.send().wait(ws).getStart();

  for (int i = 0; i < 5; ++i) {
    order.clear();
    auto value =
        partValue(dir.sub("value-" + std::to_string(i)), "A", i, [](capnp::AnyStruct::Builder) {});
    auto answered = a.pushCreate(id + i, value).send().then([&](auto&& response) {
      CHECK(response.getOutcomes()[0].getError() == "");
      order.push_back("answer");
    });
    answered.wait(ws);
    // The change comes within a bounded number of turns after the answer.
    for (int turn = 0; turn < 1000 && order.size() < 2; ++turn) {
      a.io.provider->getTimer().afterDelay(1 * kj::MILLISECONDS).wait(ws);
    }
    INFO("push " << i);
    CHECK(order == std::vector<std::string>{"answer", "change"});
  }
}
