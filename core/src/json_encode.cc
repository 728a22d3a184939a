// Writing Cap'n Proto values as JSON, byte for byte as capnp::JsonCodec
// (0.9, no handlers, no pretty printing) writes them:
//   - struct fields in the order of the schema's field list; pointer fields
//     that are null left out, every other field written even at its default;
//     the active union member written unless it is the first one and a null
//     pointer (then `null` when it is not the first);
//   - Void as null, Bool as true/false, integers up to 32 bits and floats as
//     numbers (kj's formatting: %.15g, or %.17g when that does not read back,
//     without '+' in the exponent), NaN and infinities as the strings "NaN",
//     "Infinity", "-Infinity"; Int64 and UInt64 as decimal strings;
//   - Text as a string (", \, \b, \f, \n, \r, \t escaped, other bytes below
//     0x20 as \u00XX, the rest as they are), Data as an array of byte
//     numbers, enums by name (by number when the schema has no name), lists
//     as arrays.
// The codec builds a JsonValue tree of the whole value and then prints it;
// this writes into one string as it reads, with the struct layouts worked
// out once per schema (a FieldReader per struct type reads the fields).
// Values are read with the same readers and the same checks (a struct list
// as the dynamic API reads it, then typed), so what the codec refuses is
// refused here too. A struct with a field the codec
// itself cannot write (AnyPointer, interfaces) is handed to the codec.
#include "json_encode.h"

#include "hills/field_reader.h"

#include <capnp/compat/json.h>
#include <capnp/dynamic.h>

#include <charconv>
#include <cmath>
#include <deque>
#include <unordered_map>
#include <vector>

namespace hills::detail {

namespace {

enum class Kind : std::uint8_t {
  kVoid, kBool, kInt8, kInt16, kInt32, kUInt8, kUInt16, kUInt32, kInt64, kUInt64,
  kFloat32, kFloat64, kEnum, kText, kData, kStruct, kList, kGroup,
  kCodec,  // AnyPointer, interfaces: only the codec knows what to do (it refuses them)
};

struct SchemaHash {
  std::size_t operator()(const capnp::Schema& s) const { return s.hashCode(); }
};

}  // namespace

struct JsonStruct;

struct JsonType {
  Kind kind = Kind::kVoid;
  const std::vector<std::string>* names = nullptr;  // kEnum: quoted names by value
  const JsonStruct* fields = nullptr;               // kStruct, kGroup
  const JsonType* element = nullptr;                // kList
  capnp::ListSchema list;                           // kList
};

struct JsonField {
  std::string name;  // "\"name\":"
  JsonType type;
  // A union member other than the first: the codec writes it as null when
  // it is active and a null pointer.
  bool nullWhenUnset = false;
  capnp::StructSchema::Field field;
};

struct JsonStruct {
  explicit JsonStruct(capnp::StructSchema s) : schema(s), reader(s) {}
  capnp::StructSchema schema;
  FieldReader reader;
  bool codec = false;            // has a kCodec field: the codec writes the whole struct
  std::vector<JsonField> fields;  // in the schema's order
};

struct JsonPlans {
  std::deque<JsonStruct> structs;
  std::deque<JsonType> types;
  std::deque<std::vector<std::string>> enums;
  std::unordered_map<capnp::Schema, const JsonStruct*, SchemaHash> byStruct;
  std::unordered_map<capnp::Schema, const std::vector<std::string>*, SchemaHash> byEnum;
  const JsonStruct* root = nullptr;
};

namespace {

// --- plans ---------------------------------------------------------------

void appendQuoted(std::string& out, const char* s, std::size_t n);

std::string quoted(kj::StringPtr text) {
  std::string out;
  appendQuoted(out, text.cStr(), text.size());
  return out;
}

class Planner {
 public:
  explicit Planner(JsonPlans& plans) : plans_(plans) {}

