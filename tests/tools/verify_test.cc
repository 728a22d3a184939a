
#include <catch2/catch.hpp>

#include <cstring>

#include "raw_lmdb.h"
#include "tools_fixtures.h"

using namespace hills::test;

TEST_CASE("verify passes a sound database and says what it checked", "[tools][verify]") {
  TempDir dir;
  makePlmDatabase(dir.sub("db"), 40);
  auto r = runHills({"verify", dir.sub("db")});
  INFO(r.out << r.err);
  REQUIRE(r.status == 0);
  CHECK(r.out.find("tree parts: 41 records read through") != std::string::npos);
  CHECK(r.out.find("index 'bomRefs' (tree boms): 8 entries agree with a rebuild (references)") !=
        std::string::npos);
  CHECK(r.out.find("index 'latestParts' (tree parts): 40 entries agree with a rebuild") !=
        std::string::npos);
  CHECK(r.out.find("index 'partNumbers' (tree parts): 41 entries name existing records; not rebuilt") !=
        std::string::npos);
  CHECK(r.out.find("0 findings") != std::string::npos);
}

TEST_CASE("verify names a record whose bytes were flipped", "[tools][verify]") {
  TempDir dir;
  makePlmDatabase(dir.sub("db"), 10);
  withRawTable(dir.sub("db"), "parts", true, [](MDB_txn* txn, MDB_dbi dbi) {
    unsigned char key[16] = {0, 0, 0, 0, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0, 0};
    MDB_val k{sizeof(key), key}, v;
    REQUIRE(mdb_get(txn, dbi, &k, &v) == 0);
    std::string bytes(static_cast<const char*>(v.mv_data), v.mv_size);
    for (int i = 0; i < 8; ++i) bytes[static_cast<std::size_t>(i)] ^= static_cast<char>(0xff);
    MDB_val nv{bytes.size(), bytes.data()};
    REQUIRE(mdb_put(txn, dbi, &k, &nv, 0) == 0);
  });
  auto r = runHills({"verify", dir.sub("db")});
  CHECK(r.status == 1);
  CHECK(r.out.find("FINDING tree 'parts', record 5/0 does not decode") != std::string::npos);
  CHECK(r.err.find("finding") != std::string::npos);
}

TEST_CASE("verify names an index entry that was deleted", "[tools][verify]") {
  TempDir dir;
  makePlmDatabase(dir.sub("db"), 30);
  auto deleteFirst = [](MDB_txn* txn, MDB_dbi dbi) {
    MDB_cursor* c;
    REQUIRE(mdb_cursor_open(txn, dbi, &c) == 0);
    MDB_val k, v;
    REQUIRE(mdb_cursor_get(c, &k, &v, MDB_FIRST) == 0);
    REQUIRE(mdb_cursor_del(c, 0) == 0);
    mdb_cursor_close(c);
  };
  withRawTable(dir.sub("db"), "_index:bomRefs", true, deleteFirst, MDB_DUPSORT);
  auto r = runHills({"verify", dir.sub("db")});
  CHECK(r.status == 1);
  CHECK(r.out.find("FINDING index 'bomRefs' (tree boms): a rebuild has the entry") !=
        std::string::npos);
  CHECK(r.out.find("which the index lacks") != std::string::npos);
}

TEST_CASE("verify names a change log entry that no longer matches its record", "[tools][verify]") {
  TempDir dir;
  makePlmDatabase(dir.sub("db"), 5);
  // A change that bypassed the log: the record differs from its newest entry.
  withRawTable(dir.sub("db"), "parts", true, [](MDB_txn* txn, MDB_dbi dbi) {
    unsigned char key[16] = {0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0};
    MDB_val k{sizeof(key), key}, v;
    REQUIRE(mdb_get(txn, dbi, &k, &v) == 0);
    std::string bytes(static_cast<const char*>(v.mv_data), v.mv_size);
    bytes[bytes.size() - 1] ^= 1;  // the last byte of the description text
    MDB_val nv{bytes.size(), bytes.data()};
    REQUIRE(mdb_put(txn, dbi, &k, &nv, 0) == 0);
  });
  auto r = runHills({"verify", dir.sub("db")});
  CHECK(r.status == 1);
  CHECK(r.out.find("change log: tree 'parts', record 2/0 differs from its newest log entry") !=
        std::string::npos);
}

TEST_CASE("verify names a gap in the change log", "[tools][verify]") {
  TempDir dir;
  makePlmDatabase(dir.sub("db"), 5);
  withRawTable(dir.sub("db"), "_log", true, [](MDB_txn* txn, MDB_dbi dbi) {
    unsigned char key[8] = {0, 0, 0, 0, 0, 0, 0, 3};
    MDB_val k{sizeof(key), key};
    REQUIRE(mdb_del(txn, dbi, &k, nullptr) == 0);
  });
  auto r = runHills({"verify", dir.sub("db")});
  CHECK(r.status == 1);
  CHECK(r.out.find("change log: sequence 4 follows 2") != std::string::npos);
}
