#include <catch2/catch.hpp>

#include <sys/wait.h>
#include <unistd.h>

#include "plm_fixtures.h"
#include "temp_dir.h"

using hills::ErrorCode;
using hills::Key;
using hills::test::makePart;
using hills::test::plmOptions;
using hills::test::TempDir;

namespace {

template <class F>
ErrorCode codeOf(F&& fn) {
  try {
    fn();
  } catch (const hills::Error& e) {
    return e.code();
  }
  FAIL("no hills::Error was thrown");
  return ErrorCode::kStorage;
}

}  // namespace

TEST_CASE("a created part reads back owned and zero-copy", "[core][txn]") {
  TempDir dir;
  hills::Database db(dir.path(), plmOptions());
  auto key =
      db.write([](hills::WriteTxn& txn) { return txn.tree<plm::Part>().create(makePart(7)); });
  CHECK(key.id != 0);
  CHECK(key.revision == 0);

  db.read([&](const hills::ReadTxn& txn) {
    auto parts = txn.tree<plm::Part>();
    auto owned = parts.get(key);
    REQUIRE(owned);
    CHECK(owned->number == "P-100007");
    CHECK(owned->tags == std::vector<std::string>{"t0", "common"});
    auto reader = parts.read(key);
    REQUIRE(reader);
    CHECK(reader->getName() == "part 7");
    CHECK(reader->getMass() == 3.5);
    auto meta = parts.meta(key);
    REQUIRE(meta);
    CHECK(meta->state == hills::State::kDraft);
    CHECK(meta->author == "test");
    CHECK(meta->dataIteration == 1);
    CHECK(meta->created == meta->modified);
  });
}

TEST_CASE("a missing key is an empty optional, not an error", "[core][txn]") {
  TempDir dir;
  hills::Database db(dir.path(), plmOptions());
  db.read([](const hills::ReadTxn& txn) {
    auto parts = txn.tree<plm::Part>();
    CHECK_FALSE(parts.get(Key<plm::Part>{42, 0}));
    CHECK_FALSE(parts.read(Key<plm::Part>{42, 0}));
    CHECK_FALSE(parts.contains(Key<plm::Part>{42, 0}));
    CHECK_FALSE(parts.latest(42));
  });
}

TEST_CASE("an update replaces a draft's data and bumps its data iteration", "[core][txn]") {
  TempDir dir;
  hills::Database db(dir.path(), plmOptions());
  auto key =
      db.write([](hills::WriteTxn& txn) { return txn.tree<plm::Part>().create(makePart(1)); });
  db.write([&](hills::WriteTxn& txn) {
    auto p = makePart(1);
    p.name = "renamed";
    p.tags.clear();
    txn.tree<plm::Part>().update(key, p);
  });
  db.read([&](const hills::ReadTxn& txn) {
    auto p = txn.tree<plm::Part>().get(key);
    REQUIRE(p);
    CHECK(p->name == "renamed");
    CHECK(p->tags.empty());
    auto meta = txn.tree<plm::Part>().meta(key);
    CHECK(meta->dataIteration == 2);
    CHECK(meta->metaIteration == 1);
  });
}

TEST_CASE("a released record refuses updates and removal", "[core][release]") {
  TempDir dir;
  hills::Database db(dir.path(), plmOptions());
  auto key = db.write([](hills::WriteTxn& txn) {
    auto parts = txn.tree<plm::Part>();
    auto k = parts.create(makePart(1));
    parts.release(k);
    return k;
  });
  db.write([&](hills::WriteTxn& txn) {
    auto parts = txn.tree<plm::Part>();
    CHECK(codeOf([&] { parts.update(key, makePart(2)); }) == ErrorCode::kReleased);
    CHECK(codeOf([&] { parts.remove(key); }) == ErrorCode::kReleased);
    CHECK(codeOf([&] { parts.release(key); }) == ErrorCode::kReleased);
  });
  db.read([&](const hills::ReadTxn& txn) {
    auto parts = txn.tree<plm::Part>();
    CHECK(parts.get(key)->number == makePart(1).number);
    CHECK(parts.meta(key)->state == hills::State::kReleased);
    CHECK(parts.meta(key)->metaIteration == 2);
  });
}

