// A replica that cannot apply one of the server's changes keeps following
// the log: the change waits in its quarantine until it can be applied,
// against real hills-server processes on 127.0.0.1.
#include <capnp/any.h>
#include <capnp/message.h>

#include <catch2/catch.hpp>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "hills/client.h"
#include "hills/indexes.h"
#include "hills/record.capnp.h"
#include "plm_fixtures.h"
#include "raw_lmdb.h"
#include "server_process.h"
#include "sync_fixtures.h"
#include "temp_dir.h"

using hills::ErrorCode;
using hills::Key;
using namespace hills::test;
using namespace std::chrono_literals;

namespace {

std::shared_ptr<hills::NameIndex<plm::Part>> uniqueNumbers() {
  hills::NameOptions unique;
  unique.unique = true;
  return std::make_shared<hills::NameIndex<plm::Part>>(
      "part-numbers", 1, [](hills::RecordTraits<plm::Part>::Reader p) { return std::string(p.getNumber()); }, unique);
}

plm::Part numbered(const std::string& number, int n) {
  auto p = makePart(n);
  p.number = number;
  return p;
}

// An indexer with a bug: it fails on every part whose name starts with
// "poison", as a program would on a value it does not expect.
class FragileIndex : public hills::KeyedIndexer {
 public:
  std::string name() const override { return "fragile"; }
  std::uint32_t version() const override { return 1; }
  std::string tree() const override { return "parts"; }

 protected:
  void keys(const hills::IndexedRecord& rec, std::vector<std::string>& out) const override {
    std::string name = rec.body().getAs<plm::capnp::Part>().getName();
    if (name.rfind("poison", 0) == 0) throw std::runtime_error("cannot index '" + name + "'");
    out.push_back(name);
  }
};

}  // namespace

TEST_CASE("two replicas that gave two parts one unique number offline both keep syncing, and a rename clears their quarantines",
          "[integration][quarantine]") {
  TempDir dir;
  auto config = writeServerConfig(dir.sub("server.json"));
  unsigned port = serverPort(dir.sub("server"), config);
  auto options = [&](const std::string& name) {
    auto o = clientOptions(name, "127.0.0.1:" + std::to_string(port));
    o.database.indexers = {uniqueNumbers()};
    return o;
  };
  hills::Client a(dir.sub("A"), options("A"));
  hills::Client b(dir.sub("B"), options("B"));
  // Offline, each gives a part the number the other's part has too.
  auto aBolt = a.db().write(
      [&](hills::WriteTxn& txn) { return txn.tree<plm::Part>().create(numbered("BOLT-1", 1)); });
  auto bBolt = b.db().write(
      [&](hills::WriteTxn& txn) { return txn.tree<plm::Part>().create(numbered("BOLT-1", 2)); });

  ServerProcess server(dir.sub("server"), config, port);
  REQUIRE(a.flush(10s));
  REQUIRE(b.flush(10s));
  REQUIRE(a.sync(10s));
  REQUIRE(b.sync(10s));

  // Each replica applied the other's part but for its number: it waits in
  // the quarantine, and the log went on past it.
  auto aWaiting = a.quarantine();
  REQUIRE(aWaiting.size() == 1);
  CHECK(aWaiting[0].code == ErrorCode::kAlreadyExists);
  CHECK(aWaiting[0].origin == "B");
  CHECK(aWaiting[0].kind == "created");
  CHECK_THAT(aWaiting[0].reason, Catch::Contains("BOLT-1"));
  CHECK(a.status().quarantined == 1);
  CHECK(b.status().quarantined == 1);
  CHECK(a.status().lastApplied == b.status().lastApplied);

  // What comes after still applies.
  auto later = createPart(b, 3);
  REQUIRE(b.flush(10s));
  REQUIRE(a.sync(10s));
  CHECK(partIn(a.db(), later));
  CHECK(a.status().lastApplied == a.status().serverSequence);

  // A renames its part and checks it in: B applies the rename, which
  // overtakes the create it could not apply; A's own index lets B's part in.
  a.checkOut(aBolt);
  a.db().write([&](hills::WriteTxn& txn) {
    auto p = *txn.tree<plm::Part>().get(aBolt);
    p.number = "BOLT-1A";
    txn.tree<plm::Part>().update(aBolt, p);
  });
  a.checkIn(aBolt);
  REQUIRE(a.flush(10s));
  REQUIRE(eventually([&] { return a.status().quarantined == 0; }, 10s));
  REQUIRE(b.sync(10s));
  CHECK(b.status().quarantined == 0);
  CHECK(b.quarantine().empty());
  for (auto* c : {&a, &b}) {
    auto aPart = partIn(c->db(), aBolt);
    auto bPart = partIn(c->db(), bBolt);
    REQUIRE(aPart);
    REQUIRE(bPart);
    CHECK(aPart->number == "BOLT-1A");
    CHECK(bPart->number == "BOLT-1");
  }
}

