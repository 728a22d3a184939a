// The filter language and the value text, on a real database: what
// matches, and what a mistake is told as (and where).
#include <QtTest>

#include <charconv>
#include <cmath>
#include <limits>
#include <random>

#include <capnp/message.h>

#include "cells.capnp.h"
#include "filter.h"
#include "kinds.capnp.h"
#include "hills/ref.h"
#include "filter_run.h"
#include "record_queries.h"
#include "value_text.h"
#include "viewer_fixtures.h"

using namespace hills;
using namespace hills::viewer;

class FilterTest : public QObject {
  Q_OBJECT

 private:
  test::TempDir dir_;
  std::unique_ptr<Database> db_;

  std::vector<RowKey> run(const std::string& tree, const std::string& expression) {
    Filter f(expression, db_->storedSchema(tree));
    return matching(*db_, tree, f, nullptr, nullptr, nullptr, 7);  // small chunks: several snapshots
  }
  // The error an expression gets: its message and where it points.
  FilterError error(const std::string& expression, const std::string& tree = "parts") {
    try {
      Filter f(expression, db_->storedSchema(tree));
    } catch (const FilterError& e) {
      return e;
    }
    return FilterError(SIZE_MAX, 0, "no error");
  }

 private slots:
  void initTestCase() {
    test::makePlmDatabase(dir_.sub("db"));
    Options o;
    o.readOnly = true;
    db_ = std::make_unique<Database>(dir_.sub("db"), o);
  }

  void aComparisonOfNumbersAndTextMatchesTheRightRecords() {
    // mass is 0.5 * n: above 8 are parts 17..20; names "part N".
    auto keys = run("parts", "mass > 8 and name ~ \"PART 1\"");
    QCOMPARE(keys.size(), std::size_t(3));  // parts 17, 18, 19
    QCOMPARE(keys.front().id, std::uint64_t(17));
    QCOMPARE(run("parts", "mass >= 10").size(), std::size_t(1));
    QCOMPARE(run("parts", "mass = 0.5").size(), std::size_t(1));
    QCOMPARE(run("parts", "name = \"part 2 revised\"").front().revision, std::uint32_t(1));
  }

  void enumsBoolsListsNestedFieldsAndBookkeepingFilter() {
    // kind is i % 4 (assembly: 2, 6, 10, 14, 18), part 2's revision 1 manufactured.
    QCOMPARE(run("parts", "kind = assembly").size(), std::size_t(5));
    QCOMPARE(run("parts", "kind = \"assembly\" or kind == software").size(), std::size_t(10));
    QCOMPARE(run("parts", "makeable").size(), std::size_t(11));  // even parts and revision 1
    QCOMPARE(run("parts", "not makeable").size(), std::size_t(10));
    QCOMPARE(run("parts", "tags ~ \"T3\"").size(), std::size_t(3));  // 3, 10, 17
    QCOMPARE(run("parts", "dimensions.width < 3").size(), std::size_t(3));
    QCOMPARE(run("parts", "state = released").size(), std::size_t(1));
    QCOMPARE(run("parts", "id = 2 and revision = 1").size(), std::size_t(1));
    QCOMPARE(run("parts", "author = \"test\"").size(), std::size_t(21));
    QCOMPARE(run("parts", "(id < 3 or id > 19) and not state = released").size(), std::size_t(3));
  }

  void referencesCompareByIdAndListsMatchAnyElement() {
    QCOMPARE(run("boms", "assembly = 1").size(), std::size_t(1));
    QCOMPARE(run("boms", "assembly.id != 1").size(), std::size_t(0));
    QCOMPARE(run("stock", "part = 3 and location ~ \"a-03\"").size(), std::size_t(1));
    QCOMPARE(run("parts", "").size(), std::size_t(21));
  }