TEST_CASE("the error for a released record names the tree and the key", "[core][release]") {
  TempDir dir;
  hills::Database db(dir.path(), plmOptions());
  auto key = db.write([](hills::WriteTxn& txn) {
    auto parts = txn.tree<plm::Part>();
    auto k = parts.create(makePart(1));
    parts.release(k);
    return k;
  });
  try {
    db.write([&](hills::WriteTxn& txn) { txn.tree<plm::Part>().update(key, makePart(2)); });
    FAIL("the update was accepted");
  } catch (const hills::Error& e) {
    CHECK(e.code() == ErrorCode::kReleased);
    CHECK_THAT(e.what(), Catch::Contains("parts(" + std::to_string(key.id) + ", 0)"));
  }
}

TEST_CASE("a new revision is a draft copied from the released newest revision",
          "[core][revision]") {
  TempDir dir;
  hills::Database db(dir.path(), plmOptions());
  auto [r0, r1] = db.write([](hills::WriteTxn& txn) {
    auto parts = txn.tree<plm::Part>();
    auto k = parts.create(makePart(3));
    CHECK(ErrorCode::kNotReleased == codeOf([&] { parts.newRevision(k); }));
    parts.setLifecycle(k, 5);
    parts.release(k);
    auto k1 = parts.newRevision(k);
    return std::pair(k, k1);
  });
  CHECK(r1.id == r0.id);
  CHECK(r1.revision == 1);
  db.write([&](hills::WriteTxn& txn) {
    auto parts = txn.tree<plm::Part>();
    CHECK(codeOf([&] { parts.newRevision(r0); }) == ErrorCode::kNotLatest);  // r1 exists
    auto p = makePart(3);
    p.name = "second revision";
    parts.update(r1, p);
  });
  db.read([&](const hills::ReadTxn& txn) {
    auto parts = txn.tree<plm::Part>();
    CHECK(parts.get(r0)->name == "part 3");
    CHECK(parts.get(r1)->name == "second revision");
    CHECK(parts.meta(r1)->state == hills::State::kDraft);
    CHECK(parts.meta(r1)->lifecycle == 0);
    CHECK(parts.meta(r0)->lifecycle == 5);
    CHECK(parts.latest(r0.id) == r1);
    std::vector<std::uint32_t> revisions;
    parts.forEachRevision(
        r0.id, [&](Key<plm::Part> k, plm::Part::Reader) { revisions.push_back(k.revision); });
    CHECK(revisions == std::vector<std::uint32_t>{0, 1});
  });
}

TEST_CASE("a new revision must start from the newest revision", "[core][revision]") {
  TempDir dir;
  hills::Database db(dir.path(), plmOptions());
  db.write([](hills::WriteTxn& txn) {
    auto parts = txn.tree<plm::Part>();
    auto k0 = parts.create(makePart(3));
    parts.release(k0);
    auto k1 = parts.newRevision(k0);
    parts.release(k1);
    CHECK(codeOf([&] { parts.newRevision(k0); }) == ErrorCode::kNotLatest);
    CHECK(parts.newRevision(k1).revision == 2);
  });
}

TEST_CASE("the lifecycle number of a released record may still change", "[core][release]") {
  TempDir dir;
  hills::Database db(dir.path(), plmOptions());
  auto key = db.write([](hills::WriteTxn& txn) {
    auto parts = txn.tree<plm::Part>();
    auto k = parts.create(makePart(1));
    parts.release(k);
    parts.setLifecycle(k, 2);
    return k;
  });
  db.read([&](const hills::ReadTxn& txn) {
    auto meta = txn.tree<plm::Part>().meta(key);
    CHECK(meta->lifecycle == 2);
    CHECK(meta->state == hills::State::kReleased);
    CHECK(meta->metaIteration == 3);
    CHECK(meta->dataIteration == 1);
  });
}

TEST_CASE("a draft can be removed", "[core][txn]") {
  TempDir dir;
  hills::Database db(dir.path(), plmOptions());
  auto key =
      db.write([](hills::WriteTxn& txn) { return txn.tree<plm::Part>().create(makePart(1)); });
  db.write([&](hills::WriteTxn& txn) { txn.tree<plm::Part>().remove(key); });
  db.read([&](const hills::ReadTxn& txn) { CHECK_FALSE(txn.tree<plm::Part>().contains(key)); });
  db.write([&](hills::WriteTxn& txn) {
    CHECK(codeOf([&] { txn.tree<plm::Part>().remove(key); }) == ErrorCode::kNotFound);
    CHECK(codeOf([&] { txn.tree<plm::Part>().update(key, makePart(1)); }) == ErrorCode::kNotFound);
  });
}

