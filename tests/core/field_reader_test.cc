// FieldReader against Cap'n Proto's dynamic API: every field of a struct
// with every kind (defaults XORed in the data section, unions, groups,
// null pointers, references) reads as DynamicStruct::get reads it.
#include <capnp/compat/json.h>
#include <capnp/dynamic.h>
#include <capnp/message.h>

#include <catch2/catch.hpp>

#include "hills/error.h"
#include "hills/field_reader.h"
#include "json_shapes.capnp.h"
#include "plm.hills.h"

namespace {

using Kind = hills::FieldValue::Kind;

std::string json(capnp::DynamicValue::Reader v, capnp::Type type) {
  thread_local const capnp::JsonCodec codec;
  return codec.encode(v, type).cStr();
}

// Every field the reader reads of `s` is what the dynamic API reads.
void compareAll(capnp::DynamicStruct::Reader s) {
  hills::FieldReader reader(s.getSchema());
  auto any = s.as<capnp::AnyStruct>();
  REQUIRE(reader.size() == s.getSchema().getFields().size());
  for (std::size_t i = 0; i < reader.size(); ++i) {
    auto field = reader.field(i);
    INFO("field " << field.getProto().getName().cStr());
    auto v = reader.read(any, i);
    bool member = field.getProto().getDiscriminantValue() != capnp::schema::Field::NO_DISCRIMINANT;
    bool active = true;
    if (member) {
      KJ_IF_MAYBE (which, s.which()) {
        active = *which == field;
      }
    }
    if (!active) {
      CHECK(v.kind == Kind::kInactive);
      continue;
    }
    auto d = s.get(field);
    if (v.kind == Kind::kNull) {
      CHECK_FALSE(s.has(field));
      continue;
    }
    switch (v.kind) {
      case Kind::kVoid: CHECK(d.getType() == capnp::DynamicValue::VOID); break;
      case Kind::kBool: CHECK(v.boolean == d.as<bool>()); break;
      case Kind::kInt: CHECK(v.integer == d.as<std::int64_t>()); break;
      case Kind::kUInt: CHECK(v.uinteger == d.as<std::uint64_t>()); break;
      case Kind::kFloat: CHECK(v.number == d.as<double>()); break;
      case Kind::kEnum: {
        auto e = d.as<capnp::DynamicEnum>();
        CHECK(v.enumerant == e.getRaw());
        KJ_IF_MAYBE (named, e.getEnumerant()) {
          CHECK(v.text == named->getProto().getName().cStr());
        }
        break;
      }
      case Kind::kText: CHECK(v.text == d.as<capnp::Text>().cStr()); break;
      case Kind::kData: CHECK(v.data == d.as<capnp::Data>()); break;
      case Kind::kRef:
        CHECK(v.uinteger == d.as<capnp::DynamicStruct>().get("id").as<std::uint64_t>());
        CHECK(v.revision == d.as<capnp::DynamicStruct>().get("revision").as<std::uint32_t>());
        break;
      default:  // nested values: through dynamic()
        CHECK(json(reader.dynamic(any, i), field.getType()) == json(d, field.getType()));
    }
  }
}

}  // namespace

TEST_CASE("a field reader reads every kind of field as the dynamic API does",
          "[core][field_reader]") {
  capnp::MallocMessageBuilder defaults;
  compareAll(defaults.initRoot<Shapes>().asReader());

  capnp::MallocMessageBuilder message;
  auto s = message.initRoot<Shapes>();
  s.setFlag(false);
  s.setI8(-128);
  s.setI32(-5);
  s.setI64(-9);
  s.setU16(3);
  s.setU64(1);
  s.setF32(0.1f);
  s.setF64(-1.0 / 3.0);
  s.setText("text");
  kj::byte bytes[] = {0, 1, 255};
  s.setData(kj::arrayPtr(bytes, sizeof(bytes)));
  s.setColor(Shapes::Color::BLUE);
  s.initInner().setB("inner");
  s.initTexts(2).set(1, "second");
  s.getChoice().initBox().setWidth(2.5f);
  s.getPlace().setName("here");
  s.setSecond(-4);
  compareAll(s.asReader());

  // An enumerant the schema does not name reads as its number.
  capnp::MallocMessageBuilder odd;
  auto o = odd.initRoot<Shapes>();
  o.setColor(static_cast<Shapes::Color>(9));
  o.getChoice().setLabel("label");
  hills::FieldReader reader(capnp::Schema::from<Shapes>());
  auto v = reader.read(capnp::AnyStruct::Reader(o.asReader()), 14);
  CHECK(v.kind == Kind::kEnum);
  CHECK(v.enumerant == 9);
  CHECK(v.text.empty());
  compareAll(o.asReader());
  CHECK_THROWS_AS(reader.read(capnp::AnyStruct::Reader(o.asReader()), reader.size()), hills::Error);
}

TEST_CASE("a field reader reads references as their id and revision", "[core][field_reader]") {
  capnp::MallocMessageBuilder message;
  auto bom = message.initRoot<plm::capnp::Bom>();
  bom.initAssembly().setId(42);
  bom.getAssembly().setRevision(3);
  bom.setNotes("n");
  compareAll(bom.asReader());
  hills::FieldReader reader(capnp::Schema::from<plm::capnp::Bom>());
  auto v = reader.read(capnp::AnyStruct::Reader(bom.asReader()), 0);
  CHECK(v.kind == Kind::kRef);
  CHECK(v.uinteger == 42);
  CHECK(v.revision == 3);
  capnp::MallocMessageBuilder empty;
  auto none = reader.read(capnp::AnyStruct::Reader(empty.initRoot<plm::capnp::Bom>().asReader()), 0);
  CHECK(none.kind == Kind::kNull);
}
