#include "hills/generic.h"

#include <capnp/compat/json.h>
#include <capnp/dynamic.h>

#include <cmath>
#include <cstdint>
#include <optional>
#include <string>

#include "hills/tree.h"
#include "json_encode.h"
#include "schema_registry.h"
#include "state.h"
#include "write_path.h"

namespace hills {

namespace {

using capnp::JsonValue;

// What a JSON value is, for messages.
std::string kindOf(JsonValue::Reader value) {
  switch (value.which()) {
    case JsonValue::NULL_:
      return "null";
    case JsonValue::BOOLEAN:
      return "a boolean";
    case JsonValue::NUMBER:
      return "a number";
    case JsonValue::STRING:
      return "a string";
    case JsonValue::ARRAY:
      return "an array";
    case JsonValue::OBJECT:
      return "an object";
    case JsonValue::CALL:
      return "a call";
  }
  return "an unknown value";
}

// A schema type as Cap'n Proto's schema language writes it.
std::string typeName(capnp::Type type) {
  switch (type.which()) {
    case capnp::schema::Type::LIST:
      return "List(" + typeName(type.asList().getElementType()) + ")";
    case capnp::schema::Type::ENUM:
      return type.asEnum().getShortDisplayName().cStr();
    case capnp::schema::Type::STRUCT:
      return type.asStruct().getShortDisplayName().cStr();
    case capnp::schema::Type::INTERFACE:
      return type.asInterface().getShortDisplayName().cStr();
    default:
      return std::string(detail::builtinTypeName(type.which()));
  }
}

// The range of an integer type: signedness and bits.
struct IntegerType {
  bool isSigned = false;
  int bits = 0;
};

std::optional<IntegerType> integerType(capnp::Type type) {
  switch (type.which()) {
    case capnp::schema::Type::INT8:
      return IntegerType{true, 8};
    case capnp::schema::Type::INT16:
      return IntegerType{true, 16};
    case capnp::schema::Type::INT32:
      return IntegerType{true, 32};
    case capnp::schema::Type::INT64:
      return IntegerType{true, 64};
    case capnp::schema::Type::UINT8:
      return IntegerType{false, 8};
    case capnp::schema::Type::UINT16:
      return IntegerType{false, 16};
    case capnp::schema::Type::UINT32:
      return IntegerType{false, 32};
    case capnp::schema::Type::UINT64:
      return IntegerType{false, 64};
    default:
      return std::nullopt;
  }
}

// `text` parsed as a T by kj, as capnp-json parses strings it decodes into
// numbers (so the check accepts exactly what decoding does: "0x10", " 12");
// empty when it does not parse.
template <class T>
std::optional<T> parseWithKj(kj::StringPtr text) {
  try {
    return text.parseAs<T>();
  } catch (const kj::Exception&) {
    return std::nullopt;
  }
}

// Checks parsed JSON against a struct schema before Cap'n Proto's decoder
// sees it: the decoder's own refusals name neither the field nor the types,
// and some mistakes it lets through (a string in a Data array becomes 0;
// an unknown field is ignored). It accepts what capnp-json decodes: integers
// as numbers or as strings (how 64-bit integers are written), floats as
// numbers, strings ("NaN", "Infinity") or null, Data as arrays of bytes,
// enums by name, anything for Void.
class JsonCheck {
 public:
  explicit JsonCheck(std::string context) : context_(std::move(context)) {}

  void record(JsonValue::Reader json, capnp::StructSchema schema) {
    if (!json.isObject()) {
      refuse("the JSON is " + kindOf(json) + ", not an object (" + typeName(schema) + ")");
    }
    object(json, schema);
  }

 private:
  void object(JsonValue::Reader json, capnp::StructSchema schema) {
    for (auto member : json.getObject()) {
      auto at = path_.size();
      if (!path_.empty()) path_ += '.';
      path_ += member.getName().cStr();
      KJ_IF_MAYBE (field, schema.findFieldByName(member.getName())) {
        value(member.getValue(), field->getType());
      } else {
        refuse("unknown field '" + path_ + "' (not in " + typeName(schema) + ")");
      }
      path_.resize(at);
    }
  }

  void value(JsonValue::Reader json, capnp::Type type) {
    using capnp::schema::Type;
    switch (type.which()) {
      case Type::VOID:
        return;  // the decoder ignores the value
      case Type::BOOL:
        if (!json.isBoolean()) mismatch(json, type);
        return;
      case Type::FLOAT32:
      case Type::FLOAT64:
        return floating(json, type);
      case Type::TEXT:
        if (!json.isString()) mismatch(json, type);
        return;
      case Type::DATA:
        return data(json, type);
      case Type::LIST:
        return list(json, type);
      case Type::ENUM:
        return enumerant(json, type);
      case Type::STRUCT:
        if (!json.isObject()) mismatch(json, type);
        return object(json, type.asStruct());
      case Type::INTERFACE:
      case Type::ANY_POINTER:
        refuse(where() + " is " + typeName(type) + ", which JSON cannot set");
      default:
        return integer(json, type, *integerType(type));
    }
  }