TEST_CASE("an unversioned tree edits records in place and refuses release", "[core][unversioned]") {
  TempDir dir;
  hills::Database db(dir.path(), plmOptions());
  auto key = db.write([](hills::WriteTxn& txn) {
    auto stock = txn.tree<plm::StockItem>();
    plm::StockItem s{};
    s.location = "A-01";
    s.quantity = 10;
    auto k = stock.create(s);
    s.quantity = 7;
    stock.update(k, s);
    CHECK(codeOf([&] { stock.release(k); }) == ErrorCode::kUnversioned);
    CHECK(codeOf([&] { stock.newRevision(k); }) == ErrorCode::kUnversioned);
    return k;
  });
  db.read([&](const hills::ReadTxn& txn) {
    auto stock = txn.tree<plm::StockItem>();
    CHECK(stock.get(key)->quantity == 7);
    CHECK(stock.size() == 1);
  });
}

TEST_CASE("a write transaction that throws keeps nothing", "[core][txn]") {
  TempDir dir;
  hills::Database db(dir.path(), plmOptions());
  auto kept =
      db.write([](hills::WriteTxn& txn) { return txn.tree<plm::Part>().create(makePart(1)); });
  Key<plm::Part> lost;
  CHECK_THROWS_AS(db.write([&](hills::WriteTxn& txn) {
    auto parts = txn.tree<plm::Part>();
    lost = parts.create(makePart(2));
    parts.remove(kept);
    throw std::runtime_error("changed my mind");
  }),
                  std::runtime_error);
  db.read([&](const hills::ReadTxn& txn) {
    auto parts = txn.tree<plm::Part>();
    CHECK(parts.contains(kept));
    CHECK_FALSE(parts.contains(lost));
    CHECK(parts.size() == 1);
  });
}

TEST_CASE("iteration visits every record in key order and can stop early", "[core][scan]") {
  TempDir dir;
  hills::Database db(dir.path(), plmOptions());
  std::vector<Key<plm::Part>> keys = db.write([](hills::WriteTxn& txn) {
    std::vector<Key<plm::Part>> out;
    for (int i = 0; i < 50; ++i) out.push_back(txn.tree<plm::Part>().create(makePart(i)));
    return out;
  });
  db.read([&](const hills::ReadTxn& txn) {
    auto parts = txn.tree<plm::Part>();
    std::vector<Key<plm::Part>> seen;
    parts.forEach([&](Key<plm::Part> k, plm::Part::Reader r) {
      seen.push_back(k);
      CHECK(r.getNumber().size() == 8);
    });
    CHECK(seen == keys);
    int count = 0;
    parts.forEach([&](Key<plm::Part>, plm::Part::Reader) { return ++count < 10; });
    CHECK(count == 10);
    std::vector<Key<plm::Part>> range;
    parts.forEachInRange(keys[10].id, keys[19].id,
                         [&](Key<plm::Part> k, plm::Part::Reader) { range.push_back(k); });
    CHECK(range == std::vector<Key<plm::Part>>(keys.begin() + 10, keys.begin() + 20));
  });
}

TEST_CASE("an undeclared tree is refused with its name", "[core][txn]") {
  TempDir dir;
  { hills::Database all(dir.path(), plmOptions()); }  // the boms tree is stored
  hills::Options o = plmOptions();
  o.trees = hills::treeTypes<plm::Part>();
  hills::Database db(dir.path(), o);
  try {
    db.read([](const hills::ReadTxn& txn) { txn.tree<plm::Bom>(); });
    FAIL("no error");
  } catch (const hills::Error& e) {
    CHECK(e.code() == ErrorCode::kUnknownTree);
    CHECK_THAT(e.what(), Catch::Contains("boms"));
  }
}

TEST_CASE("references between trees are typed keys", "[core][txn]") {
  TempDir dir;
  hills::Database db(dir.path(), plmOptions());
  auto bomKey = db.write([](hills::WriteTxn& txn) {
    auto a = txn.tree<plm::Part>().create(makePart(1));
    auto b = txn.tree<plm::Part>().create(makePart(2));
    plm::Bom bom{};
    bom.assembly = a;
    plm::Bom::Line line{};
    line.part = b;
    line.quantity = 4;
    bom.lines.push_back(line);
    return txn.tree<plm::Bom>().create(bom);
  });
  db.read([&](const hills::ReadTxn& txn) {
    auto bom = txn.tree<plm::Bom>().get(bomKey);
    REQUIRE(bom);
    REQUIRE(bom->lines.size() == 1);
    hills::Key<plm::Part> part = bom->lines[0].part;
    CHECK(txn.tree<plm::Part>().get(part)->name == "part 2");
  });
}