  void aPathIntoAListOfStructsMatchesWhenOneElementDoes() {
    // boms 1: lines of part 1 (quantity 2, R1 and R2) and part 3 (quantity 1, C1).
    QCOMPARE(run("boms", "lines.quantity > 1.5").size(), std::size_t(1));
    QCOMPARE(run("boms", "lines.quantity > 4").size(), std::size_t(0));
    QCOMPARE(run("boms", "lines.quantity != 2").size(), std::size_t(1));  // the other line
    QCOMPARE(run("boms", "not lines.quantity = 2").size(), std::size_t(0));  // no line: none
    QCOMPARE(run("boms", "lines.part = 3 and lines.quantity = 1").size(), std::size_t(1));
    QCOMPARE(run("boms", "lines.part.id = 2").size(), std::size_t(0));
    QCOMPARE(run("boms", "lines.designators ~ \"c1\"").size(), std::size_t(1));
    QCOMPARE(run("boms", "lines.designators = \"R3\"").size(), std::size_t(0));
    // A list of lists of references: every element of every list.
    QCOMPARE(run("boms", "interchangeable = 5").size(), std::size_t(0));
  }

  void aBadExpressionIsToldWhereItIsWrong() {
    auto e = error("mas > 2");
    QCOMPARE(e.position(), std::size_t(0));
    QCOMPARE(e.length(), std::size_t(3));
    QVERIFY(QString(e.what()).contains("no field 'mas'"));
    QVERIFY(QString(e.what()).contains("mass"));

    e = error("mass > \"heavy\"");
    QCOMPARE(e.position(), std::size_t(7));
    QVERIFY(QString(e.what()).contains("needs a number"));

    e = error("mass >");
    QCOMPARE(e.position(), std::size_t(6));
    QVERIFY(QString(e.what()).contains("the end of the filter"));

    e = error("(mass > 1");
    QCOMPARE(e.position(), std::size_t(0));
    QVERIFY(QString(e.what()).contains("never closed"));

    e = error("kind = gizmo");
    QCOMPARE(e.position(), std::size_t(7));
    QVERIFY(QString(e.what()).contains("purchased, manufactured, assembly, software"));

    e = error("dimensions > 1");
    QVERIFY(QString(e.what()).contains("dimensions.width"));

    e = error("mass ~ \"1\"");
    QCOMPARE(e.position(), std::size_t(5));
    QVERIFY(QString(e.what()).contains("looks for text"));

    e = error("name = bolt");
    QVERIFY(QString(e.what()).contains("\"bolt\""));

    e = error("name = \"bolt");
    QVERIFY(QString(e.what()).contains("closing"));

    e = error("mass > 1 name");
    QCOMPARE(e.position(), std::size_t(9));

    e = error("mass $ 1");
    QCOMPARE(e.position(), std::size_t(5));

    e = error("drawing = 1");
    QVERIFY(QString(e.what()).contains("Data"));

    e = error("dimensions.depth > 1");
    QVERIFY(QString(e.what()).contains("no field 'depth' in 'dimensions'"));
    QCOMPARE(e.position(), std::size_t(11));  // the part of the name that is wrong
    QCOMPARE(e.length(), std::size_t(5));

    // Paths into lists of structs.
    e = error("notes ~ \"a\" and lines.nosuch > 1", "boms");
    QCOMPARE(e.position(), std::size_t(22));
    QCOMPARE(e.length(), std::size_t(6));
    QVERIFY2(QString(e.what()).contains("no field 'nosuch' in 'lines'; its fields: part, quantity, "
                                        "designators"),
             e.what());
    e = error("lines > 1", "boms");
    QCOMPARE(e.position(), std::size_t(0));
    QCOMPARE(e.length(), std::size_t(5));
    QVERIFY2(QString(e.what()).contains("List(Bom.Line): name one of its fields (lines.part, "
                                        "lines.quantity, lines.designators)"),
             e.what());
    e = error("lines.quantity ~ \"2\"", "boms");
    QCOMPARE(e.position(), std::size_t(15));
    QVERIFY(QString(e.what()).contains("looks for text"));
    e = error("lines.quantity > \"many\"", "boms");
    QCOMPARE(e.position(), std::size_t(17));
    QVERIFY(QString(e.what()).contains("needs a number"));
    e = error("tags.first = 1");
    QCOMPARE(e.position(), std::size_t(5));
    QCOMPARE(e.length(), std::size_t(5));
    QVERIFY2(QString(e.what()).contains("'tags' is List(Text), which has no fields"), e.what());
  }

