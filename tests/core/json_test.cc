// hills' JSON against Cap'n Proto's JSON codec: the same bytes for every
// kind of field (nested structs, lists, lists of lists, unions, groups,
// enums, Data, Text with escapes, 64-bit integers, floats of every kind,
// defaults, values of an older schema, values the codec refuses).
#include <capnp/compat/json.h>
#include <capnp/dynamic.h>
#include <capnp/message.h>

#include <catch2/catch.hpp>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>

#include "hills/generic.h"
#include "json_shapes.capnp.h"
#include "plm_fixtures.h"
#include "temp_dir.h"

namespace {

std::string codecJson(capnp::DynamicStruct::Reader value) {
  auto text = capnp::JsonCodec().encode(value);
  return std::string(text.cStr(), text.size());
}

std::string writerJson(capnp::DynamicStruct::Reader value) {
  std::string out;
  hills::JsonWriter(value.getSchema()).append(out, value);
  return out;
}

void fillInner(Shapes::Inner::Builder inner, int depth) {
  inner.setA(static_cast<std::uint16_t>(depth * 11));
  inner.setB("inner \"" + std::to_string(depth) + "\"");
  if (depth > 0) {
    auto c = inner.initC(2);
    fillInner(c[0], depth - 1);
  }
}

void fillAll(Shapes::Builder s) {
  s.setFlag(false);
  s.setI8(-128);
  s.setI16(-32768);
  s.setI32(std::numeric_limits<std::int32_t>::min());
  s.setI64(std::numeric_limits<std::int64_t>::min());
  s.setU8(255);
  s.setU16(0);
  s.setU32(std::numeric_limits<std::uint32_t>::max());
  s.setU64(std::numeric_limits<std::uint64_t>::max());
  s.setF32(0.1f);
  s.setF64(-1.0 / 3.0);
  s.setText("quote \" backslash \\ slash / tab \t newline \n cr \r bell \a bs \b ff \f "
            "unit \x1f del \x7f utf-8 \xc3\xa9 high \xff");
  kj::byte bytes[] = {0, 1, 127, 128, 255};
  s.setData(kj::arrayPtr(bytes, sizeof(bytes)));
  s.setColor(Shapes::Color::BLUE);
  fillInner(s.initInner(), 2);
  auto texts = s.initTexts(3);
  texts.set(0, "");
  texts.set(1, "a\"b");
  texts.set(2, "\x01");
  auto datas = s.initDatas(2);
  datas.set(0, kj::arrayPtr(bytes, 2));
  auto inners = s.initInners(2);
  fillInner(inners[1], 1);
  auto matrix = s.initMatrix(3);
  auto row = matrix.init(0, 2);
  row.set(0, 1e300);
  row.set(1, -0.0);
  matrix.init(2, 1).set(0, std::numeric_limits<double>::infinity());
  auto colors = s.initColors(3);
  colors.set(0, Shapes::Color::RED);
  colors.set(2, Shapes::Color::GREEN);
  auto bools = s.initBools(3);
  bools.set(1, true);
  s.initVoids(2);
  auto bigs = s.initBigs(2);
  bigs.set(0, 1ull << 63);
  bigs.set(1, 9007199254740993ull);
  auto smalls = s.initSmalls(2);
  smalls.set(0, -1);
  smalls.set(1, 127);
  auto floats = s.initFloats(3);
  floats.set(0, std::numeric_limits<float>::quiet_NaN());
  floats.set(1, -std::numeric_limits<float>::infinity());
  floats.set(2, 3.4e38f);
  auto nested = s.initNested(2);
  fillInner(nested.init(1, 1)[0], 0);
  s.getChoice().setLabel("chosen");
  s.getPlace().setX(-5);
  s.getPlace().setName("here");
  s.initThird(2).set(1, -9);
  fillInner(s.initSelf().initInner(), 0);
  auto words = s.initWords(2);
  words.init(0, 2).set(1, "w");
}

}  // namespace

