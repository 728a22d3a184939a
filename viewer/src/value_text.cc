#include "value_text.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>
#include <optional>
#include <type_traits>
#include <unordered_map>

#include "hills/ref.h"

namespace hills::viewer {

namespace {

template <class T>
void appendNumber(std::string& out, T v) {
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), v);
  // (pointer, length): the (first, last) overload builds a temporary string
  if (ec == std::errc()) out.append(buf, static_cast<std::size_t>(end - buf));
}

// `v` in plain decimals when it holds at most `Digits` of them, or false.
// Exact: below `limit`, two numbers of `Digits` decimals are further apart
// than two neighbouring values of F, so the one that reads back as `v` is
// the only one, and the shortest that does.
template <class F, int Digits>
bool appendFewDecimals(std::string& out, F v, double limit) {
  constexpr std::int64_t kScale = Digits == 3 ? 1000 : 1000000;
  double d = v;
  if (!(std::abs(d) < limit)) return false;  // NaN too
  std::int64_t n = std::llround(d * static_cast<double>(kScale));
  if (static_cast<F>(static_cast<double>(n) / static_cast<double>(kScale)) != v) return false;
  if (std::signbit(d)) out += '-';
  std::uint64_t magnitude = static_cast<std::uint64_t>(n < 0 ? -n : n);
  appendNumber(out, magnitude / kScale);
  auto fraction = magnitude % kScale;
  if (fraction == 0) return true;
  char digits[Digits + 1] = {'.'};
  for (int i = Digits; i > 0; --i, fraction /= 10) digits[i] = static_cast<char>('0' + fraction % 10);
  int length = Digits + 1;
  while (digits[length - 1] == '0') --length;
  out.append(digits, static_cast<std::size_t>(length));
  return true;
}

// A Float32 or Float64 as a person reads it: plain decimals (100000, not
// 1e+05), the fewest digits that read back as the same value; scientific
// notation only for magnitudes below 1e-6 or from 1e15 on.
template <class F>
void appendFloating(std::string& out, F v) {
  // Most stored values (masses, prices, lengths) have few decimals.
  if constexpr (std::is_same_v<F, float>) {
    if (appendFewDecimals<F, 3>(out, v, 8192.0)) return;  // steps of at most 2^-11
  } else {
    if (appendFewDecimals<F, 6>(out, v, 2147483648.0)) return;  // steps of at most 2^-22
  }
  char buf[64];
  double magnitude = std::abs(static_cast<double>(v));
  bool plain = magnitude >= 1e-6 && magnitude < 1e15;
  auto [end, ec] = plain ? std::to_chars(buf, buf + sizeof(buf), v, std::chars_format::fixed)
                         : std::to_chars(buf, buf + sizeof(buf), v);
  if (ec == std::errc()) out.append(buf, static_cast<std::size_t>(end - buf));
}

// Whether `field` is a pointer whose schema gives it a default other than
// the type's (an empty Text, Data or list, a struct of its fields' defaults).
bool hasPointerDefault(capnp::StructSchema::Field field) {
  auto proto = field.getProto();
  if (!proto.isSlot()) return false;
  auto value = proto.getSlot().getDefaultValue();
  using V = capnp::schema::Value;
  switch (value.which()) {
    case V::TEXT: return value.hasText() && value.getText().size() > 0;
    case V::DATA: return value.hasData() && value.getData().size() > 0;
    case V::LIST: return value.hasList();
    case V::STRUCT: return value.hasStruct();
    case V::ANY_POINTER: return value.hasAnyPointer();
    default: return false;
  }
}

// The name after the file's: "Part.Dimensions" of "plm.capnp:Part.Dimensions".
std::string shortName(capnp::Schema schema) {
  std::string name = schema.getProto().getDisplayName();
  auto colon = name.find(':');
  return colon == std::string::npos ? name : name.substr(colon + 1);
}

