#include "hills/generic.h"

#include <capnp/compat/json.h>
#include <capnp/dynamic.h>

#include "hills/tree.h"

namespace hills {

namespace {

// Decodes the JSON into the body; Cap'n Proto's decoder reports what is wrong.
bool decodeInto(const GenericTreeView& tree, std::string_view json, capnp::AnyPointer::Builder body,
                const std::string& target) {
  try {
    capnp::JsonCodec codec;
    auto out = body.initAs<capnp::DynamicStruct>(tree.schema());
    codec.decode(kj::ArrayPtr<const char>(json.data(), json.size()), out);
  } catch (const kj::Exception& e) {
    throw Error(ErrorCode::kInvalidArgument, "JSON for " + target +
                                                 " does not fit the schema of tree '" +
                                                 tree.name() + "': " + e.getDescription().cStr());
  }
  return false;
}

}  // namespace

std::string toJson(const GenericTreeView& tree, const StoredRecord& record) {
  try {
    capnp::JsonCodec codec;
    auto text = codec.encode(record.body().getAs<capnp::DynamicStruct>(tree.schema()));
    return std::string(text.cStr(), text.size());
  } catch (const kj::Exception& e) {
    detail::throwCorrupt(tree.name(), record.id(), record.revision(), e);
  }
}

void updateFromJson(GenericTree& tree, std::uint64_t id, std::uint32_t revision,
                    std::string_view json) {
  tree.update(id, revision, [&](capnp::AnyPointer::Builder body, capnp::AnyPointer::Reader) {
    return decodeInto(tree, json, body, describe(tree.name(), id, revision));
  });
}

std::uint64_t createFromJson(GenericTree& tree, std::string_view json) {
  return tree.create([&](capnp::AnyPointer::Builder body, capnp::AnyPointer::Reader) {
    return decodeInto(tree, json, body, "a new record of tree '" + tree.name() + "'");
  });
}

}  // namespace hills