TEST_CASE("JSON writes every kind of field as Cap'n Proto's codec does", "[core][json]") {
  capnp::MallocMessageBuilder message;
  auto s = message.initRoot<Shapes>();
  SECTION("defaults only (every pointer null)") {}
  SECTION("every field set") { fillAll(s); }
  SECTION("union members: first, non-first, null, group, void") {
    fillAll(s);
    s.getChoice().setNone();
    s.setFirst("x");
    CHECK(writerJson(s.asReader()) == codecJson(s.asReader()));
    s.getChoice().setCount(0);
    s.setSecond(0);
    CHECK(writerJson(s.asReader()) == codecJson(s.asReader()));
    s.getChoice().initDetail();
    s.initThird(0);
    CHECK(writerJson(s.asReader()) == codecJson(s.asReader()));
    s.getChoice().disownDetail();  // a non-first member that is null: written as null
    s.disownThird();
    CHECK(writerJson(s.asReader()) == codecJson(s.asReader()));
    s.getChoice().disownLabel();  // not the active member: nothing changes
    s.setFirst("");
    s.disownFirst();              // the first member, null: left out
    s.getChoice().initBox().setHeight(2.5f);
  }
  SECTION("an enumerant the schema does not name is written as a number") {
    fillAll(s);
    capnp::toDynamic(s).set("color", capnp::DynamicEnum(capnp::Schema::from<Shapes::Color>(), 7));
    capnp::toDynamic(s.getColors()).set(1, capnp::DynamicEnum(capnp::Schema::from<Shapes::Color>(), 40));
    CHECK_THAT(writerJson(s.asReader()), Catch::Contains("\"color\":7"));
  }
  auto reader = s.asReader();
  CHECK(writerJson(reader) == codecJson(reader));
  // Text with a NUL inside.
  char withNul[] = {'a', '\0', 'b', '\0'};
  s.setText(capnp::Text::Reader(withNul, 3));
  CHECK(writerJson(s.asReader()) == codecJson(s.asReader()));
}

TEST_CASE("JSON writes floats and integers as Cap'n Proto's codec does", "[core][json]") {
  capnp::MallocMessageBuilder message;
  auto s = message.initRoot<Shapes>();
  std::mt19937_64 random(20261201);
  double special[] = {0.0, -0.0, 1.0, -1.0, 0.5, 0.1, 1e15, 1e15 - 1, -1e15, 1e16, 1e17, 1e20,
                      1e-5, 1e-4, 123456789012345.6, 4.9e-324, 2.2250738585072014e-308,
                      std::numeric_limits<double>::max(), std::numeric_limits<double>::lowest(),
                      std::numeric_limits<double>::infinity(), -std::numeric_limits<double>::infinity(),
                      std::numeric_limits<double>::quiet_NaN(), 9007199254740993.0, 1.0 / 3.0};
  std::vector<double> values(std::begin(special), std::end(special));
  for (int i = 0; i < 20000; ++i) {
    std::uint64_t bits = random();
    double d;
    std::memcpy(&d, &bits, sizeof(d));
    values.push_back(d);  // every exponent, NaNs with payloads
    values.push_back(static_cast<double>(static_cast<std::int64_t>(bits >> 20)) / 1024);
    values.push_back(std::ldexp(static_cast<double>(bits % 1000000), -static_cast<int>(bits % 60)));
  }
  for (double d : values) {
    s.setF64(d);
    s.setF32(static_cast<float>(d));
    s.setI64(static_cast<std::int64_t>(random()));
    s.setU64(random());
    s.setI32(static_cast<std::int32_t>(random()));
    s.setU32(static_cast<std::uint32_t>(random()));
    auto json = writerJson(s.asReader());
    auto expected = codecJson(s.asReader());
    if (json != expected) {
      INFO("value " << d);
      REQUIRE(json == expected);
    }
  }
}

TEST_CASE("JSON of a value an older schema wrote reads the missing fields as defaults",
          "[core][json]") {
  capnp::MallocMessageBuilder message;
  fillInner(message.initRoot<Shapes::Inner>(), 0);  // one data word, a Text pointer
  auto value = message.getRoot<capnp::DynamicStruct>(capnp::Schema::from<Shapes>()).asReader();
  CHECK(writerJson(value) == codecJson(value));
}