  const JsonStruct* structOf(capnp::StructSchema schema) {
    if (auto it = plans_.byStruct.find(schema); it != plans_.byStruct.end()) return it->second;
    auto& plan = plans_.structs.emplace_back(schema);
    plans_.byStruct.emplace(schema, &plan);  // before the fields: a struct may hold itself
    for (auto field : schema.getFields()) {
      JsonField f;
      auto fp = field.getProto();
      f.name = quoted(fp.getName()) + ':';
      auto discriminant = fp.getDiscriminantValue();
      f.nullWhenUnset = discriminant != capnp::schema::Field::NO_DISCRIMINANT && discriminant != 0;
      f.field = field;
      if (fp.isGroup()) {
        f.type.kind = Kind::kGroup;
        f.type.fields = structOf(field.getType().asStruct());
        plan.codec = plan.codec || f.type.fields->codec;
      } else {
        f.type = typeOf(field.getType());
        plan.codec = plan.codec || f.type.kind == Kind::kCodec;
      }
      plan.fields.push_back(std::move(f));
    }
    return &plan;
  }

 private:
  JsonType typeOf(capnp::Type type) {
    using T = capnp::schema::Type;
    JsonType t;
    switch (type.which()) {
      case T::VOID: t.kind = Kind::kVoid; break;
      case T::BOOL: t.kind = Kind::kBool; break;
      case T::INT8: t.kind = Kind::kInt8; break;
      case T::INT16: t.kind = Kind::kInt16; break;
      case T::INT32: t.kind = Kind::kInt32; break;
      case T::INT64: t.kind = Kind::kInt64; break;
      case T::UINT8: t.kind = Kind::kUInt8; break;
      case T::UINT16: t.kind = Kind::kUInt16; break;
      case T::UINT32: t.kind = Kind::kUInt32; break;
      case T::UINT64: t.kind = Kind::kUInt64; break;
      case T::FLOAT32: t.kind = Kind::kFloat32; break;
      case T::FLOAT64: t.kind = Kind::kFloat64; break;
      case T::TEXT: t.kind = Kind::kText; break;
      case T::DATA: t.kind = Kind::kData; break;
      case T::ENUM:
        t.kind = Kind::kEnum;
        t.names = namesOf(type.asEnum());
        break;
      case T::STRUCT:
        t.kind = Kind::kStruct;
        t.fields = structOf(type.asStruct());
        break;
      case T::LIST: {
        t.list = type.asList();
        auto element = typeOf(t.list.getElementType());
        if (element.kind == Kind::kCodec) {
          t.kind = Kind::kCodec;
          break;
        }
        t.kind = Kind::kList;
        t.element = &plans_.types.emplace_back(element);
        break;
      }
      default: t.kind = Kind::kCodec; break;
    }
    return t;
  }

  const std::vector<std::string>* namesOf(capnp::EnumSchema schema) {
    if (auto it = plans_.byEnum.find(schema); it != plans_.byEnum.end()) return it->second;
    auto& names = plans_.enums.emplace_back();
    for (auto e : schema.getEnumerants()) names.push_back(quoted(e.getProto().getName()));
    plans_.byEnum.emplace(schema, &names);
    return &names;
  }

  JsonPlans& plans_;
};

// --- writing -------------------------------------------------------------

constexpr char kHex[] = "0123456789abcdef";

void appendQuoted(std::string& out, const char* s, std::size_t n) {
  out += '"';
  std::size_t start = 0;
  for (std::size_t i = 0; i < n; ++i) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c != '"' && c != '\\') [[likely]] continue;
    out.append(s + start, i - start);
    start = i + 1;
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default: {
        char esc[6] = {'\\', 'u', '0', '0', kHex[c >> 4], kHex[c & 15]};
        out.append(esc, sizeof(esc));
      }
    }
  }
  out.append(s + start, n - start);
  out += '"';
}

template <class T>
void appendInteger(std::string& out, T value) {
  char buf[24];
  auto end = std::to_chars(buf, buf + sizeof(buf), value).ptr;
  out.append(buf, static_cast<std::size_t>(end - buf));
}

