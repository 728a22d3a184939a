// The generated records of schemas/examples/plm.capnp: conversions in both
// directions, the record traits, and what a write keeps of a newer record.
#include <capnp/dynamic.h>
#include <capnp/message.h>
#include <capnp/schema-loader.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <string>
#include <type_traits>
#include <vector>

#include "codegen_support.h"
#include "plm.hills.h"

using hills::test::checkSameFields;
using hills::test::roundTrip;

namespace {

plm::Part fullPart() {
  plm::Part p;
  p.number = "P-000042";
  p.name = "hex bolt M6x20";
  p.description = "zinc plated steel, DIN 933, property class 8.8";
  p.kind = plm::Part::Kind::MANUFACTURED;
  p.mass = 0.0123;
  p.unitCost = 0.07f;
  p.leadTimeDays = 14;
  p.makeable = true;
  p.dimensions = {20.5f, 10.0f, 6.0f};
  p.tags = {"fastener", "metric", ""};
  p.drawing = {0x89, 'P', 'N', 'G', 0, 0xff};
  p.minTemperature = -55;
  p.maxTemperature = 125;
  p.toleranceMicrons = -20;
  p.introducedAt = 1700000000123;
  p.moistureLevel = 3;
  p.minOrderQuantity = 500;
  p.gtin = 4006381333931ull;
  p.supplierIds = {7, 4000000000u};
  p.compliance = {plm::Part::Compliance::ROHS, plm::Part::Compliance::CE};
  return p;
}

plm::Bom fullBom() {
  plm::Bom b;
  b.assembly = {42, 3};
  b.lines = {plm::Bom::Line{{7, 0}, 12, {"R1", "R2", "R3"}}, plm::Bom::Line{{8, 1}, 0.25, {}}};
  b.notes = "second source allowed";
  b.interchangeable = {{{7, 0}, {9, 2}}, {}, {{11, 0}}};
  return b;
}

plm::StockItem fullStockItem() {
  plm::StockItem s;
  s.part = {42, 0};
  s.location = "A-03-2";
  s.quantity = -3;  // a count below zero: booked out before it was booked in
  s.serials = {"SN-1", "SN-2"};
  s.alternates = {{43, 0}, {44, 5}};
  s.lastCounted = 1700000000999;
  s.inspection = {true, false, true};
  s.photos = {{1, 2, 3}, {}, {4}};
  return s;
}

// Field names of a compiled struct in declaration order, from its schema.
std::vector<std::string> schemaFieldNames(capnp::StructSchema schema) {
  std::vector<capnp::StructSchema::Field> fields;
  for (auto f : schema.getFields()) fields.push_back(f);
  std::sort(fields.begin(), fields.end(),
            [](const auto& a, const auto& b) { return a.getProto().getCodeOrder() < b.getProto().getCodeOrder(); });
  std::vector<std::string> names;
  for (const auto& f : fields) names.emplace_back(f.getProto().getName().cStr());
  return names;
}

template <class T>
std::vector<std::string> traitFieldNames() {
  const auto& names = hills::RecordTraits<T>::fieldNames;
  return std::vector<std::string>(names.begin(), names.end());
}

struct NewField {
  const char* name;
  bool pointer;  // Text in a new pointer slot, else UInt64 in a new data word
};

// The schema node of a "newer version" of a compiled struct: the same id and
// fields, with `extra` fields appended where Cap'n Proto's evolution rules put
// them (new data words and pointers at the end).
capnp::schema::Node::Reader newerNode(capnp::MallocMessageBuilder& message, capnp::StructSchema compiled,
                                      const std::vector<NewField>& extra) {
  message.setRoot(compiled.getProto());
  auto node = message.getRoot<capnp::schema::Node>();
  auto st = node.getStruct();
  auto old = st.getFields();
  const unsigned n = old.size();
  auto orphan = message.getOrphanage().newOrphan<capnp::List<capnp::schema::Field>>(n + extra.size());
  auto fields = orphan.get();
  for (unsigned i = 0; i < n; ++i) fields.setWithCaveats(i, old[i]);
  auto dataWords = st.getDataWordCount();
  auto pointers = st.getPointerCount();
  for (unsigned k = 0; k < extra.size(); ++k) {
    auto f = fields[n + k];
    f.setName(extra[k].name);
    f.setCodeOrder(n + k);
    f.getOrdinal().setExplicit(n + k);
    auto slot = f.initSlot();
    if (extra[k].pointer) {
      slot.setOffset(pointers++);
      slot.initType().setText();
      slot.initDefaultValue().setText("");
    } else {
      slot.setOffset(dataWords++);
      slot.initType().setUint64();
      slot.initDefaultValue().setUint64(0);
    }
  }
  st.setDataWordCount(dataWords);
  st.setPointerCount(pointers);
  st.setPreferredListEncoding(capnp::schema::ElementSize::INLINE_COMPOSITE);
  st.adoptFields(kj::mv(orphan));
  return node.asReader();
}

}  // namespace

