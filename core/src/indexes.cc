// The non-template parts of the built-in indexers.
#include "hills/indexes.h"

#include <capnp/dynamic.h>

#include <cctype>

#include "hills/hills.capnp.h"

namespace hills {

std::string normalizeName(std::string_view name, const NameOptions& options) {
  if (options.trim) {
    auto space = [](char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; };
    while (!name.empty() && space(name.front())) name.remove_prefix(1);
    while (!name.empty() && space(name.back())) name.remove_suffix(1);
  }
  std::string out;
  out.reserve(name.size());
  for (char c : name) {
    if (options.ignored.find(c) != std::string::npos) continue;
    // ASCII only: bytes of UTF-8 sequences pass unchanged.
    out +=
        options.caseSensitive ? c : static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return out;
}

namespace detail {

std::vector<std::string> trigrams(std::string_view normalized) {
  std::vector<std::string> out;
  if (normalized.empty()) return out;
  std::string padded = "  " + std::string(normalized) + " ";
  for (std::size_t i = 0; i + 3 <= padded.size(); ++i) out.push_back(padded.substr(i, 3));
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

std::string refKey(std::string_view tree, std::uint64_t id, std::uint32_t revision) {
  std::string k(tree);
  k += '\0';
  for (int i = 0; i < 8; ++i) k += static_cast<char>(id >> (56 - 8 * i));
  for (int i = 0; i < 4; ++i) k += static_cast<char>(revision >> (24 - 8 * i));
  return k;
}

namespace {

constexpr std::uint64_t kRefAnnotation = 0xa6b1e0c58c9c0a93ull;  // $Hills.ref

std::string refTarget(capnp::StructSchema::Field field) {
  for (auto a : field.getProto().getAnnotations()) {
    if (a.getId() == kRefAnnotation && a.getValue().isText()) return a.getValue().getText();
  }
  return {};
}

void visit(capnp::DynamicValue::Reader value, capnp::Type type, const std::string& target,
           std::vector<std::string>& out);

void visitStruct(capnp::DynamicStruct::Reader s, std::vector<std::string>& out) {
  for (auto field : s.getSchema().getFields()) {
    auto type = field.getType();
    if (!(type.isStruct() || type.isList()) || !s.has(field)) continue;
    visit(s.get(field), type, refTarget(field), out);
  }
}

void visit(capnp::DynamicValue::Reader value, capnp::Type type, const std::string& target,
           std::vector<std::string>& out) {
  if (type.isStruct()) {
    auto s = value.as<capnp::DynamicStruct>();
    if (type.asStruct().getProto().getId() == capnp::typeId<schema::Ref>()) {
      auto id = s.get("id").as<std::uint64_t>();
      if (!target.empty() && id != 0) {
        out.push_back(refKey(target, id, s.get("revision").as<std::uint32_t>()));
      }
      return;
    }
    visitStruct(s, out);
  } else if (type.isList()) {
    auto element = type.asList().getElementType();
    if (!(element.isStruct() || element.isList())) return;
    for (auto item : value.as<capnp::DynamicList>()) visit(item, element, target, out);
  }
}

}  // namespace

void collectRefs(capnp::StructSchema schema, capnp::AnyPointer::Reader body,
                 std::vector<std::string>& out) {
  visitStruct(body.getAs<capnp::DynamicStruct>(schema), out);
}

}  // namespace detail
}  // namespace hills
