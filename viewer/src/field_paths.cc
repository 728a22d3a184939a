#include "field_paths.h"

#include <map>
#include <string_view>

#include "hills/ref.h"
#include "value_text.h"

namespace hills::viewer {

namespace {

// Whether field `field` (of type `type`) of `s` holds a value to show: the
// active member of a union, and a pointer that is not null.
bool isSet(capnp::DynamicStruct::Reader s, capnp::StructSchema::Field field, capnp::Type type) {
  if (!isActive(s, field)) return false;
  bool pointer = type.isText() || type.isData() || type.isList() ||
                 (type.isStruct() && !field.getProto().isGroup()) || type.isAnyPointer();
  return !pointer || s.has(field);
}

void addLeaves(std::vector<Leaf>& out, const std::string& path,
               const capnp::DynamicValue::Reader& value, capnp::Type type,
               std::string_view refTree);

void addStructLeaves(std::vector<Leaf>& out, const std::string& prefix,
                     capnp::DynamicStruct::Reader s) {
  for (auto field : s.getSchema().getFields()) {
    if (!isSet(s, field, field.getType())) continue;
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
