#include "hills/generic.h"

#include <capnp/dynamic.h>

#include <catch2/catch.hpp>
#include <cmath>
#include <limits>

#include "error_of.h"
#include "plm_fixtures.h"
#include "temp_dir.h"

using hills::ErrorCode;
using hills::Key;
using hills::test::errorOf;
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

TEST_CASE("JSON of the wrong type is refused naming the field, its path and both types",
          "[core][generic]") {
  TempDir dir;
  hills::Database db(dir.path(), plmOptions());
  auto key =
      db.write([](hills::WriteTxn& txn) { return txn.tree<plm::Part>().create(makePart(4)); });
  auto record = "parts(" + std::to_string(key.id) + ", 0)";
  db.write([&](hills::WriteTxn& txn) {
    auto parts = txn.tree("parts");
    auto refusal = [&](std::string_view json) {
      auto e = errorOf([&] { hills::updateFromJson(parts, key.id, key.revision, json); });
      CHECK(e.code() == ErrorCode::kInvalidArgument);
      CHECK_THAT(e.what(), Catch::Contains("JSON for " + record));
      return std::string(e.what());
    };
    CHECK_THAT(refusal(R"({"minOrderQuantity": "lots"})"),
               Catch::Contains("does not fit the schema of tree 'parts': field 'minOrderQuantity' "
                               "expects UInt32, got a string: \"lots\" is not an unsigned "
                               "integer"));
    CHECK_THAT(refusal(R"({"leadTimeDays": true})"),
               Catch::Contains("field 'leadTimeDays' expects UInt16, got a boolean"));
    CHECK_THAT(refusal(R"({"moistureLevel": 300})"),
               Catch::Contains("field 'moistureLevel' expects UInt8, got a number: 300 is out of "
                               "the range of UInt8"));
    CHECK_THAT(refusal(R"({"toleranceMicrons": 1.5})"),
               Catch::Contains("expects Int32, got a number: 1.5 is not a whole number"));
    CHECK_THAT(refusal(R"({"name": null})"),
               Catch::Contains("field 'name' expects Text, got null"));
    CHECK_THAT(refusal(R"({"dimensions": {"length": 1, "width": "wide"}})"),
               Catch::Contains("field 'dimensions.width' expects Float32, got a string"));
    CHECK_THAT(refusal(R"({"dimensions": [1, 2, 3]})"),
               Catch::Contains("field 'dimensions' expects Dimensions, got an array"));
    CHECK_THAT(refusal(R"({"tags": ["a", "b", 3]})"),
               Catch::Contains("field 'tags[2]' expects Text, got a number"));
    CHECK_THAT(refusal(R"({"tags": "a"})"),
               Catch::Contains("field 'tags' expects List(Text), got a string"));
    CHECK_THAT(refusal(R"({"compliance": ["rohs", "fcc"]})"),
               Catch::Contains("field 'compliance[1]' expects Compliance (one of rohs, reach, ul, "
                               "ce), got \"fcc\""));
    CHECK_THAT(refusal(R"({"kind": 2})"), Catch::Contains("field 'kind' expects Kind (one of "
                                                          "purchased, manufactured, assembly, "
                                                          "software), got a number"));
    CHECK_THAT(refusal(R"({"drawing": [1, "2"]})"),
               Catch::Contains("field 'drawing[1]' expects a byte, got a string"));
    CHECK_THAT(refusal(R"({"gtin": "-1"})"),
               Catch::Contains("field 'gtin' expects UInt64, got a string: \"-1\" is not an "
                               "unsigned integer"));
    CHECK_THAT(refusal(R"({"flashKb": 512})"),
               Catch::Contains("unknown field 'flashKb' (not in Part)"));
    CHECK_THAT(refusal(R"({"dimensions": {"depth": 1}})"),
               Catch::Contains("unknown field 'dimensions.depth' (not in Dimensions)"));
    CHECK_THAT(refusal(R"([1, 2])"), Catch::Contains("the JSON is an array, not an object (Part)"));
    CHECK_THAT(refusal(R"({"name": )"), Catch::Contains("does not parse"));

    auto boms = txn.tree("boms");
    auto e = errorOf([&] {
      hills::createFromJson(boms, R"({"lines": [{"quantity": 1}, {"part": {"id": "x"}}]})");
    });
    CHECK(e.code() == ErrorCode::kInvalidArgument);
    CHECK_THAT(e.what(), Catch::Contains("a new record of tree 'boms'") &&
                             Catch::Contains("field 'lines[1].part.id' expects UInt64, got a "
                                             "string: \"x\" is not an unsigned integer"));
    // Refused JSON took no id and changed nothing.
    CHECK(hills::createFromJson(boms, R"({"notes": "first"})") == 1);
  });
  db.read([&](const hills::ReadTxn& txn) {
    CHECK(txn.tree<plm::Part>().get(key) == makePart(4));
    CHECK(txn.tree<plm::Bom>().size() == 1);
  });
}

TEST_CASE("JSON keeps every form capnp-json decodes", "[core][generic]") {
  TempDir dir;
  hills::Database db(dir.path(), plmOptions());
  auto id = db.write([](hills::WriteTxn& txn) {
    auto parts = txn.tree("parts");
    return hills::createFromJson(parts, R"({
      "gtin": "18446744073709551615", "introducedAt": "-5", "minOrderQuantity": "0x10",
      "leadTimeDays": 7, "moistureLevel": 255, "minTemperature": -128,
      "drawing": [0, 7, 255], "kind": "assembly", "compliance": ["rohs", "ce"],
      "mass": null, "unitCost": "Infinity", "supplierIds": [1, "2"],
      "dimensions": {"length": 1.5}})");
  });
  db.read([&](const hills::ReadTxn& txn) {
    auto p = txn.tree<plm::Part>().get(Key<plm::Part>{id, 0});
    REQUIRE(p);
    CHECK(p->gtin == std::numeric_limits<std::uint64_t>::max());
    CHECK(p->introducedAt == -5);
    CHECK(p->minOrderQuantity == 16);
    CHECK(p->leadTimeDays == 7);
    CHECK(p->moistureLevel == 255);
    CHECK(p->minTemperature == -128);
    CHECK(p->drawing == std::vector<std::uint8_t>{0, 7, 255});
    CHECK(p->kind == plm::Part::Kind::ASSEMBLY);
    CHECK(p->compliance == std::vector{plm::Part::Compliance::ROHS, plm::Part::Compliance::CE});
    CHECK(std::isnan(p->mass));
    CHECK(std::isinf(p->unitCost));
    CHECK(p->supplierIds == std::vector<std::uint32_t>{1, 2});
    CHECK(p->dimensions.length == 1.5f);
  });
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