  void integer(JsonValue::Reader json, capnp::Type type, IntegerType range) {
    if (json.isNumber()) {
      double x = json.getNumber();
      // Both bounds are powers of two, exact as doubles.
      double low = range.isSigned ? -std::ldexp(1.0, range.bits - 1) : 0.0;
      double end = std::ldexp(1.0, range.isSigned ? range.bits - 1 : range.bits);
      if (std::trunc(x) != x) {
        mismatch(json, type, kj::str(x).cStr() + std::string(" is not a whole number"));
      }
      if (x < low || x >= end) mismatch(json, type, kj::str(x).cStr() + outOfRange(type));
      return;
    }
    if (!json.isString()) mismatch(json, type);
    auto text = json.getString();
    auto quoted = "\"" + std::string(text.cStr()) + "\"";
    if (range.isSigned) {
      auto n = parseWithKj<std::int64_t>(text);
      if (!n) mismatch(json, type, quoted + " is not an integer");
      std::int64_t high = range.bits == 64 ? INT64_MAX : (std::int64_t{1} << (range.bits - 1)) - 1;
      if (*n > high || *n < -high - 1) mismatch(json, type, quoted + outOfRange(type));
    } else {
      auto n = parseWithKj<std::uint64_t>(text);
      if (!n) mismatch(json, type, quoted + " is not an unsigned integer");
      if (range.bits < 64 && *n >> range.bits != 0) mismatch(json, type, quoted + outOfRange(type));
    }
  }

  void floating(JsonValue::Reader json, capnp::Type type) {
    if (json.isNull() || json.isNumber()) return;  // null decodes as NaN
    if (!json.isString()) mismatch(json, type);
    if (!parseWithKj<double>(json.getString())) {
      mismatch(json, type, "\"" + std::string(json.getString().cStr()) + "\" is not a number");
    }
  }

  void data(JsonValue::Reader json, capnp::Type type) {
    if (!json.isArray()) mismatch(json, type);
    auto bytes = json.getArray();
    for (unsigned i = 0; i < bytes.size(); ++i) {
      auto at = element(i);
      auto b = bytes[i];
      if (!b.isNumber()) refuse(where() + " expects a byte, got " + kindOf(b));
      double x = b.getNumber();
      if (std::trunc(x) != x || x < 0 || x > 255) {
        refuse(where() + " expects a byte, got " + kj::str(x).cStr() +
               " (bytes are whole numbers from 0 to 255)");
      }
      path_.resize(at);
    }
  }

  void list(JsonValue::Reader json, capnp::Type type) {
    if (!json.isArray()) mismatch(json, type);
    auto items = json.getArray();
    auto of = type.asList().getElementType();
    for (unsigned i = 0; i < items.size(); ++i) {
      auto at = element(i);
      value(items[i], of);
      path_.resize(at);
    }
  }

  void enumerant(JsonValue::Reader json, capnp::Type type) {
    auto schema = type.asEnum();
    if (json.isString() && schema.findEnumerantByName(json.getString()) != nullptr) return;
    std::string names;
    for (auto e : schema.getEnumerants()) {
      names += names.empty() ? "" : ", ";
      names += e.getProto().getName().cStr();
    }
    auto got = json.isString() ? "\"" + std::string(json.getString().cStr()) + "\"" : kindOf(json);
    refuse(where() + " expects " + typeName(type) + " (one of " + names + "), got " + got);
  }

  // Appends "[i]" to the path; returns the length to cut it back to.
  std::size_t element(unsigned i) {
    auto at = path_.size();
    path_ += '[' + std::to_string(i) + ']';
    return at;
  }

  std::string where() const { return "field '" + path_ + "'"; }

  static std::string outOfRange(capnp::Type type) {
    return " is out of the range of " + typeName(type);
  }

  [[noreturn]] void mismatch(JsonValue::Reader json, capnp::Type type,
                             const std::string& why = {}) {
    refuse(where() + " expects " + typeName(type) + ", got " + kindOf(json) +
           (why.empty() ? "" : ": " + why));
  }

  [[noreturn]] void refuse(const std::string& what) {
    throw Error(ErrorCode::kInvalidArgument, context_ + what);
  }