TEST_CASE("a Part survives a round trip through its capnp builder", "[codegen][plm]") {
  plm::Part p = fullPart();
  checkSameFields(roundTrip(p), p);
}

TEST_CASE("a Bom with lines and nested lists of keys survives a round trip", "[codegen][plm]") {
  plm::Bom b = fullBom();
  checkSameFields(roundTrip(b), b);
  checkSameFields(roundTrip(b.lines[0]), b.lines[0]);
}

TEST_CASE("a StockItem survives a round trip through its capnp builder", "[codegen][plm]") {
  plm::StockItem s = fullStockItem();
  checkSameFields(roundTrip(s), s);
}

TEST_CASE("keys are written as the Ref's id and revision", "[codegen][plm][key]") {
  capnp::MallocMessageBuilder message;
  hills::RecordTraits<plm::Bom>::write(fullBom(), message.initRoot<plm::capnp::Bom>());
  auto r = message.getRoot<plm::capnp::Bom>().asReader();
  CHECK(r.getAssembly().getId() == 42);
  CHECK(r.getAssembly().getRevision() == 3);
  CHECK(r.getLines()[1].getPart().getId() == 8);
  CHECK(r.getLines()[1].getPart().getRevision() == 1);
  CHECK(r.getInterchangeable()[0][1].getId() == 9);
}

TEST_CASE("the record traits of the PLM trees match the schema", "[codegen][plm][traits]") {
  using P = hills::RecordTraits<plm::Part>;
  using B = hills::RecordTraits<plm::Bom>;
  using S = hills::RecordTraits<plm::StockItem>;
  STATIC_REQUIRE(hills::TreeRecord<plm::Part>);
  STATIC_REQUIRE(hills::TreeRecord<plm::Bom>);
  STATIC_REQUIRE(hills::TreeRecord<plm::StockItem>);
  STATIC_REQUIRE_FALSE(hills::TreeRecord<plm::Part::Dimensions>);
  STATIC_REQUIRE_FALSE(hills::TreeRecord<plm::Bom::Line>);

  STATIC_REQUIRE(P::tree == "parts");
  STATIC_REQUIRE(B::tree == "boms");
  STATIC_REQUIRE(S::tree == "stock");
  STATIC_REQUIRE(P::versioned);
  STATIC_REQUIRE(B::versioned);
  STATIC_REQUIRE_FALSE(S::versioned);
  STATIC_REQUIRE(P::typeId == capnp::typeId<plm::capnp::Part>());
  STATIC_REQUIRE(B::typeId == capnp::typeId<plm::capnp::Bom>());
  STATIC_REQUIRE(S::typeId == capnp::typeId<plm::capnp::StockItem>());

  STATIC_REQUIRE(std::is_same_v<P::Record, plm::Part>);
  STATIC_REQUIRE(std::is_same_v<P::Capnp, plm::capnp::Part>);
  STATIC_REQUIRE(std::is_same_v<P::Reader, plm::capnp::Part::Reader>);
  STATIC_REQUIRE(std::is_same_v<P::Builder, plm::capnp::Part::Builder>);
  STATIC_REQUIRE(std::is_same_v<plm::Part::Reader, plm::capnp::Part::Reader>);

  CHECK(traitFieldNames<plm::Part>() == schemaFieldNames(capnp::Schema::from<plm::capnp::Part>()));
  CHECK(traitFieldNames<plm::Bom>() == schemaFieldNames(capnp::Schema::from<plm::capnp::Bom>()));
  CHECK(traitFieldNames<plm::StockItem>() == schemaFieldNames(capnp::Schema::from<plm::capnp::StockItem>()));
  STATIC_REQUIRE(P::fieldNames.size() == boost::pfr::tuple_size_v<plm::Part>);
}