  void valuesReadAsAPersonWouldReadThem() {
    db_->read([&](const ReadTxn& txn) {
      auto parts = txn.tree("parts");
      auto one = parts.find(1, 0);
      auto body = one.body().getAs<capnp::DynamicStruct>(parts.schema());
      auto field = [&](const char* name) {
        auto f = parts.schema().getFieldByName(name);
        return cellText(body.get(f), f.getType());
      };
      QCOMPARE(field("kind"), std::string("manufactured"));
      QCOMPARE(field("mass"), std::string("0.5"));
      QCOMPARE(field("tags"), std::string("[2] t1, common"));
      QVERIFY(field("drawing").rfind("PNG image, ", 0) == 0);
      QCOMPARE(field("minTemperature"), std::string("-40"));

      auto boms = txn.tree("boms");
      auto bom = boms.find(1, 0);
      auto b = bom.body().getAs<capnp::DynamicStruct>(boms.schema());
      auto assembly = boms.schema().getFieldByName("assembly");
      QCOMPARE(cellText(b.get(assembly), assembly.getType(), "parts"), std::string("parts 1/0"));
      QCOMPARE(typeName(assembly.getType(), "parts"), std::string("Ref → parts"));
      auto lines = boms.schema().getFieldByName("lines");
      QCOMPARE(typeName(lines.getType()), std::string("List(Bom.Line)"));
      QVERIFY(cellText(b.get(lines), lines.getType(), {}, 30).size() <= 30 + 2);
    });
  }

  void anUnsetStructReadsAsItsDefaultsAtEveryWidth() {
    // A struct whose pointer is null reads as its fields' defaults. Its
    // text is written once per type and then copied: at every width it is
    // the dynamic API's text of the same value.
    auto schema = db_->storedSchema("parts");
    auto dimensions = schema.getFieldByName("dimensions");
    capnp::MallocMessageBuilder message;
    auto part = message.initRoot<capnp::DynamicStruct>(schema);
    part.set("name", "bolt");
    auto value = part.asReader();
    QVERIFY(!value.has(dimensions));
    CellText cells(schema);
    for (std::size_t width : {std::size_t{80}, std::size_t{0}, std::size_t{200}}) {
      for (std::size_t limit = width; limit < width + 60; ++limit) {
        std::string planned;
        cells.append(planned, value.as<capnp::AnyStruct>(), dimensions.getIndex(), limit);
        QCOMPARE(planned, cellText(value.get(dimensions), dimensions.getType(), {}, limit));
      }
    }
    std::string whole;
    cells.append(whole, value.as<capnp::AnyStruct>(), dimensions.getIndex());
    QCOMPARE(whole, std::string("{length: 0, width: 0, height: 0}"));
  }

