#include "schema_registry.h"

#include <map>
#include <set>
#include <string>

#include "hills/error.h"
#include "hills/hills.capnp.h"
#include "hills/schema.h"

namespace hills::detail {

std::string_view builtinTypeName(capnp::schema::Type::Which which) {
  using T = capnp::schema::Type;
  switch (which) {
    case T::VOID:
      return "Void";
    case T::BOOL:
      return "Bool";
    case T::INT8:
      return "Int8";
    case T::INT16:
      return "Int16";
    case T::INT32:
      return "Int32";
    case T::INT64:
      return "Int64";
    case T::UINT8:
      return "UInt8";
    case T::UINT16:
      return "UInt16";
    case T::UINT32:
      return "UInt32";
    case T::UINT64:
      return "UInt64";
    case T::FLOAT32:
      return "Float32";
    case T::FLOAT64:
      return "Float64";
    case T::TEXT:
      return "Text";
    case T::DATA:
      return "Data";
    case T::ANY_POINTER:
      return "AnyPointer";
    case T::LIST:
    case T::ENUM:
    case T::STRUCT:
    case T::INTERFACE:
      return {};
  }
  return "?";
}

namespace {

using Node = capnp::schema::Node;
using Field = capnp::schema::Field;
using SchemaType = capnp::schema::Type;
using NodeMap = std::map<std::uint64_t, Node::Reader>;

void collect(capnp::Type type, std::map<std::uint64_t, capnp::Schema>& out);

void collect(capnp::StructSchema s, std::map<std::uint64_t, capnp::Schema>& out) {
  if (!out.emplace(s.getProto().getId(), s).second) return;
  for (auto field : s.getFields()) collect(field.getType(), out);
}

void collect(capnp::Type type, std::map<std::uint64_t, capnp::Schema>& out) {
  if (type.isStruct()) {
    collect(type.asStruct(), out);
  } else if (type.isEnum()) {
    auto e = type.asEnum();
    out.emplace(e.getProto().getId(), e);
  } else if (type.isList()) {
    collect(type.asList().getElementType(), out);
  }
}

std::string typeName(SchemaType::Reader t, const NodeMap& nodes) {
  switch (t.which()) {
    case SchemaType::LIST:
      return "List(" + typeName(t.getList().getElementType(), nodes) + ")";
    case SchemaType::ENUM:
    case SchemaType::STRUCT:
    case SchemaType::INTERFACE: {
      std::uint64_t id = t.isEnum()     ? t.getEnum().getTypeId()
                         : t.isStruct() ? t.getStruct().getTypeId()
                                        : t.getInterface().getTypeId();
      auto it = nodes.find(id);
      if (it != nodes.end()) {
        auto name = it->second.getDisplayName();
        auto prefix = it->second.getDisplayNamePrefixLength();
        return std::string(name.begin() + prefix, name.end());
      }
      char buf[32];
      std::snprintf(buf, sizeof(buf), "@0x%016llx", static_cast<unsigned long long>(id));
      return buf;
    }
    default:
      return std::string(builtinTypeName(t.which()));
  }
}

std::string shortName(Node::Reader node) {
  auto name = node.getDisplayName();
  return std::string(name.begin() + node.getDisplayNamePrefixLength(), name.end());
}

class Checker {
 public:
  Checker(const NodeMap& stored, const NodeMap& compiled, std::string tree)
      : stored_(stored), compiled_(compiled), tree_(std::move(tree)) {}