TEST_CASE("the PLM records are plain aggregates with the documented member types", "[codegen][plm]") {
  STATIC_REQUIRE(std::is_aggregate_v<plm::Part>);
  STATIC_REQUIRE(std::is_aggregate_v<plm::Part::Dimensions>);
  STATIC_REQUIRE(std::is_aggregate_v<plm::Bom::Line>);
  STATIC_REQUIRE(std::is_same_v<plm::Part::Kind, plm::capnp::Part::Kind>);
  STATIC_REQUIRE(std::is_same_v<decltype(plm::Part::kind), plm::Part::Kind>);
  STATIC_REQUIRE(std::is_same_v<decltype(plm::Part::drawing), std::vector<std::uint8_t>>);
  STATIC_REQUIRE(std::is_same_v<decltype(plm::Part::dimensions), plm::Part::Dimensions>);
  STATIC_REQUIRE(std::is_same_v<decltype(plm::Bom::assembly), hills::Key<plm::Part>>);
  STATIC_REQUIRE(std::is_same_v<decltype(plm::Bom::interchangeable), std::vector<std::vector<hills::Key<plm::Part>>>>);
  STATIC_REQUIRE(std::is_same_v<decltype(plm::StockItem::alternates), std::vector<hills::Key<plm::Part>>>);
  STATIC_REQUIRE(std::is_same_v<decltype(plm::StockItem::inspection), std::vector<bool>>);

  // Defaults of the schema, in an aggregate made without braces too.
  plm::Part p;
  CHECK(p.minTemperature == -40);
  CHECK(p.maxTemperature == 85);
  CHECK(p.minOrderQuantity == 1);
  CHECK(p.mass == 0);
  CHECK(p.kind == plm::Part::Kind::PURCHASED);
}

TEST_CASE("reading replaces every field of the aggregate", "[codegen][plm]") {
  capnp::MallocMessageBuilder message;
  message.initRoot<plm::capnp::Part>();  // all defaults
  plm::Part p = fullPart();
  hills::RecordTraits<plm::Part>::read(message.getRoot<plm::capnp::Part>().asReader(), p);
  checkSameFields(p, plm::Part{});
}

TEST_CASE("writing over a copied record leaves exactly the aggregate's values", "[codegen][plm]") {
  capnp::MallocMessageBuilder first;
  hills::RecordTraits<plm::Part>::write(fullPart(), first.initRoot<plm::capnp::Part>());
  capnp::MallocMessageBuilder copy;
  copy.setRoot(first.getRoot<plm::capnp::Part>().asReader());

  plm::Part empty{};
  hills::RecordTraits<plm::Part>::write(empty, copy.getRoot<plm::capnp::Part>());
  auto r = copy.getRoot<plm::capnp::Part>().asReader();
  plm::Part back;
  hills::RecordTraits<plm::Part>::read(r, back);
  checkSameFields(back, empty);
  // Empty text, data and lists (whose default is empty) are null pointers.
  CHECK_FALSE(r.hasNumber());
  CHECK_FALSE(r.hasTags());
  CHECK_FALSE(r.hasDrawing());
  CHECK_FALSE(r.hasSupplierIds());
  // The nested struct was there: it is written over, not dropped.
  CHECK(r.hasDimensions());
  CHECK(r.getDimensions().getLength() == 0);
}

TEST_CASE("a nested struct that holds its defaults is not stored", "[codegen][plm]") {
  capnp::MallocMessageBuilder message;
  hills::RecordTraits<plm::Part>::write(plm::Part{}, message.initRoot<plm::capnp::Part>());
  CHECK_FALSE(message.getRoot<plm::capnp::Part>().asReader().hasDimensions());
  plm::Part p{};
  p.dimensions.height = 1;
  checkSameFields(roundTrip(p), p);
}