  void aListReadsAsTheDynamicApiWritesItAtEveryWidth() {
    // A table writes a list's elements through typed list readers; at every
    // width the cell is the dynamic API's text of the same list, for lists
    // of Text, numbers, enums, Bool, Data, structs, references and lists.
    auto check = [&](const std::string& tree, capnp::DynamicStruct::Reader value, int expectedLists) {
      auto schema = db_->storedSchema(tree);
      CellText cells(schema);
      int lists = 0;
      for (auto field : schema.getFields()) {
        if (!field.getType().isList()) continue;
        ++lists;
        QVERIFY2(value.has(field), field.getProto().getName().cStr());
        for (std::size_t width : {std::size_t{0}, std::size_t{80}}) {
          for (std::size_t limit = width; limit < width + 70; ++limit) {
            std::string planned;
            cells.append(planned, value.as<capnp::AnyStruct>(), field.getIndex(), limit);
            QCOMPARE(planned, cellText(value.get(field), field.getType(), refTarget(field), limit));
          }
        }
      }
      QCOMPARE(lists, expectedLists);
    };
    capnp::MallocMessageBuilder parts;
    auto part = parts.initRoot<capnp::DynamicStruct>(db_->storedSchema("parts"));
    {
      auto tags = part.init("tags", 3).as<capnp::DynamicList>();
      tags.set(0, "fastener");
      tags.set(1, "line\nbreak");
      tags.set(2, "stainless steel, grade A4-80, for outdoor use in coastal air");
      auto suppliers = part.init("supplierIds", 4).as<capnp::DynamicList>();
      for (capnp::uint i = 0; i < 4; ++i) suppliers.set(i, 4000000000u - i * 1234567u);
      auto compliance = part.init("compliance", 3).as<capnp::DynamicList>();
      compliance.set(0, "rohs");
      compliance.set(1, "ce");
      compliance.set(2, capnp::DynamicEnum(compliance.getSchema().getElementType().asEnum(), 9));
    }
    check("parts", part.asReader(), 3);
    std::string whole;
    CellText(db_->storedSchema("parts"))
        .append(whole, part.asReader().as<capnp::AnyStruct>(),
                db_->storedSchema("parts").getFieldByName("compliance").getIndex());
    QCOMPARE(whole, std::string("[3] rohs, ce, #9"));

    capnp::MallocMessageBuilder boms;
    auto bom = boms.initRoot<capnp::DynamicStruct>(db_->storedSchema("boms"));
    auto lines = bom.init("lines", 2).as<capnp::DynamicList>();
    for (capnp::uint i = 0; i < 2; ++i) {
      auto line = lines[i].as<capnp::DynamicStruct>();
      line.get("part").as<capnp::DynamicStruct>().set("id", 40 + i);
      line.set("quantity", 2.5 * (i + 1));
      auto designators = line.init("designators", 2).as<capnp::DynamicList>();
      designators.set(0, "R1");
      designators.set(1, "C12");
    }
    auto groups = bom.init("interchangeable", 2).as<capnp::DynamicList>();
    for (capnp::uint g = 0; g < 2; ++g) {
      auto group = groups.init(g, 2).as<capnp::DynamicList>();
      group[0].as<capnp::DynamicStruct>().set("id", 7 + g);
      group[1].as<capnp::DynamicStruct>().set("revision", 3);
    }
    check("boms", bom.asReader(), 2);

    capnp::MallocMessageBuilder stock;
    auto item = stock.initRoot<capnp::DynamicStruct>(db_->storedSchema("stock"));
    auto serials = item.init("serials", 2).as<capnp::DynamicList>();
    serials.set(0, "SN-0001");
    serials.set(1, "SN-0002");
    auto alternates = item.init("alternates", 3).as<capnp::DynamicList>();
    alternates[0].as<capnp::DynamicStruct>().set("id", 12);
    alternates[0].as<capnp::DynamicStruct>().set("revision", 2);
    alternates[2].as<capnp::DynamicStruct>().set("id", 5);  // [1] is a null reference
    auto inspection = item.init("inspection", 3).as<capnp::DynamicList>();
    inspection.set(0, true);
    inspection.set(2, true);
    auto photos = item.init("photos", 2).as<capnp::DynamicList>();
    const capnp::byte png[] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0, 1, 2};
    photos.set(0, capnp::Data::Reader(png, sizeof(png)));
    photos.set(1, capnp::Data::Reader());
    check("stock", item.asReader(), 4);
  }

  void aNullPointerReadsAsItsFieldsDefaultInEveryCell() {
    // A pointer field whose schema gives it a default (Text = "say \"hi\"",
    // a list of three) reads as that default while its pointer is null: a
    // table's cell says what Cap'n Proto reads, as the record view does.
    auto schema = capnp::Schema::from<kinds::capnp::Sample>();
    capnp::MallocMessageBuilder message;
    auto value = message.initRoot<capnp::DynamicStruct>(schema).asReader();
    CellText cells(schema);
    auto planned = [&](const char* name, std::size_t limit = 80) {
      std::string out;
      cells.append(out, value.as<capnp::AnyStruct>(), schema.getFieldByName(name).getIndex(), limit);
      return out;
    };
    QCOMPARE(planned("label"), std::string("say \"hi\"⏎"));
    QCOMPARE(planned("numbers"), std::string("[3] 1, -2, 3"));
    QCOMPARE(planned("colours"), std::string("[2] green, red"));
    QCOMPARE(planned("blob"), std::string("3 bytes: 01 02 ff"));
    QCOMPARE(planned("flags"), std::string("[0]"));  // no default of its own
    for (auto field : schema.getFields()) {
      for (std::size_t limit : {std::size_t{4}, std::size_t{12}, std::size_t{80}}) {
        QCOMPARE(planned(field.getProto().getName().cStr(), limit),
                 cellText(value.get(field), field.getType(), refTarget(field), limit));
      }
    }
  }

  void everyKindOfListAndDefaultReadsAsTheDynamicApiWritesIt() {
    // Lists of every element type, through the typed readers, and pointers
    // with defaults of their own (inside a group and a union too), against
    // the dynamic API's text at every width, set and unset.
    auto schema = capnp::Schema::from<cells::Cells>();
    CellText cells(schema);
    auto compare = [&](capnp::DynamicStruct::Reader value) {
      for (auto field : schema.getFields()) {
        if (!isActive(value, field)) continue;
        for (std::size_t width : {std::size_t{0}, std::size_t{60}}) {
          for (std::size_t limit = width; limit < width + 45; ++limit) {
            std::string planned;
            cells.append(planned, value.as<capnp::AnyStruct>(), field.getIndex(), limit);
            QCOMPARE(planned, cellText(value.get(field), field.getType(), refTarget(field), limit));
          }
        }
      }
    };
    auto text = [&](capnp::DynamicStruct::Reader value, const char* name, std::size_t limit = 80) {
      std::string out;
      cells.append(out, value.as<capnp::AnyStruct>(), schema.getFieldByName(name).getIndex(), limit);
      return out;
    };

    capnp::MallocMessageBuilder unset;
    auto empty = unset.initRoot<cells::Cells>();
    capnp::DynamicStruct::Reader defaults = empty.asReader();
    compare(defaults);
    QCOMPARE(text(defaults, "defaultInner"), std::string("{a: 7, b: seven}"));
    QCOMPARE(text(defaults, "defaultRef"), std::string("parts 42/1"));
    QCOMPARE(text(defaults, "defaultInners"), std::string("[2] {a: 1}, {a: 0, b: two}"));
    QCOMPARE(text(defaults, "defaultFloats"), std::string("[2] 0.5, -1e+20"));
    QCOMPARE(text(defaults, "group"), std::string("{xs: [1] 1.5, label: in a group}"));
    QCOMPARE(text(defaults, "i16"), std::string("[0]"));

    capnp::MallocMessageBuilder set;
    auto c = set.initRoot<cells::Cells>();
    c.initVoids(3);
    auto bools = c.initBools(3);
    bools.set(1, true);
    auto i8 = c.initI8(2);
    i8.set(0, -128);
    i8.set(1, 127);
    c.initI16(2).set(0, -32768);
    c.initI32(1).set(0, -7);
    c.initI64(1).set(0, INT64_MIN);
    c.initU8(1).set(0, 255);
    c.initU16(1).set(0, 65535);
    c.initU32(1).set(0, 4000000000u);
    c.initU64(1).set(0, UINT64_MAX);
    auto f32 = c.initF32(3);
    f32.set(0, 1.5f);
    f32.set(1, -0.25f);
    f32.set(2, std::numeric_limits<float>::quiet_NaN());
    auto f64 = c.initF64(2);
    f64.set(0, 0.1);
    f64.set(1, 1e300);
    auto texts = c.initTexts(2);
    texts.set(0, "line\nbreak");
    texts.set(1, "plain");
    c.initDatas(1).set(0, capnp::Data::Reader(reinterpret_cast<const capnp::byte*>("\x01\x02"), 2));
    auto colours = c.initColours(2);
    colours.set(0, cells::Cells::Colour::GREEN);
    colours.set(1, static_cast<cells::Cells::Colour>(5));
    auto inners = c.initInners(2);
    inners[0].setA(3);
    inners[1].setB("b");
    auto refs = c.initRefs(2);
    refs[0].setId(5);
    refs[0].setRevision(1);
    auto grid = c.initGrid(2);
    grid.init(0, 2).set(1, -1);
    c.getGroup().initXs(0);
    c.initPicked(1).set(0, 9);
    c.setDefaultData(capnp::Data::Reader());
    capnp::DynamicStruct::Reader value = c.asReader();
    compare(value);
    QCOMPARE(text(value, "f32"), std::string("[3] 1.5, -0.25, nan"));
    QCOMPARE(text(value, "refs"), std::string("[2] parts 5/1, —"));
    QCOMPARE(text(value, "colours"), std::string("[2] green, #5"));
    QCOMPARE(text(value, "u64"), std::string("[1] 18446744073709551615"));
    QCOMPARE(text(value, "i8"), std::string("[2] -128, 127"));
    QCOMPARE(text(value, "picked"), std::string("[1] 9"));
    QCOMPARE(text(value, "group"), std::string("{xs: [0], label: in a group}"));
    QCOMPARE(text(value, "voids"), std::string("[3] , , "));
    QCOMPARE(text(value, "u32", 6), std::string("[1]…"));  // cut to the cell
  }

  void floatsReadInPlainDecimalsThatReadBackAsTheValue() {
    auto f64 = [](double v) {
      return cellText(capnp::DynamicValue::Reader(v), capnp::Type(capnp::schema::Type::FLOAT64));
    };
    auto f32 = [](float v) {
      return cellText(capnp::DynamicValue::Reader(v), capnp::Type(capnp::schema::Type::FLOAT32));
    };
    QCOMPARE(f64(100000), std::string("100000"));  // not 1e+05
    QCOMPARE(f64(250000.5), std::string("250000.5"));
    QCOMPARE(f64(0.1), std::string("0.1"));
    QCOMPARE(f64(-2.5), std::string("-2.5"));
    QCOMPARE(f64(0), std::string("0"));
    QCOMPARE(f64(0.1 + 0.2), std::string("0.30000000000000004"));
    QCOMPARE(f64(123456789012.25), std::string("123456789012.25"));
    QCOMPARE(f64(1e20), std::string("1e+20"));
    QCOMPARE(f64(0.00001), std::string("0.00001"));
    QCOMPARE(f64(0.0000123), std::string("0.0000123"));
    QCOMPARE(f64(1e-7), std::string("1e-07"));
    QCOMPARE(f64(std::numeric_limits<double>::quiet_NaN()), std::string("nan"));
    QCOMPARE(f64(-std::numeric_limits<double>::infinity()), std::string("-inf"));
    QCOMPARE(f32(0.1f), std::string("0.1"));
    QCOMPARE(f32(19.99f), std::string("19.99"));
    QCOMPARE(f32(1e6f), std::string("1000000"));
    QCOMPARE(f32(3.14159274f), std::string("3.1415927"));
    // Whatever the value, the text reads back as it, with no digit to
    // spare: what the shortest plain-decimal form of the library gives.
    std::mt19937_64 random(7);
    auto same = [](auto v, const std::string& text) {
      decltype(v) back{};
      std::from_chars(text.data(), text.data() + text.size(), back);
      char shortest[400];
      auto end = std::to_chars(shortest, shortest + sizeof(shortest), v, std::chars_format::fixed).ptr;
      return back == v && text == std::string(shortest, end);
    };
    for (int i = 0; i < 20000; ++i) {
      // Values with few decimals, as stored values mostly are, and any.
      double few = static_cast<double>(static_cast<std::int64_t>(random() % 2000000000) - 1000000000) /
                   std::pow(10.0, static_cast<double>(random() % 8));
      double any = std::ldexp(static_cast<double>(random() >> 11), static_cast<int>(random() % 60) - 40 - 53);
      for (double v : {few, any, -any}) {
        if (std::abs(v) >= 1e-6 && std::abs(v) < 1e15) QVERIFY2(same(v, f64(v)), f64(v).c_str());
        auto single = static_cast<float>(v);
        if (std::abs(single) >= 1e-6f && std::abs(single) < 1e15f) {
          QVERIFY2(same(single, f32(single)), f32(single).c_str());
        }
      }
    }
  }

  void aDiffNamesTheFieldsThatChanged() {
    auto lines = diffRevisions(*db_, "parts", 2, 0, 1);
    std::map<std::string, std::pair<std::string, std::string>> by;
    for (auto& l : lines) by[l.path] = {l.before, l.after};
    QCOMPARE(by["name"].first, std::string("part 2"));
    QCOMPARE(by["name"].second, std::string("part 2 revised"));
    QCOMPARE(by["kind"].second, std::string("manufactured"));
    QVERIFY(by.count("number") == 0);  // unchanged
  }

  void whereUsedFindsTheBomThatReferencesAPart() {
    auto uses = whereUsed(*db_, {"parts", 3, 0}, 10);
    QCOMPARE(uses.size(), std::size_t(2));
    QCOMPARE(uses[0].key.tree, std::string("boms"));
    QCOMPARE(uses[0].field, std::string("lines[1].part"));
    QCOMPARE(uses[1].key.tree, std::string("stock"));
    QVERIFY(whereUsed(*db_, {"parts", 5, 0}, 10).empty());
    bool truncated = false;
    QCOMPARE(whereUsed(*db_, {"parts", 1, 0}, 1, &truncated).size(), std::size_t(1));
    QVERIFY(truncated);  // assembly and lines[0].part
  }
};

QTEST_GUILESS_MAIN(FilterTest)
#include "filter_test.moc"