// A number as kj::str(double) writes it.
void appendNumber(std::string& out, double v) {
  if (std::isnan(v)) {
    out += "\"NaN\"";
    return;
  }
  if (std::isinf(v)) {
    out += v > 0 ? "\"Infinity\"" : "\"-Infinity\"";
    return;
  }
  // Whole numbers below 10^15 have at most 15 digits: %.15g writes them
  // as integers.
  if (v == std::trunc(v) && std::fabs(v) < 1e15) {
    if (v == 0) {
      out += std::signbit(v) ? "-0" : "0";
    } else {
      appendInteger(out, static_cast<std::int64_t>(v));
    }
    return;
  }
  char buf[40];
  auto end = std::to_chars(buf, buf + sizeof(buf), v, std::chars_format::general, 15).ptr;
  double back = 0;
  std::from_chars(buf, end, back);
  if (back != v) end = std::to_chars(buf, buf + sizeof(buf), v, std::chars_format::general, 17).ptr;
  for (const char* c = buf; c < end; ++c) {
    if (*c != '+') out += *c;
  }
}

class Writer {
 public:
  explicit Writer(std::string& out) : out_(out) {}

  void structValue(const JsonStruct& plan, capnp::AnyStruct::Reader value) {
    if (plan.codec) return codec(value.as<capnp::DynamicStruct>(plan.schema), plan.schema);
    out_ += '{';
    bool first = true;
    for (std::size_t i = 0; i < plan.fields.size(); ++i) {
      const auto& f = plan.fields[i];
      auto v = plan.reader.read(value, i);
      if (v.kind == FieldValue::Kind::kInactive) continue;
      if (v.kind == FieldValue::Kind::kNull && !f.nullWhenUnset) continue;
      if (!first) out_ += ',';
      first = false;
      out_ += f.name;
      fieldValue(f, v, value);
    }
    out_ += '}';
  }

  // The value of field `f` of `value`, as the plan's reader read it (`v`).
  void fieldValue(const JsonField& f, const FieldValue& v, capnp::AnyStruct::Reader value) {
    using K = FieldValue::Kind;
    using W = capnp::schema::Type;
    switch (v.kind) {
      case K::kInactive:
      case K::kNull:
      case K::kVoid: out_ += "null"; return;
      case K::kBool: out_ += v.boolean ? "true" : "false"; return;
      case K::kInt:
        return v.type == W::INT64 ? quotedInteger(v.integer) : appendInteger(out_, v.integer);
      case K::kUInt:
        return v.type == W::UINT64 ? quotedInteger(v.uinteger) : appendInteger(out_, v.uinteger);
      case K::kFloat: return appendNumber(out_, v.number);
      case K::kEnum:
        if (!v.text.empty()) return appendQuoted(out_, v.text.data(), v.text.size());
        return appendInteger(out_, v.enumerant);
      case K::kText: return appendQuoted(out_, v.text.data(), v.text.size());
      case K::kData: return bytes(v.data);
      case K::kGroup: return structValue(*f.type.fields, value);
      case K::kOther: return;  // the plan sends the whole struct to the codec
      default: return pointerValue(f.type, v.pointer);
    }
  }

  void pointerValue(const JsonType& type, capnp::AnyPointer::Reader pointer) {
    switch (type.kind) {
      case Kind::kText: {
        auto text = pointer.getAs<capnp::Text>();
        return appendQuoted(out_, text.cStr(), text.size());
      }
      case Kind::kData: return bytes(pointer.getAs<capnp::Data>());
      case Kind::kStruct: return structValue(*type.fields, pointer.getAs<capnp::AnyStruct>());
      case Kind::kList: return list(type, pointer);
      default: return;
    }
  }

  void codec(capnp::DynamicValue::Reader value, capnp::Type type) {
    thread_local const capnp::JsonCodec codec;  // setting one up costs more than a value
    auto text = codec.encode(value, type);
    out_.append(text.cStr(), text.size());
  }

 private:
  void bytes(kj::ArrayPtr<const kj::byte> data) {
    out_ += '[';
    for (std::size_t i = 0; i < data.size(); ++i) {
      if (i) out_ += ',';
      appendInteger(out_, data[i]);
    }
    out_ += ']';
  }

  template <class T>
  void quotedInteger(T v) {
    out_ += '"';
    appendInteger(out_, v);
    out_ += '"';
  }

