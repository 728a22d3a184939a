#include "hills/generic.h"

#include <capnp/dynamic.h>

#include <catch2/catch.hpp>

#include "plm_fixtures.h"
#include "temp_dir.h"

using hills::ErrorCode;
using hills::Key;
using hills::test::makePart;
using hills::test::plmOptions;
using hills::test::TempDir;

TEST_CASE("a tool without compiled types lists trees and reads records as JSON",
          "[core][generic]") {
  TempDir dir;
  Key<plm::Part> key;
  {
    hills::Database db(dir.path(), plmOptions());
    key = db.write([](hills::WriteTxn& txn) { return txn.tree<plm::Part>().create(makePart(4)); });
  }
  hills::Options generic;  // no compiled types at all
  generic.readOnly = true;
  hills::Database db(dir.path(), generic);
  auto trees = db.trees();
  REQUIRE(trees.size() == 3);
  CHECK(trees[1].name == "parts");
  CHECK_FALSE(trees[1].compiled);
  CHECK(trees[1].records == 1);
  db.read([&](const hills::ReadTxn& txn) {
    auto parts = txn.tree("parts");
    auto rec = parts.find(hills::OpaqueKey{"parts", key.id, key.revision});
    REQUIRE(rec);
    auto dyn = rec.body().getAs<capnp::DynamicStruct>(parts.schema());
    CHECK(dyn.get("number").as<capnp::Text>() == "P-100004");
    auto json = hills::toJson(parts, rec);
    CHECK_THAT(json,
               Catch::Contains("\"name\": \"part 4\"") || Catch::Contains("\"name\":\"part 4\""));
  });
}

TEST_CASE("a record written back from JSON reads back typed", "[core][generic]") {
  TempDir dir;
  hills::Database db(dir.path(), plmOptions());
  auto key =
      db.write([](hills::WriteTxn& txn) { return txn.tree<plm::Part>().create(makePart(4)); });
  db.write([&](hills::WriteTxn& txn) {
    auto parts = txn.tree("parts");
    std::string json = hills::toJson(parts, parts.require(key.id, key.revision));
    auto at = json.find("part 4");
    REQUIRE(at != std::string::npos);
    json.replace(at, 6, "edited as JSON");
    hills::updateFromJson(parts, key.id, key.revision, json);
    auto id =
        hills::createFromJson(parts, R"({"number": "P-9", "name": "from JSON", "mass": 2.5})");
    CHECK(id > key.id);
  });
  db.read([&](const hills::ReadTxn& txn) {
    auto parts = txn.tree<plm::Part>();
    auto p = parts.get(key);
    CHECK(p->name == "edited as JSON");
    CHECK(p->number == "P-100004");
    CHECK(p->tags == makePart(4).tags);
    auto created = parts.get(Key<plm::Part>{key.id + 1, 0});
    REQUIRE(created);
    CHECK(created->name == "from JSON");
    CHECK(created->mass == 2.5);
  });
}

TEST_CASE("JSON that does not fit the schema is refused with the reason", "[core][generic]") {
  TempDir dir;
  hills::Database db(dir.path(), plmOptions());
  auto key =
      db.write([](hills::WriteTxn& txn) { return txn.tree<plm::Part>().create(makePart(4)); });
  db.write([&](hills::WriteTxn& txn) {
    auto parts = txn.tree("parts");
    try {
      hills::updateFromJson(parts, key.id, key.revision, R"({"mass": "heavy"})");
      FAIL("accepted");
    } catch (const hills::Error& e) {
      CHECK(e.code() == ErrorCode::kInvalidArgument);
      CHECK_THAT(e.what(), Catch::Contains("parts(" + std::to_string(key.id) + ", 0)"));
    }
  });
  db.read(
      [&](const hills::ReadTxn& txn) { CHECK(txn.tree<plm::Part>().get(key)->name == "part 4"); });
}

TEST_CASE("a key of another tree reaching generic code is refused", "[core][generic]") {
  TempDir dir;
  hills::Database db(dir.path(), plmOptions());
  db.read([&](const hills::ReadTxn& txn) {
    try {
      txn.tree("parts").find(hills::OpaqueKey{"boms", 1, 0});
      FAIL("accepted");
    } catch (const hills::Error& e) {
      CHECK(e.code() == ErrorCode::kWrongTree);
      CHECK_THAT(e.what(), Catch::Contains("boms") && Catch::Contains("parts"));
    }
    CHECK_THROWS_AS(hills::keyCast<plm::Part>(hills::OpaqueKey{"boms", 1, 0}), hills::Error);
    auto k = hills::keyCast<plm::Part>(hills::opaque(Key<plm::Part>{5, 2}));
    CHECK(k == Key<plm::Part>{5, 2});
    CHECK_THROWS_AS(txn.tree("nope"), hills::Error);
  });
}