TEST_CASE("null keys are stored as null Refs", "[codegen][plm][key]") {
  capnp::MallocMessageBuilder message;
  plm::StockItem s{};
  s.alternates = {{}, {5, 0}};
  hills::RecordTraits<plm::StockItem>::write(s, message.initRoot<plm::capnp::StockItem>());
  auto r = message.getRoot<plm::capnp::StockItem>().asReader();
  CHECK_FALSE(r.hasPart());
  REQUIRE(r.getAlternates().size() == 2);
  CHECK(r.getAlternates()[0].getId() == 0);
  checkSameFields(roundTrip(s), s);
}

TEST_CASE("writing into a copy of a newer record keeps the fields this schema does not know",
          "[codegen][plm][evolution]") {
  // A newer program's Part: two fields more at the top level, two more in
  // Part.Dimensions; same type ids, as Cap'n Proto's evolution rules allow.
  capnp::MallocMessageBuilder partNode, dimensionsNode;
  capnp::SchemaLoader loader;
  loader.loadCompiledTypeAndDependencies<plm::capnp::Part>();
  loader.load(newerNode(partNode, capnp::Schema::from<plm::capnp::Part>(),
                        {{"auditCount", false}, {"auditNote", true}}));
  loader.load(newerNode(dimensionsNode, capnp::Schema::from<plm::capnp::Part::Dimensions>(),
                        {{"toleranceNm", false}, {"unit", true}}));
  auto newer = loader.get(capnp::typeId<plm::capnp::Part>()).asStruct();
  REQUIRE(newer.getFields().size() == capnp::Schema::from<plm::capnp::Part>().getFields().size() + 2);

  // The newer program writes a record with every field set.
  capnp::MallocMessageBuilder stored;
  stored.initRoot<capnp::DynamicStruct>(newer);
  hills::RecordTraits<plm::Part>::write(fullPart(), stored.getRoot<plm::capnp::Part>());
  {
    auto dynamic = stored.getRoot<capnp::DynamicStruct>(newer);
    dynamic.set("auditCount", 77);
    dynamic.set("auditNote", "counted twice");
    auto dimensions = dynamic.get("dimensions").as<capnp::DynamicStruct>();
    dimensions.set("toleranceNm", 250);
    dimensions.set("unit", "mm");
  }

  // This program updates it as the core does: copy the stored struct, then
  // write its own aggregate over the copy.
  plm::Part edited = fullPart();
  edited.name = "hex bolt M6x25";
  edited.tags.clear();
  edited.description.clear();
  edited.dimensions.length = 25.5f;
  capnp::MallocMessageBuilder updated;
  updated.setRoot(stored.getRoot<plm::capnp::Part>().asReader());
  hills::RecordTraits<plm::Part>::write(edited, updated.getRoot<plm::capnp::Part>());

  plm::Part back;
  hills::RecordTraits<plm::Part>::read(updated.getRoot<plm::capnp::Part>().asReader(), back);
  checkSameFields(back, edited);

  auto dynamic = updated.getRoot<capnp::DynamicStruct>(newer).asReader();
  CHECK(dynamic.get("auditCount").as<std::uint64_t>() == 77);
  CHECK(dynamic.get("auditNote").as<capnp::Text>() == "counted twice");
  auto dimensions = dynamic.get("dimensions").as<capnp::DynamicStruct>();
  CHECK(dimensions.get("toleranceNm").as<std::uint64_t>() == 250);
  CHECK(dimensions.get("unit").as<capnp::Text>() == "mm");
  CHECK(dimensions.get("length").as<float>() == 25.5f);
}

// Built with -Werror=missing-field-initializers (tests/codegen/CMakeLists.txt):
// every generated member has an initializer, so designated initializers may
// leave any of them out.
TEST_CASE("a record written with designated initializers leaves out any member",
          "[codegen][plm][regression]") {
  plm::Part part{.number = "P-1", .mass = 2.5};
  CHECK(part.number == "P-1");
  CHECK(part.name.empty());
  CHECK(part.mass == 2.5);
  CHECK(part.tags.empty());
  plm::Bom bom{.assembly = hills::Key<plm::Part>{1, 0}};
  CHECK(bom.lines.empty());
  CHECK(bom.assembly.id == 1);
  plm::Bom::Line line{.quantity = 4};
  CHECK(!line.part);
  CHECK(line.designators.empty());
}
