// The walk over the references of a record, through its schema: one for
// readers (the reference index) and builders (rewriting references).
#include "hills/ref.h"

#include <capnp/dynamic.h>

namespace hills {

namespace {

constexpr std::uint64_t kRefAnnotation = 0xa6b1e0c58c9c0a93ull;  // $Hills.ref

// Struct is DynamicStruct::Reader or ::Builder; fn(struct, target) is
// called for every set Ref struct under a $Hills.ref field.
template <class Struct, class Fn>
void walkStruct(Struct s, Fn& fn);

template <class Value, class Fn>
void walkValue(Value value, capnp::Type type, std::string_view target, Fn& fn) {
  if (type.isStruct()) {
    auto s = value.template as<capnp::DynamicStruct>();
    if (isRefType(type)) {
      if (!target.empty()) fn(s, target);
      return;
    }
    walkStruct(s, fn);
  } else if (type.isList()) {
    auto element = type.asList().getElementType();
    if (!(element.isStruct() || element.isList())) return;
    // By index: capnp 0.9's DynamicList::Builder iterator does not compile.
    auto list = value.template as<capnp::DynamicList>();
    for (capnp::uint i = 0; i < list.size(); ++i) walkValue(list[i], element, target, fn);
  }
}

template <class Struct, class Fn>
void walkStruct(Struct s, Fn& fn) {
  for (auto field : s.getSchema().getFields()) {
    auto type = field.getType();
    // has() first: get() on a builder would set an unset pointer.
    if (!(type.isStruct() || type.isList()) || !s.has(field)) continue;
    walkValue(s.get(field), type, refTarget(field), fn);
  }
}

}  // namespace

std::string_view refTarget(capnp::StructSchema::Field field) {
  for (auto a : field.getProto().getAnnotations()) {
    if (a.getId() == kRefAnnotation && a.getValue().isText()) {
      auto text = a.getValue().getText();
      return std::string_view(text.begin(), text.size());
    }
  }
  return {};
}

bool isRefType(capnp::Type type) {
  return type.isStruct() && type.asStruct().getProto().getId() == capnp::typeId<schema::Ref>();
}

void forEachRef(capnp::StructSchema schema, capnp::AnyPointer::Reader body,
                kj::FunctionParam<void(const RefValue& ref)> fn) {
  auto visit = [&](capnp::DynamicStruct::Reader ref, std::string_view tree) {
    RefValue value{tree, ref.get("id").as<std::uint64_t>(), ref.get("revision").as<std::uint32_t>()};
    if (value.id != 0) fn(value);
  };
  walkStruct(body.getAs<capnp::DynamicStruct>(schema), visit);
}

std::size_t rewriteRefs(capnp::StructSchema schema, capnp::AnyPointer::Builder body,
                        kj::FunctionParam<void(RefValue& ref)> fn) {
  std::size_t changed = 0;
  auto visit = [&](capnp::DynamicStruct::Builder ref, std::string_view tree) {
    RefValue value{tree, ref.get("id").as<std::uint64_t>(), ref.get("revision").as<std::uint32_t>()};
    if (value.id == 0) return;
    RefValue before = value;
    fn(value);
    if (value.id == before.id && value.revision == before.revision) return;
    ref.set("id", value.id);
    ref.set("revision", value.revision);
    ++changed;
  };
  walkStruct(body.getAs<capnp::DynamicStruct>(schema), visit);
  return changed;
}

}  // namespace hills