// Cuts `text` to at most `limit` bytes without splitting a UTF-8 sequence.
void cut(std::string& text, std::size_t limit) {
  if (text.size() <= limit) return;
  std::size_t at = limit > 3 ? limit - 3 : 0;
  while (at > 0 && (static_cast<unsigned char>(text[at]) & 0xC0) == 0x80) --at;
  text.resize(at);
  text += "…";
}

void appendHexBytes(std::string& out, capnp::Data::Reader bytes, std::size_t count) {
  static constexpr char kHex[] = "0123456789abcdef";
  for (std::size_t i = 0; i < count && i < bytes.size(); ++i) {
    if (i > 0) out += ' ';
    out += kHex[bytes[i] >> 4];
    out += kHex[bytes[i] & 15];
  }
}

// The rules of a cell, one per kind of value, for both ways of reading
// one (the dynamic API, a FieldReader).

void appendText(std::string& out, std::string_view text, std::size_t limit) {
  // Runs without line breaks at once; no more than the cell can show.
  while (!text.empty() && out.size() <= limit + 8) {
    std::size_t room = limit + 9 - out.size();
    std::size_t end = std::min(text.size(), room);
    // memchr: most texts have no line break, and it finds that fastest.
    const char* newline = static_cast<const char*>(std::memchr(text.data(), '\n', end));
    std::size_t run = newline ? static_cast<std::size_t>(newline - text.data()) : end;
    const char* ret = static_cast<const char*>(std::memchr(text.data(), '\r', run));
    if (ret) run = static_cast<std::size_t>(ret - text.data());
    out.append(text.data(), run);
    text.remove_prefix(run);
    if (text.empty() || run == room) break;
    if (text.front() == '\n') out += "⏎";
    text.remove_prefix(1);
  }
}

void appendData(std::string& out, capnp::Data::Reader bytes) {
  switch (dataKind(bytes)) {
    case DataKind::kPng:
      out += "PNG image, ";
      break;
    case DataKind::kJpeg:
      out += "JPEG image, ";
      break;
    case DataKind::kBytes:
      break;
  }
  out += withThousands(bytes.size());
  out += bytes.size() == 1 ? " byte" : " bytes";
  if (bytes.size() > 0) {
    out += ": ";
    appendHexBytes(out, bytes, 8);
    if (bytes.size() > 8) out += " …";
  }
}

void appendEnum(std::string& out, std::string_view name, std::uint16_t raw) {
  if (name.empty()) {
    out += '#';
    appendNumber(out, raw);
  } else {
    out.append(name);
  }
}

void appendRef(std::string& out, std::string_view refTree, std::uint64_t id, std::uint32_t revision) {
  if (id == 0) {
    out += "—";
    return;
  }
  if (!refTree.empty()) {
    out.append(refTree);
    out += ' ';
  }
  appendNumber(out, id);
  out += '/';
  appendNumber(out, revision);
}

void appendFloat(std::string& out, double v, capnp::schema::Type::Which which) {
  if (which == capnp::schema::Type::FLOAT32) {
    appendFloating(out, static_cast<float>(v));
  } else {
    appendFloating(out, v);
  }
}

}  // namespace

// Where the fields of one struct type lie, and what a cell shows of them.
struct StructPlan {
  explicit StructPlan(capnp::StructSchema schema) : reader(schema) {
    for (std::size_t i = 0; i < reader.size(); ++i) {
      auto field = reader.field(i);
      names.emplace_back(field.getProto().getName().cStr());
      refTrees.push_back(refTarget(field));
      refs.push_back(isRefType(reader.type(i)));
      pointerDefaults.push_back(hasPointerDefault(field));
      std::string_view name = names.back();
      if (name == "id") refId = i;
      if (name == "revision") refRevision = i;
    }
    nested.resize(reader.size());
  }
  FieldReader reader;
  std::vector<std::string> names;
  std::vector<std::string_view> refTrees;  // in the schema
  std::vector<bool> refs;                  // the field is a hills.Ref
  // The field is a pointer with a default of its own in the schema (Text =
  // "n/a", a list of three): a null pointer reads as that default.
  std::vector<bool> pointerDefaults;
  // Of a hills.Ref's own plan (a list's element): its two fields.
  std::size_t refId = 0, refRevision = 0;
  // The plans of struct and group fields, found at their first cell.
  mutable std::vector<const StructPlan*> nested;
  // The text of a struct of this type whose pointer is null (its fields'
  // defaults): the same every time, written at its first cell.
  mutable std::optional<std::string> unsetText;
};