TEST_CASE("JSON refuses what Cap'n Proto's codec refuses", "[core][json]") {
  capnp::MallocMessageBuilder message;
  auto w = message.initRoot<WithAny>();
  w.setN(3);
  auto value = capnp::toDynamic(w.asReader());
  CHECK(writerJson(value) == codecJson(value));  // a null AnyPointer is left out
  w.getAny().setAs<capnp::Text>("x");
  CHECK_THROWS_AS(writerJson(capnp::toDynamic(w.asReader())), kj::Exception);
  CHECK_THROWS_AS(codecJson(capnp::toDynamic(w.asReader())), kj::Exception);

  // A Text field that holds a struct.
  capnp::MallocMessageBuilder wrong;
  auto s = wrong.initRoot<Shapes>();
  wrong.getRoot<capnp::AnyPointer>().getAs<capnp::AnyStruct>().getPointerSection()[0].initAsAnyStruct(1, 0);
  CHECK_THROWS_AS(writerJson(s.asReader()), kj::Exception);
  CHECK_THROWS_AS(codecJson(s.asReader()), kj::Exception);
}

TEST_CASE("JsonWriter writes single fields as the whole struct holds them", "[core][json]") {
  capnp::MallocMessageBuilder message;
  auto s = message.initRoot<Shapes>();
  fillAll(s);
  auto value = capnp::toDynamic(s.asReader());
  hills::JsonWriter writer(value.getSchema());
  std::string whole, fields = "{";
  writer.append(whole, value);
  for (auto field : value.getSchema().getFields()) {
    std::string one;
    writer.appendField(one, value, field);
    if (!value.has(field)) {  // a null pointer or a member that is not active
      CHECK(one == "null");
      continue;
    }
    if (fields.size() > 1) fields += ',';
    fields += "\"" + std::string(field.getProto().getName().cStr()) + "\":" + one;
  }
  CHECK(fields + "}" == whole);
  capnp::MallocMessageBuilder other;
  auto inner = other.initRoot<Shapes::Inner>();
  CHECK_THROWS_AS(writer.append(whole, capnp::toDynamic(inner.asReader())), hills::Error);
}

TEST_CASE("a record's JSON is the codec's JSON of its data", "[core][json]") {
  hills::test::TempDir dir;
  {
    hills::Database db(dir.path(), hills::test::plmOptions());
    db.write([](hills::WriteTxn& txn) {
      auto parts = txn.tree<plm::Part>();
      for (int i = 0; i < 50; ++i) {
        auto p = hills::test::makePart(i);
        p.name = "part \"" + std::to_string(i) + "\"\n\t\\" + std::string(1, static_cast<char>(i % 32));
        p.kind = static_cast<plm::Part::Kind>(i % 4);
        p.mass = i * 0.1 - 2;
        p.unitCost = static_cast<float>(i) / 3;
        p.dimensions.length = 1.25f * i;
        p.introducedAt = -1234567890123 * i;
        p.gtin = 18446744073709551615ull - static_cast<std::uint64_t>(i);
        p.drawing = {std::uint8_t(i), 0, 255};
        p.supplierIds = {std::uint32_t(i), 4000000000u};
        if (i % 2) p.compliance = {plm::Part::Compliance::ROHS, plm::Part::Compliance::CE};
        if (i % 3 == 0) p.tags.clear();
        if (i % 5 == 0) p.description.clear();
        parts.create(p);
      }
    });
  }
  hills::Options generic;
  generic.readOnly = true;
  hills::Database reopened(dir.path(), generic);  // the stored schema only
  reopened.read([&](const hills::ReadTxn& txn) {
    auto parts = txn.tree("parts");
    std::string all;
    int n = 0;
    parts.scan(0, UINT64_MAX, [&](const hills::StoredRecord& rec) {
      auto expected = codecJson(rec.body().getAs<capnp::DynamicStruct>(parts.schema()));
      CHECK(hills::toJson(parts, rec) == expected);
      all.clear();
      all += "x";
      hills::appendJson(all, parts, rec);
      CHECK(all == "x" + expected);
      ++n;
      return true;
    });
    CHECK(n == 50);
  });
}