  std::string context_;
  std::string path_;
};

// How refusals of JSON that does not fit begin.
std::string misfit(const GenericTreeView& tree, const std::string& target) {
  return "JSON for " + target + " does not fit the schema of tree '" + tree.name() + "': ";
}

// Parses the JSON into `message` and checks it against the tree's schema,
// before any record is touched. Throws Error(kInvalidArgument) naming
// `target` and, for a misfit, the field and both types.
JsonValue::Reader parse(const GenericTreeView& tree, std::string_view json,
                        const std::string& target, capnp::MessageBuilder& message) {
  auto root = message.initRoot<JsonValue>();
  try {
    capnp::JsonCodec().decodeRaw(kj::ArrayPtr<const char>(json.data(), json.size()), root);
  } catch (const kj::Exception& e) {
    throw Error(ErrorCode::kInvalidArgument,
                "JSON for " + target + " does not parse: " + e.getDescription().cStr());
  }
  JsonCheck(misfit(tree, target)).record(root, tree.schema());
  return root.asReader();
}

// Decodes the checked JSON into the body, over a copy of the previous body
// when there is one (so fields the JSON leaves out, and fields of a newer
// schema than the one this process loaded, keep their values).
bool decodeInto(const GenericTreeView& tree, JsonValue::Reader json,
                capnp::AnyPointer::Builder body, capnp::AnyPointer::Reader previous,
                const std::string& target) {
  try {
    capnp::JsonCodec codec;
    if (previous.isNull()) {
      codec.decode(json, body.initAs<capnp::DynamicStruct>(tree.schema()));
      return false;
    }
    body.set(previous);
    codec.decode(json, body.getAs<capnp::DynamicStruct>(tree.schema()));
    return true;
  } catch (const kj::Exception& e) {
    // What the check above does not foresee, in Cap'n Proto's words.
    throw Error(ErrorCode::kInvalidArgument, misfit(tree, target) + e.getDescription().cStr());
  }
}

}  // namespace

std::string toJson(const GenericTreeView& tree, const StoredRecord& record) {
  std::string out;
  appendJson(out, tree, record);
  return out;
}

void appendJson(std::string& out, const GenericTreeView& tree, const StoredRecord& record) {
  auto at = out.size();
  try {
    detail::writeJson(out, *detail::TxnAccess::state(tree)->json,
                      record.body().getAs<capnp::AnyStruct>());
  } catch (const kj::Exception& e) {
    out.resize(at);
    record.throwCorrupt(e);
  }
}

void appendJsonString(std::string& out, std::string_view text) {
  detail::writeJsonString(out, text.data(), text.size());
}

JsonWriter::JsonWriter(capnp::StructSchema schema) : plans_(detail::planJson(schema)) {}

JsonWriter::JsonWriter(const GenericTreeView& tree)
    : plans_(detail::TxnAccess::state(tree)->json) {}

namespace {

capnp::AnyStruct::Reader checkedValue(const detail::JsonPlans& plans,
                                      capnp::DynamicStruct::Reader value) {
  if (value.getSchema() != detail::jsonSchema(plans)) {
    throw Error(ErrorCode::kInvalidArgument,
                std::string("JsonWriter for ") + detail::jsonSchema(plans).getProto().getDisplayName().cStr() +
                    " was given a value of " + value.getSchema().getProto().getDisplayName().cStr());
  }
  return value.as<capnp::AnyStruct>();
}

}  // namespace

void JsonWriter::append(std::string& out, capnp::DynamicStruct::Reader value) const {
  detail::writeJson(out, *plans_, checkedValue(*plans_, value));
}

void JsonWriter::appendField(std::string& out, capnp::DynamicStruct::Reader value,
                             capnp::StructSchema::Field field) const {
  auto any = checkedValue(*plans_, value);
  if (field.getContainingStruct() != detail::jsonSchema(*plans_)) {
    throw Error(ErrorCode::kInvalidArgument,
                std::string("JsonWriter::appendField: the field '") +
                    field.getProto().getName().cStr() + "' is not one of " +
                    detail::jsonSchema(*plans_).getProto().getDisplayName().cStr());
  }
  detail::writeJsonField(out, *plans_, any, field.getIndex());
}

void updateFromJson(GenericTree& tree, std::uint64_t id, std::uint32_t revision,
                    std::string_view json) {
  auto target = describe(tree.name(), id, revision);
  capnp::MallocMessageBuilder message;
  auto parsed = parse(tree, json, target, message);
  tree.update(id, revision, [&](capnp::AnyPointer::Builder body, capnp::AnyPointer::Reader prev) {
    return decodeInto(tree, parsed, body, prev, target);
  });
}

std::uint64_t createFromJson(GenericTree& tree, std::string_view json) {
  auto target = "a new record of tree '" + tree.name() + "'";
  capnp::MallocMessageBuilder message;
  auto parsed = parse(tree, json, target, message);
  return tree.create([&](capnp::AnyPointer::Builder body, capnp::AnyPointer::Reader prev) {
    return decodeInto(tree, parsed, body, prev, target);
  });
}

}  // namespace hills
