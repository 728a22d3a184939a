#include "values.h"

#include <charconv>
#include <cmath>
#include <cstdint>
#include <limits>

#include "names.h"

namespace hills::codegen {

namespace {

namespace schema = capnp::schema;

constexpr std::uint64_t kCxxNameAnnotation = 0xf264a779fef191ceull;

// Shortest text that reads back as exactly `v`, as a C++ literal.
template <class F>
std::string floatText(F v, const char* type, const char* suffix) {
  if (std::isnan(v)) return std::string("::std::numeric_limits<") + type + ">::quiet_NaN()";
  if (std::isinf(v)) return std::string(v < 0 ? "-" : "") + "::std::numeric_limits<" + type + ">::infinity()";
  char buf[64];
  auto end = std::to_chars(buf, buf + sizeof buf, v).ptr;
  std::string text(buf, end);
  if (text.find_first_of(".e") == std::string::npos) text += ".0";
  return text + suffix;
}

std::string enumerantName(capnp::EnumSchema::Enumerant e) {
  for (auto a : e.getProto().getAnnotations()) {
    if (a.getId() == kCxxNameAnnotation) return upperCase(a.getValue().getText().cStr());
  }
  return upperCase(e.getProto().getName().cStr());
}

}  // namespace

capnp::DynamicValue::Reader defaultValue(capnp::Type type, schema::Value::Reader value) {
  switch (type.which()) {
    case schema::Type::BOOL: return value.getBool();
    case schema::Type::INT8: return value.getInt8();
    case schema::Type::INT16: return value.getInt16();
    case schema::Type::INT32: return value.getInt32();
    case schema::Type::INT64: return value.getInt64();
    case schema::Type::UINT8: return value.getUint8();
    case schema::Type::UINT16: return value.getUint16();
    case schema::Type::UINT32: return value.getUint32();
    case schema::Type::UINT64: return value.getUint64();
    case schema::Type::FLOAT32: return value.getFloat32();
    case schema::Type::FLOAT64: return value.getFloat64();
    case schema::Type::ENUM: return capnp::DynamicEnum(type.asEnum(), value.getEnum());
    case schema::Type::TEXT: return value.getText();
    case schema::Type::DATA: return value.getData();
    case schema::Type::LIST: return value.getList().getAs<capnp::DynamicList>(type.asList());
    default: return capnp::DynamicValue::Reader();
  }
}

bool isZero(capnp::Type type, capnp::DynamicValue::Reader value) {
  switch (type.which()) {
    case schema::Type::BOOL: return !value.as<bool>();
    case schema::Type::INT8:
    case schema::Type::INT16:
    case schema::Type::INT32:
    case schema::Type::INT64: return value.as<std::int64_t>() == 0;
    case schema::Type::UINT8:
    case schema::Type::UINT16:
    case schema::Type::UINT32:
    case schema::Type::UINT64: return value.as<std::uint64_t>() == 0;
    case schema::Type::FLOAT32:
    case schema::Type::FLOAT64: {
      double d = value.as<double>();
      return d == 0 && !std::signbit(d);  // -0.0 is a default worth keeping
    }
    case schema::Type::ENUM: return value.as<capnp::DynamicEnum>().getRaw() == 0;
    case schema::Type::TEXT: return value.as<capnp::Text>().size() == 0;
    case schema::Type::DATA: return value.as<capnp::Data>().size() == 0;
    case schema::Type::LIST: return value.as<capnp::DynamicList>().size() == 0;
    default: return true;
  }
}

std::string valueText(capnp::Type type, capnp::DynamicValue::Reader value,
                      const std::function<std::string(capnp::Schema)>& capnpName) {
  switch (type.which()) {
    case schema::Type::BOOL: return value.as<bool>() ? "true" : "false";
    case schema::Type::INT8:
    case schema::Type::INT16:
    case schema::Type::INT32: return std::to_string(value.as<std::int64_t>());
    case schema::Type::INT64: {
      auto v = value.as<std::int64_t>();
      // -9223372036854775808 is not a literal: its positive half overflows.
      if (v == std::numeric_limits<std::int64_t>::min()) return "::std::numeric_limits<::std::int64_t>::min()";
      return std::to_string(v);
    }
    case schema::Type::UINT8:
    case schema::Type::UINT16:
    case schema::Type::UINT32:
    case schema::Type::UINT64: return std::to_string(value.as<std::uint64_t>()) + "u";
    case schema::Type::FLOAT32: return floatText(value.as<float>(), "float", "f");
    case schema::Type::FLOAT64: return floatText(value.as<double>(), "double", "");
    case schema::Type::ENUM: {
      auto e = value.as<capnp::DynamicEnum>();
      std::string cls = capnpName(type.asEnum());
      KJ_IF_MAYBE(enumerant, e.getEnumerant()) {
        return cls + "::" + enumerantName(*enumerant);
      }
      return "static_cast<" + cls + ">(" + std::to_string(e.getRaw()) + ")";
    }
    case schema::Type::TEXT: {
      auto t = value.as<capnp::Text>();
      return stringLiteral(std::string_view(t.cStr(), t.size()));
    }
    case schema::Type::DATA: {
      std::string out = "{";
      for (auto b : value.as<capnp::Data>()) out += (out.size() > 1 ? ", " : "") + std::to_string(b);
      return out + "}";
    }
    case schema::Type::LIST: {
      auto element = type.asList().getElementType();
      std::string out = "{";
      bool first = true;
      for (auto e : value.as<capnp::DynamicList>()) {
        out += (first ? "" : ", ") + valueText(element, e, capnpName);
        first = false;
      }
      return out + "}";
    }
    default: return "{}";
  }
}

}  // namespace hills::codegen