  void enumerant(const JsonType& type, std::uint16_t v) {
    if (v < type.names->size()) {
      out_ += (*type.names)[v];
    } else {
      appendInteger(out_, v);
    }
  }

  template <class T, class F>
  void items(capnp::AnyList::Reader list, F&& write) {
    auto typed = list.as<capnp::List<T>>();
    out_ += '[';
    for (unsigned i = 0; i < typed.size(); ++i) {
      if (i) out_ += ',';
      write(typed[i]);
    }
    out_ += ']';
  }

  void list(const JsonType& type, capnp::AnyPointer::Reader pointer) {
    // Read as the dynamic API reads it (the element size of the schema's
    // list type checked), then through the typed list of that size.
    auto list = pointer.getAs<capnp::DynamicList>(type.list).as<capnp::AnyList>();
    const JsonType& e = *type.element;
    auto number = [&](auto v) { appendInteger(out_, v); };
    switch (e.kind) {
      case Kind::kVoid: return items<capnp::Void>(list, [&](capnp::Void) { out_ += "null"; });
      case Kind::kBool: return items<bool>(list, [&](bool b) { out_ += b ? "true" : "false"; });
      case Kind::kInt8: return items<std::int8_t>(list, number);
      case Kind::kInt16: return items<std::int16_t>(list, number);
      case Kind::kInt32: return items<std::int32_t>(list, number);
      case Kind::kUInt8: return items<std::uint8_t>(list, number);
      case Kind::kUInt16: return items<std::uint16_t>(list, number);
      case Kind::kUInt32: return items<std::uint32_t>(list, number);
      case Kind::kInt64: return items<std::int64_t>(list, [&](auto v) { quotedInteger(v); });
      case Kind::kUInt64: return items<std::uint64_t>(list, [&](auto v) { quotedInteger(v); });
      case Kind::kFloat32: return items<float>(list, [&](float v) { appendNumber(out_, v); });
      case Kind::kFloat64: return items<double>(list, [&](double v) { appendNumber(out_, v); });
      case Kind::kEnum: return items<std::uint16_t>(list, [&](auto v) { enumerant(e, v); });
      case Kind::kText:
        return items<capnp::Text>(list, [&](capnp::Text::Reader t) {
          appendQuoted(out_, t.cStr(), t.size());
        });
      case Kind::kData:
        return items<capnp::Data>(list, [&](capnp::Data::Reader d) { bytes(d); });
      case Kind::kStruct:
        return items<capnp::AnyStruct>(list, [&](capnp::AnyStruct::Reader s) {
          structValue(*e.fields, s);
        });
      case Kind::kList:
        return items<capnp::AnyPointer>(list, [&](capnp::AnyPointer::Reader p) { this->list(e, p); });
      default: return;
    }
  }

  std::string& out_;
};

}  // namespace

std::shared_ptr<const JsonPlans> planJson(capnp::StructSchema schema) {
  auto plans = std::make_shared<JsonPlans>();
  plans->root = Planner(*plans).structOf(schema);
  return plans;
}

capnp::StructSchema jsonSchema(const JsonPlans& plans) { return plans.root->schema; }

void writeJsonString(std::string& out, const char* text, std::size_t size) {
  appendQuoted(out, text, size);
}

void writeJson(std::string& out, const JsonPlans& plans, capnp::AnyStruct::Reader value) {
  Writer(out).structValue(*plans.root, value);
}

void writeJsonField(std::string& out, const JsonPlans& plans, capnp::AnyStruct::Reader value,
                    unsigned fieldIndex) {
  const auto& plan = *plans.root;
  const auto& f = plan.fields.at(fieldIndex);
  Writer writer(out);
  if (plan.codec) {
    auto dynamic = value.as<capnp::DynamicStruct>(plan.schema);
    if (!dynamic.has(f.field) && !f.field.getProto().isGroup()) {
      out += "null";
    } else {
      writer.codec(dynamic.get(f.field), f.field.getType());
    }
    return;
  }
  writer.fieldValue(f, plan.reader.read(value, fieldIndex), value);
}

}  // namespace hills::detail