  // Returns true when compiled knows every field stored knows.
  bool structs(std::uint64_t id, const std::string& path) {
    if (!visited_.insert(id).second) return true;
    auto s = stored_.find(id);
    auto c = compiled_.find(id);
    if (s == stored_.end() || c == compiled_.end()) return true;  // nothing to compare
    auto sn = s->second;
    auto cn = c->second;
    if (!sn.isStruct() || !cn.isStruct()) {
      if (sn.which() != cn.which()) fail(path, "changed kind of node");
      return true;
    }
    std::map<std::uint16_t, Field::Reader> compiledFields;
    std::map<std::string, Field::Reader> compiledGroups;  // groups have no ordinal: by name
    for (auto f : cn.getStruct().getFields()) {
      if (f.getOrdinal().isExplicit()) compiledFields.emplace(f.getOrdinal().getExplicit(), f);
      if (f.isGroup()) compiledGroups.emplace(f.getName().cStr(), f);
    }
    if (sn.getStruct().getDiscriminantCount() > 0 && cn.getStruct().getDiscriminantCount() > 0 &&
        sn.getStruct().getDiscriminantOffset() != cn.getStruct().getDiscriminantOffset()) {
      fail(path, "moved its union's discriminant");
    }
    bool superset = cn.getStruct().getDataWordCount() >= sn.getStruct().getDataWordCount() &&
                    cn.getStruct().getPointerCount() >= sn.getStruct().getPointerCount();
    for (auto sf : sn.getStruct().getFields()) {
      std::string fieldPath = path + "." + std::string(sf.getName().cStr());
      if (sf.isGroup()) {
        auto it = compiledGroups.find(sf.getName().cStr());
        if (it == compiledGroups.end()) {
          superset = false;
          continue;
        }
        superset = structs(sf.getGroup().getTypeId(), fieldPath) && superset;
        continue;
      }
      if (!sf.getOrdinal().isExplicit()) {
        superset = false;
        continue;
      }
      auto ordinal = sf.getOrdinal().getExplicit();
      auto it = compiledFields.find(ordinal);
      if (it == compiledFields.end()) {
        superset = false;
        continue;
      }
      auto cf = it->second;
      if (sf.isSlot() != cf.isSlot()) {
        fail(fieldPath + " (@" + std::to_string(ordinal) + ")",
             "changed between a field and a group");
      }
      if (!sf.isSlot()) continue;
      auto st = sf.getSlot().getType();
      auto ct = cf.getSlot().getType();
      if (!sameType(st, ct, fieldPath) || sf.getSlot().getOffset() != cf.getSlot().getOffset()) {
        fail(fieldPath + " (@" + std::to_string(ordinal) + ")",
             "is stored as " + typeName(st, stored_) + " but compiled as " +
                 typeName(ct, compiled_));
      }
      superset = nested(st, fieldPath) && superset;
    }
    return superset;
  }

 private:
  bool sameType(SchemaType::Reader a, SchemaType::Reader b, const std::string& path) {
    if (a.which() != b.which()) return false;
    switch (a.which()) {
      case SchemaType::LIST:
        return sameType(a.getList().getElementType(), b.getList().getElementType(), path);
      case SchemaType::STRUCT:
        return a.getStruct().getTypeId() == b.getStruct().getTypeId();
      case SchemaType::ENUM:
        return a.getEnum().getTypeId() == b.getEnum().getTypeId();
      case SchemaType::INTERFACE:
        return a.getInterface().getTypeId() == b.getInterface().getTypeId();
      default:
        return true;
    }
  }

  bool nested(SchemaType::Reader t, const std::string& path) {
    if (t.isList()) return nested(t.getList().getElementType(), path);
    if (t.isStruct()) return structs(t.getStruct().getTypeId(), path);
    return true;
  }

  [[noreturn]] void fail(const std::string& field, const std::string& what) {
    throw Error(ErrorCode::kSchemaMismatch,
                "tree '" + tree_ + "': field " + field + " " + what +
                    "; Cap'n Proto schemas may only add fields, never change a field's type");
  }

