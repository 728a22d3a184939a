#include "value_text.h"

#include <charconv>
#include <map>

#include "hills/ref.h"

namespace hills::viewer {

namespace {

template <class T>
void appendNumber(std::string& out, T v) {
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), v);
  out.append(buf, ec == std::errc() ? end : buf);
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

bool isSet(capnp::DynamicStruct::Reader s, capnp::StructSchema::Field field) {
  if (!isActive(s, field)) return false;
  auto type = field.getType();
  bool pointer = type.isText() || type.isData() || type.isList() ||
                 (type.isStruct() && !field.getProto().isGroup()) || type.isAnyPointer();
  return !pointer || s.has(field);
}

void appendHexBytes(std::string& out, capnp::Data::Reader bytes, std::size_t count) {
  static constexpr char kHex[] = "0123456789abcdef";
  for (std::size_t i = 0; i < count && i < bytes.size(); ++i) {
    if (i > 0) out += ' ';
    out += kHex[bytes[i] >> 4];
    out += kHex[bytes[i] & 15];
  }
}

void appendCell(std::string& out, const capnp::DynamicValue::Reader& value, capnp::Type type,
                std::string_view refTree, std::size_t limit);

void appendStruct(std::string& out, capnp::DynamicStruct::Reader s, std::size_t limit) {
  out += '{';
  bool first = true;
  for (auto field : s.getSchema().getFields()) {
    if (!isSet(s, field)) continue;
    if (out.size() > limit) {
      out += ", …";
      break;
    }
    if (!first) out += ", ";
    first = false;
    out += field.getProto().getName().cStr();
    out += ": ";
    appendCell(out, s.get(field), field.getType(), refTarget(field), limit);
  }
  out += '}';
}

void appendCell(std::string& out, const capnp::DynamicValue::Reader& value, capnp::Type type,
                std::string_view refTree, std::size_t limit) {
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
      if (type.which() == capnp::schema::Type::FLOAT32) {
        appendNumber(out, value.as<float>());
      } else {
        appendNumber(out, value.as<double>());
      }
      return;
    case capnp::DynamicValue::TEXT: {
      auto text = value.as<capnp::Text>();
      for (char c : text) {
        if (c == '\n') {
          out += "⏎";
        } else if (c != '\r') {
          out += c;
        }
        if (out.size() > limit + 8) break;
      }
      return;
    }
    case capnp::DynamicValue::DATA: {
      auto bytes = value.as<capnp::Data>();
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
      out += withThousands(bytes.size()) + (bytes.size() == 1 ? " byte" : " bytes");
      if (bytes.size() > 0) {
        out += ": ";
        appendHexBytes(out, bytes, 8);
        if (bytes.size() > 8) out += " …";
      }
      return;
    }
    case capnp::DynamicValue::ENUM: {
      auto e = value.as<capnp::DynamicEnum>();
      KJ_IF_MAYBE (enumerant, e.getEnumerant()) {
        out += enumerant->getProto().getName().cStr();
      } else {
        out += "#" + std::to_string(e.getRaw());
      }
      return;
    }
    case capnp::DynamicValue::STRUCT: {
      auto s = value.as<capnp::DynamicStruct>();
      if (isRefType(type)) {
        auto id = s.get("id").as<std::uint64_t>();
        if (id == 0) {
          out += "—";
          return;
        }
        if (!refTree.empty()) {
          out.append(refTree);
          out += ' ';
        }
        out += std::to_string(id) + "/" + std::to_string(s.get("revision").as<std::uint32_t>());
        return;
      }
      appendStruct(out, s, limit);
      return;
    }
    case capnp::DynamicValue::LIST: {
      auto list = value.as<capnp::DynamicList>();
      auto element = type.asList().getElementType();
      out += "[" + std::to_string(list.size()) + "]";
      for (capnp::uint i = 0; i < list.size(); ++i) {
        if (out.size() > limit) {
          out += " …";
          break;
        }
        out += i == 0 ? " " : ", ";
        appendCell(out, list[i], element, refTree, limit);
      }
      return;
    }
    default:
      out += "(pointer)";
      return;
  }
}

void addLeaves(std::vector<Leaf>& out, const std::string& path,
               const capnp::DynamicValue::Reader& value, capnp::Type type,
               std::string_view refTree);

void addStructLeaves(std::vector<Leaf>& out, const std::string& prefix,
                     capnp::DynamicStruct::Reader s) {
  for (auto field : s.getSchema().getFields()) {
    if (!isSet(s, field)) continue;
    std::string path = prefix.empty() ? std::string(field.getProto().getName().cStr())
                                      : prefix + "." + field.getProto().getName().cStr();
    addLeaves(out, path, s.get(field), field.getType(), refTarget(field));
  }
}

void addLeaves(std::vector<Leaf>& out, const std::string& path,
               const capnp::DynamicValue::Reader& value, capnp::Type type,
               std::string_view refTree) {
  if (type.isStruct() && !isRefType(type)) {
    addStructLeaves(out, path, value.as<capnp::DynamicStruct>());
  } else if (type.isList()) {
    auto list = value.as<capnp::DynamicList>();
    auto element = type.asList().getElementType();
    for (capnp::uint i = 0; i < list.size(); ++i) {
      addLeaves(out, path + "[" + std::to_string(i) + "]", list[i], element, refTree);
    }
    if (list.size() == 0) out.push_back({path, "[0]"});
  } else if (type.isData()) {
    out.push_back({path, hexDump(value.as<capnp::Data>(), 64)});
  } else {
    out.push_back({path, cellText(value, type, refTree, 4096)});
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
  std::string cell;
  std::string& target = out.empty() ? out : cell;
  appendCell(target, value, type, refTree, limit);
  cut(target, limit);
  if (&target != &out) out += cell;
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

std::string pathText(const std::vector<PathStep>& path) {
  std::string out;
  for (const auto& step : path) {
    if (step.name.empty()) {
      out += "[" + std::to_string(step.index) + "]";
    } else {
      if (!out.empty()) out += '.';
      out += step.name;
    }
  }
  return out;
}

std::vector<Leaf> leaves(capnp::DynamicStruct::Reader record) {
  std::vector<Leaf> out;
  addStructLeaves(out, "", record);
  return out;
}

std::vector<FieldDiff> diff(capnp::DynamicStruct::Reader before,
                            capnp::DynamicStruct::Reader after) {
  std::map<std::string, std::string> old;
  for (auto& leaf : leaves(before)) old.emplace(std::move(leaf.path), std::move(leaf.text));
  std::vector<FieldDiff> out;
  for (auto& leaf : leaves(after)) {
    auto it = old.find(leaf.path);
    if (it == old.end()) {
      out.push_back({leaf.path, "", std::move(leaf.text)});
      continue;
    }
    if (it->second != leaf.text) out.push_back({leaf.path, it->second, std::move(leaf.text)});
    old.erase(it);
  }
  for (auto& [path, text] : old) out.push_back({path, text, ""});
  return out;
}

}  // namespace hills::viewer
