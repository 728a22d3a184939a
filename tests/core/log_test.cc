#include <capnp/serialize.h>

#include <catch2/catch.hpp>

#include "hills/generic.h"
#include "plm_fixtures.h"
#include "state.h"
#include "temp_dir.h"

using hills::ErrorCode;
using hills::Key;
using hills::test::makePart;
using hills::test::plmOptions;
using hills::test::TempDir;

namespace {

hills::Options logged() {
  auto o = plmOptions();
  o.changeLog = true;
  return o;
}

struct Entry {
  std::uint64_t sequence;
  hills::wire::ChangeKind kind;
  std::string tree;
  std::uint64_t id;
  std::uint32_t revision;
  std::string name;  // of the part the value holds; empty for a removal
};

std::vector<Entry> entries(hills::Database& db, std::uint64_t after = 0) {
  return db.read([&](const hills::ReadTxn& txn) {
    std::vector<Entry> out;
    txn.changes(after, [&](hills::wire::Change::Reader c) {
      std::string name;
      if (c.getValue().size() > 0 && c.getTree() == "parts") {
        auto bytes = c.getValue();
        hills::detail::ValueReader value({reinterpret_cast<const capnp::word*>(bytes.begin()),
                                          bytes.size() / sizeof(capnp::word)});
        name = value.getRoot<hills::wire::Envelope>().getBody().getAs<plm::Part::Capnp>().getName();
      }
      out.push_back(
          Entry{c.getSequence(), c.getKind(), c.getTree(), c.getId(), c.getRevision(), name});
      return true;
    });
    return out;
  });
}

}  // namespace

TEST_CASE("the change log keeps every change in order with its stored value", "[core][log]") {
  TempDir dir;
  hills::Database db(dir.path(), logged());
  auto key = db.write([](hills::WriteTxn& txn) {
    auto parts = txn.tree<plm::Part>();
    auto k = parts.create(makePart(1));
    auto p = makePart(1);
    p.name = "renamed";
    parts.update(k, p);
    parts.release(k);
    auto next = parts.newRevision(k);
    parts.remove(next);
    return k;
  });
  using K = hills::wire::ChangeKind;
  auto log = entries(db);
  REQUIRE(log.size() == 5);
  CHECK(log[0].kind == K::CREATED);
  CHECK(log[0].name == "part 1");
  CHECK(log[1].kind == K::UPDATED);
  CHECK(log[1].name == "renamed");
  CHECK(log[2].kind == K::RELEASED);
  CHECK(log[3].kind == K::NEW_REVISION);
  CHECK(log[3].revision == 1);
  CHECK(log[4].kind == K::REMOVED);
  CHECK(log[4].name.empty());
  for (std::size_t i = 0; i < log.size(); ++i) {
    CHECK(log[i].sequence == i + 1);
    CHECK(log[i].tree == "parts");
    CHECK(log[i].id == key.id);
  }
  db.read([](const hills::ReadTxn& txn) { CHECK(txn.lastSequence() == 5); });
  CHECK(entries(db, 3).size() == 2);
}

TEST_CASE("an aborted transaction leaves no change-log entries and sequences stay dense",
          "[core][log]") {
  TempDir dir;
  {
    hills::Database db(dir.path(), logged());
    db.write([](hills::WriteTxn& txn) { txn.tree<plm::Part>().create(makePart(1)); });
    CHECK_THROWS(db.write([](hills::WriteTxn& txn) {
      txn.tree<plm::Part>().create(makePart(2));
      throw std::runtime_error("abort");
    }));
  }
  // Once kept, the log stays on even for a program that does not ask for it.
  hills::Database db(dir.path(), plmOptions());
  db.write([](hills::WriteTxn& txn) { txn.tree<plm::Part>().create(makePart(3)); });
  auto log = entries(db);
  REQUIRE(log.size() == 2);
  CHECK(log[0].sequence == 1);
  CHECK(log[1].sequence == 2);
  CHECK(log[1].name == "part 3");
}