  const NodeMap& stored_;
  const NodeMap& compiled_;
  std::string tree_;
  std::set<std::uint64_t> visited_;
};

}  // namespace

void buildTreeSchema(const TreeType& type, wire::TreeSchema::Builder out) {
  std::map<std::uint64_t, capnp::Schema> nodes;
  collect(type.schema, nodes);
  out.setTree(type.tree);
  out.setTypeId(type.schema.getProto().getId());
  out.setVersioned(type.versioned);
  auto list = out.initNodes(static_cast<unsigned>(nodes.size()));
  unsigned i = 0;
  for (auto& [id, schema] : nodes) list.setWithCaveats(i++, schema.getProto());
}

bool checkTreeSchema(wire::TreeSchema::Reader stored, const TreeType& compiled) {
  std::uint64_t compiledId = compiled.schema.getProto().getId();
  if (stored.getTypeId() != compiledId) {
    std::string storedName = "other";
    for (auto n : stored.getNodes()) {
      if (n.getId() == stored.getTypeId()) storedName = shortName(n);
    }
    throw Error(ErrorCode::kSchemaMismatch,
                "tree '" + compiled.tree + "' stores " + storedName + " records (type id " +
                    std::to_string(stored.getTypeId()) + ") but this program declares it for " +
                    shortName(compiled.schema.getProto()) + " (type id " +
                    std::to_string(compiledId) + ")");
  }
  if (stored.getVersioned() != compiled.versioned) {
    throw Error(ErrorCode::kSchemaMismatch,
                "tree '" + compiled.tree + "' is stored as " +
                    (stored.getVersioned() ? "versioned" : "unversioned") +
                    " but this program declares it " +
                    (compiled.versioned ? "versioned" : "unversioned"));
  }
  NodeMap storedNodes;
  for (auto n : stored.getNodes()) storedNodes.emplace(n.getId(), n);
  std::map<std::uint64_t, capnp::Schema> schemas;
  collect(compiled.schema, schemas);
  NodeMap compiledNodes;
  for (auto& [id, s] : schemas) compiledNodes.emplace(id, s.getProto());
  Checker checker(storedNodes, compiledNodes, compiled.tree);
  return checker.structs(compiledId, shortName(compiled.schema.getProto()));
}

void loadTreeSchema(capnp::SchemaLoader& loader, wire::TreeSchema::Reader stored) {
  for (auto node : stored.getNodes()) loader.load(node);
  // Whatever reads a reference (forEachRef, FieldReader, the viewer) takes
  // a struct of Hills.Ref's id for an id and a revision in their slots: a
  // stored node under that id with another shape would have them read
  // other bits, or a float as an id.
  KJ_IF_MAYBE (ref, loader.tryGet(capnp::typeId<schema::Ref>())) {
    auto slot = [&](const char* name, capnp::schema::Type::Which which) {
      if (!ref->getProto().isStruct()) return false;
      KJ_IF_MAYBE (field, ref->asStruct().findFieldByName(name)) {
        auto proto = field->getProto();
        return proto.isSlot() &&
               proto.getDiscriminantValue() == capnp::schema::Field::NO_DISCRIMINANT &&
               field->getType().which() == which;
      }
      return false;
    };
    if (!slot("id", capnp::schema::Type::UINT64) || !slot("revision", capnp::schema::Type::UINT32)) {
      throw Error(ErrorCode::kSchemaMismatch,
                  "the schema of tree '" + std::string(stored.getTree().cStr()) +
                      "' holds a struct with the id of Hills.Ref that is not Hills.Ref "
                      "(id :UInt64, revision :UInt32)");
    }
  }
}

}  // namespace hills::detail

namespace hills {

void writeTreeSchema(const TreeType& type, wire::TreeSchema::Builder out) {
  detail::buildTreeSchema(type, out);
}

TreeType readTreeSchema(wire::TreeSchema::Reader schema, capnp::SchemaLoader& loader) {
  std::string tree = schema.getTree();
  try {
    detail::loadTreeSchema(loader, schema);
    auto found = loader.tryGet(schema.getTypeId());
    KJ_IF_MAYBE (s, found) {
      if (s->getProto().isStruct()) return TreeType{tree, schema.getVersioned(), s->asStruct()};
    }
  } catch (const kj::Exception& e) {
    throw Error(ErrorCode::kSchemaMismatch,
                "the schema of tree '" + tree + "' does not load: " + e.getDescription().cStr());
  }
  throw Error(ErrorCode::kSchemaMismatch,
              "the schema of tree '" + tree + "' does not hold its record struct");
}

}  // namespace hills