TEST_CASE("a write inside a read of the same database is refused", "[core][txn]") {
  TempDir dir;
  hills::Database db(dir.path(), plmOptions());
  db.read([&](const hills::ReadTxn&) {
    CHECK(codeOf([&] { db.write([](hills::WriteTxn&) {}); }) == ErrorCode::kInvalidArgument);
  });
}

TEST_CASE("a snapshot's version grows with every commit, of this process or another",
          "[core][txn]") {
  TempDir dir;
  // The other process is forked first, before this one opens the database,
  // and writes when told to.
  int go[2];
  REQUIRE(::pipe(go) == 0);
  pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    ::close(go[1]);
    char byte = 0;
    if (::read(go[0], &byte, 1) != 1) ::_exit(2);
    try {
      hills::Database other(dir.sub("db"), plmOptions());
      other.write([](hills::WriteTxn& txn) { txn.tree<plm::Part>().create(makePart(2)); });
    } catch (...) {
      ::_exit(1);
    }
    ::_exit(0);
  }
  ::close(go[0]);
  hills::Database db(dir.sub("db"), plmOptions());
  auto version = [&] { return db.read([](const hills::ReadTxn& txn) { return txn.version(); }); };
  auto before = version();
  CHECK(version() == before);  // reading commits nothing
  auto inside = db.write([&](hills::WriteTxn& txn) {
    txn.tree<plm::Part>().create(makePart(1));
    return txn.version();
  });
  CHECK(inside == before + 1);
  CHECK(version() == inside);
  REQUIRE(::write(go[1], "w", 1) == 1);
  ::close(go[1]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  REQUIRE(WIFEXITED(status));
  REQUIRE(WEXITSTATUS(status) == 0);
  CHECK(version() > inside);
}

TEST_CASE("a commit that defers its meta sync affects that commit alone", "[core][txn][durable]") {
  TempDir dir;
  auto o = plmOptions();
  o.durable = true;
  hills::Database db(dir.path(), o);
  auto dataSync = [&] { return db.stats().dataSyncCommits; };
  CHECK(dataSync() == 0);

  // Committed with one sync: counted, and LMDB's flag is off again after it.
  auto key = db.write([](hills::WriteTxn& txn) {
    txn.setCommitSync(hills::CommitSync::kData);
    return txn.tree<plm::Part>().create(makePart(1));
  });
  CHECK(dataSync() == 1);
  CHECK_FALSE(db.stats().metaSyncOff);

  // A local edit after it is a full commit: not counted.
  db.write([&](hills::WriteTxn& txn) { txn.tree<plm::Part>().update(key, makePart(2)); });
  CHECK(dataSync() == 1);
  CHECK_FALSE(db.stats().metaSyncOff);

  // A transaction that asked for it and threw commits nothing and leaves
  // the next one at kFull.
  CHECK_THROWS_AS(db.write([](hills::WriteTxn& txn) {
                    txn.setCommitSync(hills::CommitSync::kData);
                    txn.tree<plm::Part>().create(makePart(3));
                    throw std::runtime_error("abandoned");
                  }),
                  std::runtime_error);
  db.write([](hills::WriteTxn& txn) { txn.tree<plm::Part>().create(makePart(4)); });
  CHECK(dataSync() == 1);
  CHECK_FALSE(db.stats().metaSyncOff);

  // The last choice before the commit counts.
  db.write([](hills::WriteTxn& txn) {
    txn.setCommitSync(hills::CommitSync::kData);
    txn.setCommitSync(hills::CommitSync::kFull);
    txn.tree<plm::Part>().create(makePart(5));
  });
  CHECK(dataSync() == 1);

  db.read([&](const hills::ReadTxn& txn) {
    CHECK(txn.tree<plm::Part>().size() == 3);
    CHECK(txn.tree<plm::Part>().get(key)->number == makePart(2).number);
  });
}

TEST_CASE("a database that is not durable ignores the commit sync choice", "[core][txn][durable]") {
  TempDir dir;
  auto o = plmOptions();
  o.durable = false;
  hills::Database db(dir.path(), o);
  db.write([](hills::WriteTxn& txn) {
    txn.setCommitSync(hills::CommitSync::kData);
    txn.tree<plm::Part>().create(makePart(1));
  });
  CHECK(db.stats().dataSyncCommits == 0);
  CHECK_FALSE(db.stats().metaSyncOff);
}