TEST_CASE("a dropped change leaves a gap, the newest cannot be dropped, and numbers never repeat",
          "[core][log]") {
  TempDir dir;
  {
    hills::Database db(dir.path(), logged());
    db.write([](hills::WriteTxn& txn) {
      auto parts = txn.tree<plm::Part>();
      for (int i = 1; i <= 3; ++i) parts.create(makePart(i));
    });
    db.write([](hills::WriteTxn& txn) {
      CHECK(txn.dropChange(2));
      CHECK_FALSE(txn.dropChange(2));  // gone already
    });
  }
  hills::Database db(dir.path(), logged());
  auto log = entries(db);
  REQUIRE(log.size() == 2);
  CHECK(log[0].sequence == 1);
  CHECK(log[1].sequence == 3);
  try {
    db.write([](hills::WriteTxn& txn) { txn.dropChange(3); });
    FAIL("the newest entry was dropped");
  } catch (const hills::Error& e) {
    CHECK(e.code() == ErrorCode::kInvalidArgument);
    CHECK_THAT(e.what(), Catch::Contains("newest"));
  }
  // In a transaction that appended, the newest is the one it appended.
  db.write([](hills::WriteTxn& txn) {
    txn.tree<plm::Part>().create(makePart(4));
    CHECK(txn.dropChange(3));
    CHECK_THROWS_AS(txn.dropChange(4), hills::Error);
  });
  log = entries(db);
  REQUIRE(log.size() == 2);
  CHECK(log[1].sequence == 4);
  CHECK(log[1].name == "part 4");
  db.read([](const hills::ReadTxn& txn) { CHECK(txn.lastSequence() == 4); });
}

TEST_CASE("a database without a change log says so when asked for changes", "[core][log]") {
  TempDir dir;
  hills::Database db(dir.path(), plmOptions());
  db.read([](const hills::ReadTxn& txn) {
    CHECK(txn.lastSequence() == 0);
    try {
      txn.changes(0, [](hills::wire::Change::Reader) { return true; });
      FAIL("no error");
    } catch (const hills::Error& e) {
      CHECK(e.code() == ErrorCode::kInvalidArgument);
      CHECK_THAT(e.what(), Catch::Contains("change log"));
    }
  });
}

TEST_CASE("a replica that applies another database's change log ends with the same records",
          "[core][log][replication]") {
  TempDir dir;
  hills::Database origin(dir.sub("origin"), logged());
  hills::Database replica(dir.sub("replica"), logged());
  std::vector<hills::Event> seen;
  auto sub = replica.subscribe({}, [&](const hills::Event& e) { seen.push_back(e); });
  auto replicate = [&](std::uint64_t after) {
    std::vector<std::vector<capnp::word>> batch;
    origin.read([&](const hills::ReadTxn& txn) {
      txn.changes(after, [&](hills::wire::Change::Reader c) {
        capnp::MallocMessageBuilder copy;
        copy.setRoot(c);
        auto words = capnp::messageToFlatArray(copy);
        batch.emplace_back(words.begin(), words.end());
        return true;
      });
    });
    replica.write([&](hills::WriteTxn& txn) {
      for (auto& w : batch) {
        capnp::FlatArrayMessageReader msg(kj::ArrayPtr<const capnp::word>(w.data(), w.size()));
        auto c = msg.getRoot<hills::wire::Change>();
        txn.tree(c.getTree().cStr()).applyChange(c, "origin");
      }
    });
    return batch.size();
  };
  auto [a, b] = origin.write([](hills::WriteTxn& txn) {
    auto parts = txn.tree<plm::Part>();
    auto a = parts.create(makePart(1));
    auto b = parts.create(makePart(2));
    plm::Bom bom{};
    bom.assembly = a;
    txn.tree<plm::Bom>().create(bom);
    return std::pair(a, b);
  });
  CHECK(replicate(0) == 3);
  origin.write([&](hills::WriteTxn& txn) {
    auto parts = txn.tree<plm::Part>();
    auto p = makePart(1);
    p.name = "changed at the origin";
    parts.update(a, p);
    parts.release(a);
    parts.newRevision(a);
    parts.remove(b);
  });
  CHECK(replicate(3) == 4);
  REQUIRE(seen.size() == 7);
  CHECK(replicate(3) == 4);  // the last batch again, as after a crash: nothing changes
  CHECK(seen.size() == 7);

  auto dumpAll = [](hills::Database& db) {
    return db.read([](const hills::ReadTxn& txn) {
      std::vector<std::string> out;
      for (const char* tree : {"parts", "boms"}) {
        txn.tree(tree).scan(0, UINT64_MAX, [&](const hills::StoredRecord& r) {
          out.push_back(std::string(tree) + hills::describe(tree, r.id(), r.revision()) +
                        hills::toJson(txn.tree(tree), r) + std::to_string(r.meta().metaIteration));
          return true;
        });
      }
      return out;
    });
  };
  CHECK(dumpAll(replica) == dumpAll(origin));
  CHECK(seen[3].kind == hills::EventKind::kUpdated);
  CHECK(seen[3].changedFields == std::vector<std::string>{"name"});
  for (const auto& e : seen) CHECK(e.origin == "origin");
  replica.read([](const hills::ReadTxn& txn) {
    CHECK(txn.lastSequence() == 7);
    txn.changes(0, [](hills::wire::Change::Reader c) {
      CHECK(c.getOrigin() == "origin");
      return true;
    });
  });
}
