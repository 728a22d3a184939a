// Opening a database (core/src/open.cc): the directory and its trees,
// its identity, one open per process, read-only opens, migrations.
#include <catch2/catch.hpp>
#include <fstream>

#include "plm_fixtures.h"
#include "temp_dir.h"

using hills::ErrorCode;
using hills::Key;
using hills::test::makePart;
using hills::test::plmOptions;
using hills::test::TempDir;

TEST_CASE("opening creates the directory and the declared trees", "[core][database]") {
  TempDir dir;
  hills::Database db(dir.sub("a/b/db"), plmOptions());
  auto trees = db.trees();
  REQUIRE(trees.size() == 3);
  CHECK(trees[0].name == "boms");
  CHECK(trees[1].name == "parts");
  CHECK(trees[2].name == "stock");
  CHECK_FALSE(trees[2].versioned);
  CHECK(trees[1].compiled);
  CHECK(db.uuid().size() == 32);
}

TEST_CASE("records and the database identity persist across reopen", "[core][database]") {
  TempDir dir;
  Key<plm::Part> key;
  std::string uuid;
  {
    hills::Database db(dir.path(), plmOptions());
    uuid = db.uuid();
    key = db.write([](hills::WriteTxn& txn) { return txn.tree<plm::Part>().create(makePart(9)); });
  }
  hills::Database db(dir.path(), plmOptions());
  CHECK(db.uuid() == uuid);
  db.read([&](const hills::ReadTxn& txn) {
    CHECK(txn.tree<plm::Part>().get(key)->number == "P-100009");
  });
}

TEST_CASE("the same database cannot be opened twice in one process", "[core][database]") {
  TempDir dir;
  hills::Database db(dir.path(), plmOptions());
  try {
    hills::Database again(dir.path() + "/.", plmOptions());
    FAIL("opened twice");
  } catch (const hills::Error& e) {
    CHECK(e.code() == ErrorCode::kAlreadyOpen);
    CHECK_THAT(e.what(), Catch::Contains(dir.path()));
  }
}

TEST_CASE("a closed database can be opened again in the same process", "[core][database]") {
  TempDir dir;
  { hills::Database db(dir.path(), plmOptions()); }
  hills::Database db(dir.path(), plmOptions());
  CHECK(db.trees().size() == 3);
}

TEST_CASE("a directory that cannot be created is a clear i/o error", "[core][database]") {
  TempDir dir;
  std::ofstream(dir.sub("file")) << "not a directory";
  try {
    hills::Database db(dir.sub("file/db"), plmOptions());
    FAIL("opened");
  } catch (const hills::Error& e) {
    CHECK(e.code() == ErrorCode::kIo);
    CHECK_THAT(e.what(), Catch::Contains(dir.sub("file/db")));
  }
}

TEST_CASE("a read-only open reads what a writer stored and refuses writes", "[core][database]") {
  TempDir dir;
  auto key = [&] {
    hills::Database db(dir.path(), plmOptions());
    return db.write([](hills::WriteTxn& txn) { return txn.tree<plm::Part>().create(makePart(2)); });
  }();
  hills::Options o = plmOptions();
  o.readOnly = true;
  hills::Database db(dir.path(), o);
  db.read(
      [&](const hills::ReadTxn& txn) { CHECK(txn.tree<plm::Part>().get(key)->name == "part 2"); });
  try {
    db.write([](hills::WriteTxn&) {});
    FAIL("wrote");
  } catch (const hills::Error& e) {
    CHECK(e.code() == ErrorCode::kInvalidArgument);
  }
}

TEST_CASE("migrations run once, in order, on open", "[core][database][migration]") {
  TempDir dir;
  std::vector<std::uint32_t> ran;
  auto options = [&](std::uint32_t version) {
    hills::Options o = plmOptions();
    o.schemaVersion = version;
    o.migrations = {
        {3,
         [&](hills::WriteTxn& txn) {
           ran.push_back(3);
           txn.tree<plm::Part>().create(makePart(3));
         }},
        {2, [&](hills::WriteTxn&) { ran.push_back(2); }},
    };
    return o;
  };
  { hills::Database db(dir.path(), options(1)); }
  CHECK(ran.empty());
  { hills::Database db(dir.path(), options(3)); }
  CHECK(ran == std::vector<std::uint32_t>{2, 3});
  {
    hills::Database db(dir.path(), options(3));
    db.read([](const hills::ReadTxn& txn) { CHECK(txn.tree<plm::Part>().size() == 1); });
  }
  CHECK(ran.size() == 2);
  try {
    hills::Database db(dir.path(), options(2));
    FAIL("an older program opened newer data");
  } catch (const hills::Error& e) {
    CHECK(e.code() == ErrorCode::kSchemaVersion);
  }
}

TEST_CASE("a migration that throws leaves the database as it was", "[core][database][migration]") {
  TempDir dir;
  { hills::Database db(dir.path(), plmOptions()); }
  hills::Options o = plmOptions();
  o.schemaVersion = 1;
  o.migrations = {{1, [](hills::WriteTxn& txn) {
                     txn.tree<plm::Part>().create(makePart(1));
                     throw std::runtime_error("migration failed");
                   }}};
  CHECK_THROWS_AS(hills::Database(dir.path(), o), std::runtime_error);
  hills::Database db(dir.path(), plmOptions());
  db.read([](const hills::ReadTxn& txn) { CHECK(txn.tree<plm::Part>().size() == 0); });
}
