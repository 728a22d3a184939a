#include "hills/field_reader.h"

#include <bit>
#include <cstring>

#include "hills/error.h"
#include "hills/ref.h"

namespace hills {

namespace {

using Kind = FieldValue::Kind;
using W = capnp::schema::Type;

// The bits of a default value, as the data section holds the value XORed
// with them.
std::uint64_t maskOf(capnp::schema::Value::Reader v) {
  using V = capnp::schema::Value;
  switch (v.which()) {
    case V::BOOL: return v.getBool() ? 1 : 0;
    case V::INT8: return static_cast<std::uint8_t>(v.getInt8());
    case V::INT16: return static_cast<std::uint16_t>(v.getInt16());
    case V::INT32: return static_cast<std::uint32_t>(v.getInt32());
    case V::INT64: return static_cast<std::uint64_t>(v.getInt64());
    case V::UINT8: return v.getUint8();
    case V::UINT16: return v.getUint16();
    case V::UINT32: return v.getUint32();
    case V::UINT64: return v.getUint64();
    case V::FLOAT32: return std::bit_cast<std::uint32_t>(v.getFloat32());
    case V::FLOAT64: return std::bit_cast<std::uint64_t>(v.getFloat64());
    case V::ENUM: return v.getEnum();
    default: return 0;
  }
}

Kind kindOf(capnp::Type type) {
  switch (type.which()) {
    case W::VOID: return Kind::kVoid;
    case W::BOOL: return Kind::kBool;
    case W::INT8: case W::INT16: case W::INT32: case W::INT64: return Kind::kInt;
    case W::UINT8: case W::UINT16: case W::UINT32: case W::UINT64: return Kind::kUInt;
    case W::FLOAT32: case W::FLOAT64: return Kind::kFloat;
    case W::ENUM: return Kind::kEnum;
    case W::TEXT: return Kind::kText;
    case W::DATA: return Kind::kData;
    case W::LIST: return Kind::kList;
    case W::STRUCT: return isRefType(type) ? Kind::kRef : Kind::kStruct;
    default: return Kind::kOther;
  }
}

bool isPointer(Kind kind) {
  return kind == Kind::kText || kind == Kind::kData || kind == Kind::kRef ||
         kind == Kind::kStruct || kind == Kind::kList || kind == Kind::kOther;
}

// The little-endian slot of `T` at `offset` (in units of T), XORed with
// the default's bits; the default when it lies beyond the data section (a
// value written with an older, shorter schema).
template <class T>
T slot(kj::ArrayPtr<const kj::byte> data, std::uint32_t offset, std::uint64_t mask) {
  using U = std::conditional_t<sizeof(T) == 1, std::uint8_t,
            std::conditional_t<sizeof(T) == 2, std::uint16_t,
            std::conditional_t<sizeof(T) == 4, std::uint32_t, std::uint64_t>>>;
  U raw = 0;
  std::size_t at = std::size_t{offset} * sizeof(T);
  if (at + sizeof(T) <= data.size()) {
    std::memcpy(&raw, data.begin() + at, sizeof(T));
    if constexpr (std::endian::native == std::endian::big && sizeof(T) > 1) {
      raw = static_cast<U>(__builtin_bswap64(raw) >> (64 - 8 * sizeof(T)));
    }
  }
  return std::bit_cast<T>(static_cast<U>(raw ^ static_cast<U>(mask)));
}

bool bit(kj::ArrayPtr<const kj::byte> data, std::uint32_t offset, std::uint64_t mask) {
  bool b = offset / 8 < data.size() && ((data[offset / 8] >> (offset % 8)) & 1) != 0;
  return b != (mask != 0);
}

std::uint32_t slotOffset(capnp::StructSchema schema, const char* field) {
  return schema.getFieldByName(field).getProto().getSlot().getOffset();
}

}  // namespace

FieldReader::FieldReader(capnp::StructSchema schema) : schema_(schema) {
  discriminantOffset_ = schema.getProto().getStruct().getDiscriminantOffset();
  for (auto field : schema.getFields()) {
    Slot s;
    auto proto = field.getProto();
    s.discriminant = proto.getDiscriminantValue();
    fields_.push_back(field);
    types_.push_back(field.getType());
    if (proto.isGroup()) {
      s.kind = Kind::kGroup;
      s.type = W::STRUCT;
      slots_.push_back(s);
      continue;
    }
    auto type = field.getType();
    s.kind = kindOf(type);
    s.type = type.which();
    s.offset = proto.getSlot().getOffset();
    s.mask = maskOf(proto.getSlot().getDefaultValue());
    if (s.kind == Kind::kEnum) {
      s.names = static_cast<std::uint32_t>(enumNames_.size());
      auto& names = enumNames_.emplace_back();
      for (auto e : type.asEnum().getEnumerants()) names.emplace_back(e.getProto().getName().cStr());
    }
    if (s.kind == Kind::kRef) {
      refId_ = slotOffset(type.asStruct(), "id");
      refRevision_ = slotOffset(type.asStruct(), "revision");
    }
    slots_.push_back(s);
  }
}

FieldReader::~FieldReader() = default;
FieldReader::FieldReader(FieldReader&&) noexcept = default;
FieldReader& FieldReader::operator=(FieldReader&&) noexcept = default;

capnp::StructSchema::Field FieldReader::field(std::size_t index) const {
  if (index >= fields_.size()) {
    throw Error(ErrorCode::kInvalidArgument, "FieldReader: no field " + std::to_string(index) +
                                                 " in " + schema_.getProto().getDisplayName().cStr());
  }
  return fields_[index];
}

FieldValue FieldReader::read(capnp::AnyStruct::Reader value, std::size_t index) const {
  if (index >= slots_.size()) field(index);  // throws
  const Slot& s = slots_[index];
  FieldValue v;
  v.type = s.type;
  auto data = value.getDataSection();
  if (s.discriminant != capnp::schema::Field::NO_DISCRIMINANT &&
      slot<std::uint16_t>(data, discriminantOffset_, 0) != s.discriminant) {
    v.kind = Kind::kInactive;
    return v;
  }
  if (isPointer(s.kind)) {
    auto pointers = value.getPointerSection();
    if (s.offset < pointers.size()) v.pointer = pointers[s.offset];
    if (v.pointer.isNull()) {
      v.kind = Kind::kNull;
      return v;
    }
  }
  v.kind = s.kind;
  switch (s.type) {
    case W::BOOL: v.boolean = bit(data, s.offset, s.mask); break;
    case W::INT8: v.integer = slot<std::int8_t>(data, s.offset, s.mask); break;
    case W::INT16: v.integer = slot<std::int16_t>(data, s.offset, s.mask); break;
    case W::INT32: v.integer = slot<std::int32_t>(data, s.offset, s.mask); break;
    case W::INT64: v.integer = slot<std::int64_t>(data, s.offset, s.mask); break;
    case W::UINT8: v.uinteger = slot<std::uint8_t>(data, s.offset, s.mask); break;
    case W::UINT16: v.uinteger = slot<std::uint16_t>(data, s.offset, s.mask); break;
    case W::UINT32: v.uinteger = slot<std::uint32_t>(data, s.offset, s.mask); break;
    case W::UINT64: v.uinteger = slot<std::uint64_t>(data, s.offset, s.mask); break;
    case W::FLOAT32: v.number = slot<float>(data, s.offset, s.mask); break;
    case W::FLOAT64: v.number = slot<double>(data, s.offset, s.mask); break;
    case W::ENUM: {
      v.enumerant = slot<std::uint16_t>(data, s.offset, s.mask);
      const auto& names = enumNames_[s.names];
      if (v.enumerant < names.size()) v.text = names[v.enumerant];
      break;
    }
    case W::TEXT: {
      auto text = v.pointer.getAs<capnp::Text>();
      v.text = std::string_view(text.cStr(), text.size());
      break;
    }
    case W::DATA: v.data = v.pointer.getAs<capnp::Data>(); break;
    default:
      if (s.kind == Kind::kRef) {
        auto ref = v.pointer.getAs<capnp::AnyStruct>().getDataSection();
        v.uinteger = slot<std::uint64_t>(ref, refId_, 0);
        v.revision = slot<std::uint32_t>(ref, refRevision_, 0);
      }
      break;
  }
  return v;
}

capnp::Type FieldReader::type(std::size_t index) const {
  if (index >= types_.size()) field(index);  // throws
  return types_[index];
}

capnp::DynamicValue::Reader FieldReader::dynamic(capnp::AnyStruct::Reader value,
                                                 std::size_t index) const {
  auto t = type(index);
  const Slot& s = slots_[index];
  if (s.kind == Kind::kGroup) return value.as<capnp::DynamicStruct>(t.asStruct());
  if (s.kind == Kind::kStruct || s.kind == Kind::kRef || s.kind == Kind::kList) {
    auto pointers = value.getPointerSection();
    capnp::AnyPointer::Reader p;
    if (s.offset < pointers.size()) p = pointers[s.offset];
    if (s.kind == Kind::kList) return p.getAs<capnp::DynamicList>(t.asList());
    return p.getAs<capnp::DynamicStruct>(t.asStruct());
  }
  auto f = fields_[index];
  // Scalars, Text, Data and the rest: as the dynamic API reads them, union
  // or not (a view of the struct as it would be with this member active).
  return value.as<capnp::DynamicStruct>(schema_).get(f);
}

}  // namespace hills
