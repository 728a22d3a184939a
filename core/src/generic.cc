#include "hills/generic.h"

#include <capnp/compat/json.h>
#include <capnp/dynamic.h>

#include "hills/tree.h"

namespace hills {

namespace {

// Decodes the JSON into the body, over a copy of the previous body when
// there is one (so fields the JSON leaves out, and fields of a newer schema
// than the one this process loaded, keep their values).
bool decodeInto(const GenericTreeView& tree, std::string_view json, capnp::AnyPointer::Builder body,
                capnp::AnyPointer::Reader previous, const std::string& target) {
  try {
    capnp::JsonCodec codec;
    if (previous.isNull()) {
      codec.decode(kj::ArrayPtr<const char>(json.data(), json.size()),
                   body.initAs<capnp::DynamicStruct>(tree.schema()));
      return false;
    }
    body.set(previous);
    codec.decode(kj::ArrayPtr<const char>(json.data(), json.size()),
                 body.getAs<capnp::DynamicStruct>(tree.schema()));
    return true;
  } catch (const kj::Exception& e) {
    throw Error(ErrorCode::kInvalidArgument, "JSON for " + target +
                                                 " does not fit the schema of tree '" +
                                                 tree.name() + "': " + e.getDescription().cStr());
  }
}

}  // namespace

std::string toJson(const GenericTreeView& tree, const StoredRecord& record) {
  try {
    capnp::JsonCodec codec;
    auto text = codec.encode(record.body().getAs<capnp::DynamicStruct>(tree.schema()));
    return std::string(text.cStr(), text.size());
  } catch (const kj::Exception& e) {
    record.throwCorrupt(e);
  }
}

void updateFromJson(GenericTree& tree, std::uint64_t id, std::uint32_t revision,
                    std::string_view json) {
  tree.update(id, revision, [&](capnp::AnyPointer::Builder body, capnp::AnyPointer::Reader prev) {
    return decodeInto(tree, json, body, prev, describe(tree.name(), id, revision));
  });
}

std::uint64_t createFromJson(GenericTree& tree, std::string_view json) {
  return tree.create([&](capnp::AnyPointer::Builder body, capnp::AnyPointer::Reader prev) {
    return decodeInto(tree, json, body, prev, "a new record of tree '" + tree.name() + "'");
  });
}

}  // namespace hills