TEST_CASE("a change an indexer refuses waits in the quarantine, and the next version of the program applies it",
          "[integration][quarantine]") {
  TempDir dir;
  auto config = writeServerConfig(dir.sub("server.json"));
  ServerProcess server(dir.sub("server"), config);
  hills::Client a(dir.sub("A"), clientOptions("A", server.address()));
  REQUIRE(hasIds(a));
  Key<plm::Part> poisoned, fine;
  {
    auto o = clientOptions("B", server.address());
    o.database.indexers = {std::make_shared<FragileIndex>()};
    hills::Client b(dir.sub("B"), o);
    poisoned = a.db().write([](hills::WriteTxn& txn) {
      auto p = makePart(1);
      p.name = "poison pill";
      return txn.tree<plm::Part>().create(p);
    });
    fine = createPart(a, 2);
    REQUIRE(a.flush(10s));
    REQUIRE(b.sync(10s));
    CHECK(partIn(b.db(), fine));
    CHECK_FALSE(partIn(b.db(), poisoned));
    auto waiting = b.quarantine();
    REQUIRE(waiting.size() == 1);
    CHECK(waiting[0].key.id == poisoned.id);
    CHECK(waiting[0].code == ErrorCode::kInvalidArgument);
    CHECK_THAT(waiting[0].reason, Catch::Contains("fragile") && Catch::Contains("poison pill"));
    // Retrying with the same program changes nothing but the count.
    CHECK(b.retryQuarantine() == 1);
    CHECK(b.quarantine()[0].tries == 2);
    CHECK(b.status().lastApplied == a.status().lastApplied);
  }
  // The next version of the program has no such bug.
  hills::Client b(dir.sub("B"), clientOptions("B", server.address()));
  CHECK(b.quarantine().empty());
  auto part = partIn(b.db(), poisoned);
  REQUIRE(part);
  CHECK(part->name == "poison pill");
}

TEST_CASE("a change whose value does not decode as a record waits in the quarantine, and the replica follows the log past it",
          "[integration][quarantine]") {
  TempDir dir;
  auto config = writeServerConfig(dir.sub("server.json"));
  unsigned port;
  std::vector<capnp::word> good;
  {
    ServerProcess server(dir.sub("server"), config);
    port = server.port();
    hills::Client a(dir.sub("A"), clientOptions("A", server.address()));
    REQUIRE(hasIds(a));
    auto key = createPart(a, 1);
    REQUIRE(a.flush(10s));
    a.db().read([&](const hills::ReadTxn& txn) {
      auto v = txn.tree("parts").find(key.id, key.revision).value();
      good.assign(v.begin(), v.end());
    });
    // B follows the log from here (a fresh replica would start from a
    // snapshot of the trees, which the entry below is not in).
    hills::Client b(dir.sub("B"), clientOptions("B", server.address()));
    REQUIRE(b.sync(10s));
    REQUIRE(server.kill(SIGTERM) == 0);
  }
  // A server of an older version stored a part whose number is a struct:
  // the entry is put in its log as such a server would have.
  std::uint64_t poisonedSequence = 0;
  {
    hills::detail::ValueReader reader(kj::ArrayPtr<const capnp::word>(good.data(), good.size()));
    capnp::MallocMessageBuilder value(4096);
    value.setRoot(reader.getRoot<hills::wire::Envelope>());
    value.getRoot<hills::wire::Envelope>()
        .getBody()
        .getAs<capnp::AnyStruct>()
        .getPointerSection()[0]
        .initAsAnyStruct(1, 0);
    auto words = value.getSegmentsForOutput()[0];
    withRawTable(dir.sub("server"), "_log", true, [&](MDB_txn* txn, MDB_dbi log) {
      MDB_cursor* cursor;
      REQUIRE(mdb_cursor_open(txn, log, &cursor) == 0);
      MDB_val k, v;
      REQUIRE(mdb_cursor_get(cursor, &k, &v, MDB_LAST) == 0);
      for (std::size_t i = 0; i < 8; ++i) {
        poisonedSequence = (poisonedSequence << 8) | static_cast<unsigned char*>(k.mv_data)[i];
      }
      mdb_cursor_close(cursor);
      ++poisonedSequence;
      capnp::MallocMessageBuilder entry;
      auto change = entry.initRoot<hills::wire::Change>();
      change.setSequence(poisonedSequence);
      change.setKind(hills::wire::ChangeKind::CREATED);
      change.setTree("parts");
      change.setId(1ull << 40);
      change.setOrigin("old-server");
      change.setValue(kj::arrayPtr(words.begin(), words.size()).asBytes());
      auto segment = entry.getSegmentsForOutput();
      REQUIRE(segment.size() == 1);
      unsigned char key[8];
      for (int i = 0; i < 8; ++i) key[i] = static_cast<unsigned char>(poisonedSequence >> (56 - 8 * i));
      MDB_val kk{8, key}, vv{segment[0].asBytes().size(), const_cast<kj::byte*>(segment[0].asBytes().begin())};
      REQUIRE(mdb_put(txn, log, &kk, &vv, 0) == 0);
    });
  }
  ServerProcess server(dir.sub("server"), config, port);
  hills::Client a(dir.sub("A"), clientOptions("A", server.address()));
  hills::Client b(dir.sub("B"), clientOptions("B", server.address()));
  REQUIRE(b.sync(10s));
  auto waiting = b.quarantine();
  REQUIRE(waiting.size() == 1);
  CHECK(waiting[0].sequence == poisonedSequence);
  CHECK(waiting[0].code == ErrorCode::kCorrupt);
  CHECK_THAT(waiting[0].reason, Catch::Contains("field 'number'"));
  // The log goes on past it.
  auto later = createPart(a, 2);
  REQUIRE(a.flush(10s));
  REQUIRE(b.sync(10s));
  CHECK(partIn(b.db(), later));
  CHECK(b.status().lastApplied == b.status().serverSequence);
  CHECK(b.status().quarantined == 1);
}