struct CellText::Plans {
  struct Hash {
    std::size_t operator()(const capnp::Schema& s) const { return s.hashCode(); }
  };
  const StructPlan& of(capnp::StructSchema schema) {
    auto& plan = byStruct[schema];
    if (!plan) plan = std::make_unique<StructPlan>(schema);
    return *plan;
  }
  // The plan of struct field `index` of `plan`'s struct.
  const StructPlan& of(const StructPlan& plan, std::size_t index) {
    auto& nested = plan.nested[index];
    if (nested == nullptr) nested = &of(plan.reader.type(index).asStruct());
    return *nested;
  }
  std::unordered_map<capnp::Schema, std::unique_ptr<StructPlan>, Hash> byStruct;
};

namespace {

using Plans = CellText::Plans;

void appendCell(std::string& out, const capnp::DynamicValue::Reader& value, capnp::Type type,
                std::string_view refTree, std::size_t limit, Plans& plans);
void appendValue(std::string& out, const StructPlan& plan, capnp::AnyStruct::Reader s,
                 std::size_t index, const FieldValue& v, std::size_t limit, Plans& plans);
void appendStruct(std::string& out, const StructPlan& plan, capnp::AnyStruct::Reader s,
                  std::size_t limit, Plans& plans);

// "[3] R1, C12, U4": the count, then the elements while they fit.
template <class List, class Element>
void appendElements(std::string& out, List list, std::size_t limit, Element&& element) {
  out += '[';
  appendNumber(out, list.size());
  out += ']';
  for (capnp::uint i = 0; i < list.size(); ++i) {
    if (out.size() > limit) {
      out += " …";
      break;
    }
    out += i == 0 ? " " : ", ";
    element(list[i]);
  }
}

template <class T>
void appendNumbers(std::string& out, capnp::AnyPointer::Reader p, std::size_t limit) {
  appendElements(out, p.getAs<capnp::List<T>>(), limit, [&](T v) {
    if constexpr (std::is_floating_point_v<T>) {
      appendFloating(out, v);
    } else {
      appendNumber(out, v);
    }
  });
}

// A list field's value through Cap'n Proto's typed list readers, as
// appendCell writes it through the dynamic API (which checks the pointer
// the same way: it reads the same element size). Lists of lists, and of
// what a cell does not open, go through appendCell.
void appendList(std::string& out, capnp::ListSchema schema, capnp::AnyPointer::Reader p,
                std::string_view refTree, std::size_t limit, Plans& plans) {
  using W = capnp::schema::Type;
  auto element = schema.getElementType();
  switch (element.which()) {
    case W::VOID:
      return appendElements(out, p.getAs<capnp::List<capnp::Void>>(), limit, [](capnp::Void) {});
    case W::BOOL:
      return appendElements(out, p.getAs<capnp::List<bool>>(), limit,
                            [&](bool b) { out += b ? "true" : "false"; });
    case W::INT8: return appendNumbers<std::int8_t>(out, p, limit);
    case W::INT16: return appendNumbers<std::int16_t>(out, p, limit);
    case W::INT32: return appendNumbers<std::int32_t>(out, p, limit);
    case W::INT64: return appendNumbers<std::int64_t>(out, p, limit);
    case W::UINT8: return appendNumbers<std::uint8_t>(out, p, limit);
    case W::UINT16: return appendNumbers<std::uint16_t>(out, p, limit);
    case W::UINT32: return appendNumbers<std::uint32_t>(out, p, limit);
    case W::UINT64: return appendNumbers<std::uint64_t>(out, p, limit);
    case W::FLOAT32: return appendNumbers<float>(out, p, limit);
    case W::FLOAT64: return appendNumbers<double>(out, p, limit);
    case W::TEXT:
      return appendElements(out, p.getAs<capnp::List<capnp::Text>>(), limit, [&](capnp::Text::Reader t) {
        appendText(out, std::string_view(t.cStr(), t.size()), limit);
      });
    case W::DATA:
      return appendElements(out, p.getAs<capnp::List<capnp::Data>>(), limit,
                            [&](capnp::Data::Reader d) { appendData(out, d); });
    case W::ENUM: {
      auto enumerants = element.asEnum().getEnumerants();
      return appendElements(out, p.getAs<capnp::List<std::uint16_t>>(), limit, [&](std::uint16_t raw) {
        if (raw >= enumerants.size()) return appendEnum(out, {}, raw);
        auto name = enumerants[raw].getProto().getName();
        appendEnum(out, std::string_view(name.cStr(), name.size()), raw);
      });
    }
    case W::STRUCT: {
      const StructPlan& plan = plans.of(element.asStruct());
      bool ref = isRefType(element);
      capnp::AnyList::Reader list = p.getAs<capnp::DynamicList>(schema);  // checked as a struct list
      return appendElements(out, list.as<capnp::List<capnp::AnyStruct>>(), limit,
                            [&](capnp::AnyStruct::Reader s) {
        if (!ref) return appendStruct(out, plan, s, limit, plans);
        appendRef(out, refTree, plan.reader.read(s, plan.refId).uinteger,
                  static_cast<std::uint32_t>(plan.reader.read(s, plan.refRevision).uinteger));
      });
    }
    default:
      return appendCell(out, p.getAs<capnp::DynamicList>(schema), schema, refTree, limit, plans);
  }
}

// A struct of `plan`'s type whose pointer is null, as appendStruct writes
// it: its fields' defaults (its own pointers are null: left out, or shown
// as the schema's defaults). The text is kept in the plan; where all of it
// fits in `limit`, it is what appendStruct would write, which cuts nothing
// short of the limit.
void appendUnset(std::string& out, const StructPlan& plan, std::size_t limit, Plans& plans) {
  constexpr std::size_t kUnsetLimit = 1024;  // longer (a struct of many fields): written each time
  if (!plan.unsetText) {
    std::string text;
    appendStruct(text, plan, {}, kUnsetLimit, plans);
    plan.unsetText = std::move(text);
  }
  if (plan.unsetText->size() <= kUnsetLimit && out.size() + plan.unsetText->size() <= limit) {
    out += *plan.unsetText;
  } else {
    appendStruct(out, plan, {}, limit, plans);
  }
}

// "{length: 10, width: 4, …}": the fields that hold a value (null pointers
// and inactive union members left out).
void appendStruct(std::string& out, const StructPlan& plan, capnp::AnyStruct::Reader s,
                  std::size_t limit, Plans& plans) {
  using K = FieldValue::Kind;
  out += '{';
  bool first = true;
  for (std::size_t i = 0; i < plan.reader.size(); ++i) {
    auto v = plan.reader.read(s, i);
    // A null pointer is left out, unless it reads as a default of its own.
    if (v.kind == K::kInactive || (v.kind == K::kNull && !plan.pointerDefaults[i])) continue;
    if (out.size() > limit) {
      out += ", …";
      break;
    }
    if (!first) out += ", ";
    first = false;
    out += plan.names[i];
    out += ": ";
    appendValue(out, plan, s, i, v, limit, plans);
  }
  out += '}';
}

// Field `index` of `s`, which plan.reader read as `v`.
void appendValue(std::string& out, const StructPlan& plan, capnp::AnyStruct::Reader s,
                 std::size_t index, const FieldValue& v, std::size_t limit, Plans& plans) {
  using K = FieldValue::Kind;
  using W = capnp::schema::Type;
  switch (v.kind) {
    case K::kInactive:
    case K::kVoid:
      return;
    case K::kBool: out += v.boolean ? "true" : "false"; return;
    case K::kInt: appendNumber(out, v.integer); return;
    case K::kUInt: appendNumber(out, v.uinteger); return;
    case K::kFloat: appendFloat(out, v.number, v.type); return;
    case K::kEnum: appendEnum(out, v.text, v.enumerant); return;
    case K::kRef: appendRef(out, plan.refTrees[index], v.uinteger, v.revision); return;
    case K::kData: appendData(out, v.data); return;
    case K::kText: appendText(out, v.text, limit); return;
    case K::kNull:
      // As the dynamic API reads a null pointer: the field's default, which
      // is the type's unless the schema gives one.
      if (plan.pointerDefaults[index]) {
        return appendCell(out, s.as<capnp::DynamicStruct>(plan.reader.schema()).get(plan.reader.field(index)),
                          plan.reader.type(index), plan.refTrees[index], limit, plans);
      }
      switch (v.type) {
        case W::TEXT: return;
        case W::DATA: appendData(out, {}); return;
        case W::LIST: out += "[0]"; return;
        case W::STRUCT:
          if (plan.refs[index]) return appendRef(out, plan.refTrees[index], 0, 0);
          return appendUnset(out, plans.of(plan, index), limit, plans);
        default: out += "(pointer)"; return;
      }
    case K::kStruct:
      return appendStruct(out, plans.of(plan, index), v.pointer.getAs<capnp::AnyStruct>(), limit,
                          plans);
    case K::kGroup:
      return appendStruct(out, plans.of(plan, index), s, limit, plans);
    case K::kList:
      return appendList(out, plan.reader.type(index).asList(), v.pointer, plan.refTrees[index], limit,
                        plans);
    case K::kOther:
      out += "(pointer)";
      return;
  }
}

void appendCell(std::string& out, const capnp::DynamicValue::Reader& value, capnp::Type type,
                std::string_view refTree, std::size_t limit, Plans& plans) {
  switch (value.getType()) {
    case capnp::DynamicValue::VOID:
      return;
    case capnp::DynamicValue::BOOL:
      out += value.as<bool>() ? "true" : "false";
      return;
    case capnp::DynamicValue::INT:
      appendNumber(out, value.as<std::int64_t>());
      return;
    case capnp::DynamicValue::UINT:
      appendNumber(out, value.as<std::uint64_t>());
      return;
    case capnp::DynamicValue::FLOAT:
      appendFloat(out, value.as<double>(), type.which());
      return;
    case capnp::DynamicValue::TEXT: {
      auto text = value.as<capnp::Text>();
      appendText(out, std::string_view(text.cStr(), text.size()), limit);
      return;
    }
    case capnp::DynamicValue::DATA:
      appendData(out, value.as<capnp::Data>());
      return;
    case capnp::DynamicValue::ENUM: {
      auto e = value.as<capnp::DynamicEnum>();
      KJ_IF_MAYBE (enumerant, e.getEnumerant()) {
        auto name = enumerant->getProto().getName();
        appendEnum(out, std::string_view(name.cStr(), name.size()), e.getRaw());
      } else {
        appendEnum(out, {}, e.getRaw());
      }
      return;
    }
    case capnp::DynamicValue::STRUCT: {
      auto s = value.as<capnp::DynamicStruct>();
      if (isRefType(type)) {
        appendRef(out, refTree, s.get("id").as<std::uint64_t>(), s.get("revision").as<std::uint32_t>());
        return;
      }
      appendStruct(out, plans.of(s.getSchema()), s.as<capnp::AnyStruct>(), limit, plans);
      return;
    }
    case capnp::DynamicValue::LIST: {
      auto element = type.asList().getElementType();
      appendElements(out, value.as<capnp::DynamicList>(), limit,
                     [&](const capnp::DynamicValue::Reader& e) { appendCell(out, e, element, refTree, limit, plans); });
      return;
    }
    default:
      out += "(pointer)";
      return;
  }
}

}  // namespace

