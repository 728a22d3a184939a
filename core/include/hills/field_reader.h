// Reading the fields of a struct without compiled types and without
// Cap'n Proto's dynamic API: a plan of where each field of a stored schema
// lies (its slot's offset, its default's bits, its union discriminant),
// made once per schema, then each field of a value read straight from its
// slot. What the JSON writer, export-sqlite and the viewer's record table
// read records with.
//
//   hills::FieldReader reader(tree.schema());          // once per schema
//   auto body = rec.body().getAs<capnp::AnyStruct>();
//   for (std::size_t i = 0; i < reader.size(); ++i) {
//     auto v = reader.read(body, i);
//     if (v.kind == hills::FieldValue::Kind::kFloat) use(v.number);
//   }
#pragma once

#include <capnp/any.h>
#include <capnp/dynamic.h>
#include <capnp/schema.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace hills {

// One field of one value, as FieldReader::read hands it over. Only the
// members that `kind` names are set. `text`, `data` and `pointer` look into
// the value read: valid as long as its message is (a stored record's:
// until the end of the read transaction). An enumerant's name lives in the
// reader.
struct FieldValue {
  enum class Kind : std::uint8_t {
    kInactive,  // a member of the struct's union that is not the active one
    kNull,      // a pointer field (Text, Data, struct, reference, list...) that is null
    kVoid,
    kBool,      // `boolean`
    kInt,       // Int8 to Int64: `integer`
    kUInt,      // UInt8 to UInt64: `uinteger`
    kFloat,     // Float32 (widened, exactly) and Float64: `number`
    kEnum,      // `enumerant`, and `text` its name (empty for a number the schema lacks)
    kText,      // `text` (without the NUL)
    kData,      // `data`
    kRef,       // a Hills.Ref: `uinteger` its id (0: a null reference), `revision`, `pointer`
    kStruct,    // another struct: `pointer`
    kList,      // `pointer`
    kGroup,     // a group: its fields lie in the struct that was read
    kOther,     // AnyPointer or an interface: `pointer`
  };
  Kind kind = Kind::kInactive;
  capnp::schema::Type::Which type = capnp::schema::Type::VOID;  // as the schema declares the field
  bool boolean = false;
  std::int64_t integer = 0;
  std::uint64_t uinteger = 0;
  double number = 0;
  std::uint32_t revision = 0;
  std::uint16_t enumerant = 0;
  std::string_view text;
  kj::ArrayPtr<const kj::byte> data;
  capnp::AnyPointer::Reader pointer;
};

// Where the fields of one struct type lie, worked out from its schema when
// the reader is made; then reads them from any value of that type. Make one
// per schema and use it for many values. Holds the schema, which must
// outlive it (a tree's stored schema: while its database is open). Reading
// changes nothing: one reader may serve many threads.
class FieldReader {
 public:
  explicit FieldReader(capnp::StructSchema schema);
  ~FieldReader();
  FieldReader(FieldReader&&) noexcept;
  FieldReader& operator=(FieldReader&&) noexcept;

  capnp::StructSchema schema() const { return schema_; }
  // The schema's fields, in the order of schema().getFields().
  std::size_t size() const { return slots_.size(); }
  capnp::StructSchema::Field field(std::size_t index) const;
  // The field's type (looked up once, when the reader was made). Throws as
  // field() does.
  capnp::Type type(std::size_t index) const;

  // The field `index` of `value`, a struct of the reader's schema. A value
  // written with an older schema (a shorter struct) reads the defaults of
  // the fields it lacks, as Cap'n Proto does. Throws kj::Exception when a
  // pointer does not decode as the field's kind (Text, Data, a struct), as
  // Cap'n Proto's readers do; Error(kInvalidArgument) for an index past
  // size(). Never allocates.
  FieldValue read(capnp::AnyStruct::Reader value, std::size_t index) const;

  // The same field through Cap'n Proto's dynamic API, for walking what
  // read() hands over as a struct, a reference, a list or a group: what
  // DynamicStruct::get(field) returns, without looking the field up again
  // (a null pointer reads as the type's default). Other kinds go through
  // DynamicStruct::get. Throws as read() does, and kj::Exception for a
  // scalar, Text or Data member of the union that is not the active one.
  capnp::DynamicValue::Reader dynamic(capnp::AnyStruct::Reader value, std::size_t index) const;

 private:
  struct Slot {
    FieldValue::Kind kind = FieldValue::Kind::kVoid;
    capnp::schema::Type::Which type = capnp::schema::Type::VOID;
    std::uint16_t discriminant = capnp::schema::Field::NO_DISCRIMINANT;
    std::uint32_t offset = 0;  // data: in units of the type's size (bits for Bool); else the pointer's index
    std::uint64_t mask = 0;    // the default's bits, which the data section holds XORed with the value
    std::uint32_t names = 0;   // kEnum: its names in enumNames_
  };

  capnp::StructSchema schema_;
  std::uint32_t discriminantOffset_ = 0;  // in 16-bit units
  std::uint32_t refId_ = 0, refRevision_ = 0;  // Hills.Ref's slots
  std::vector<Slot> slots_;
  std::vector<capnp::StructSchema::Field> fields_;
  std::vector<capnp::Type> types_;
  std::vector<std::vector<std::string>> enumNames_;
};

}  // namespace hills