std::string withThousands(std::uint64_t n) {
  std::string digits = std::to_string(n), out;
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

bool isActive(capnp::DynamicStruct::Reader s, capnp::StructSchema::Field field) {
  if (field.getProto().getDiscriminantValue() == capnp::schema::Field::NO_DISCRIMINANT) {
    return true;
  }
  KJ_IF_MAYBE (active, s.which()) return *active == field;
  return false;
}

std::string cellText(const capnp::DynamicValue::Reader& value, capnp::Type type,
                     std::string_view refTree, std::size_t limit) {
  std::string out;
  appendCellText(out, value, type, refTree, limit);
  return out;
}

void appendCellText(std::string& out, const capnp::DynamicValue::Reader& value, capnp::Type type,
                    std::string_view refTree, std::size_t limit) {
  Plans plans;
  std::string cell;
  std::string& target = out.empty() ? out : cell;
  appendCell(target, value, type, refTree, limit, plans);
  cut(target, limit);
  if (&target != &out) out += cell;
}

CellText::CellText(capnp::StructSchema schema)
    : plans_(std::make_unique<Plans>()), root_(&plans_->of(schema)) {}
CellText::~CellText() = default;
CellText::CellText(CellText&&) noexcept = default;
CellText& CellText::operator=(CellText&&) noexcept = default;

const FieldReader& CellText::reader() const { return root_->reader; }

void CellText::append(std::string& out, capnp::AnyStruct::Reader value, std::size_t index,
                      std::size_t limit) const {
  const StructPlan& plan = *root_;
  std::size_t start = out.size();
  appendValue(out, plan, value, index, plan.reader.read(value, index), start + limit, *plans_);
  if (out.size() - start > limit) {
    std::string cell = out.substr(start);
    cut(cell, limit);
    out.resize(start);
    out += cell;
  }
}

std::string typeName(capnp::Type type, std::string_view refTree) {
  using W = capnp::schema::Type;
  switch (type.which()) {
    case W::VOID: return "Void";
    case W::BOOL: return "Bool";
    case W::INT8: return "Int8";
    case W::INT16: return "Int16";
    case W::INT32: return "Int32";
    case W::INT64: return "Int64";
    case W::UINT8: return "UInt8";
    case W::UINT16: return "UInt16";
    case W::UINT32: return "UInt32";
    case W::UINT64: return "UInt64";
    case W::FLOAT32: return "Float32";
    case W::FLOAT64: return "Float64";
    case W::TEXT: return "Text";
    case W::DATA: return "Data";
    case W::LIST: return "List(" + typeName(type.asList().getElementType(), refTree) + ")";
    case W::ENUM: return shortName(type.asEnum());
    case W::STRUCT:
      if (isRefType(type)) {
        return refTree.empty() ? std::string("Ref") : "Ref → " + std::string(refTree);
      }
      return shortName(type.asStruct());
    case W::INTERFACE: return "Capability";
    case W::ANY_POINTER: return "AnyPointer";
  }
  return "?";
}

DataKind dataKind(capnp::Data::Reader bytes) {
  static constexpr kj::byte kPng[] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  if (bytes.size() >= sizeof(kPng) && std::equal(kPng, kPng + sizeof(kPng), bytes.begin())) {
    return DataKind::kPng;
  }
  if (bytes.size() >= 3 && bytes[0] == 0xff && bytes[1] == 0xd8 && bytes[2] == 0xff) {
    return DataKind::kJpeg;
  }
  return DataKind::kBytes;
}

std::string hexDump(capnp::Data::Reader bytes, std::size_t maxBytes) {
  std::string out;
  std::size_t shown = std::min<std::size_t>(bytes.size(), maxBytes);
  for (std::size_t line = 0; line < shown; line += 16) {
    if (line > 0) out += '\n';
    char offset[24];
    std::snprintf(offset, sizeof(offset), "%06zx  ", line);
    out += offset;
    appendHexBytes(out, bytes.slice(line, std::min(bytes.size(), line + 16)),
                   std::min<std::size_t>(16, shown - line));
  }
  if (bytes.size() > shown) {
    out += "\n… " + withThousands(bytes.size() - shown) + " bytes more";
  }
  return out;
}

}  // namespace hills::viewer
