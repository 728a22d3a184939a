// hills schema DIR [TREE]: the stored schema of each tree, written the way
// Cap'n Proto's schema language writes it.
#include <capnp/schema.h>

#include <cstdio>
#include <set>

#include "commands.h"
#include "common.h"

namespace hills::tools {
namespace {

constexpr std::uint64_t kRefAnnotation = 0xa6b1e0c58c9c0a93ull;  // $Hills.ref, hills.capnp

struct SchemaArgs {
  std::string dir;
  std::string tree;
};

std::string typeName(capnp::Type type) {
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
    case W::LIST: return "List(" + typeName(type.asList().getElementType()) + ")";
    case W::ENUM: return type.asEnum().getShortDisplayName().cStr();
    case W::STRUCT: {
      auto s = type.asStruct();
      // Hills.Ref and other imported structs keep their file's name.
      std::string name = s.getShortDisplayName().cStr();
      return name == "Ref" ? "Hills.Ref" : name;
    }
    case W::INTERFACE: return type.asInterface().getShortDisplayName().cStr();
    case W::ANY_POINTER: return "AnyPointer";
  }
  return "?";
}

// " = 85" for a field whose default is not zero (numbers and booleans).
std::string defaultOf(capnp::schema::Value::Reader v) {
  using V = capnp::schema::Value;
  switch (v.which()) {
    case V::BOOL: return v.getBool() ? " = true" : "";
    case V::INT8: return v.getInt8() ? " = " + std::to_string(v.getInt8()) : "";
    case V::INT16: return v.getInt16() ? " = " + std::to_string(v.getInt16()) : "";
    case V::INT32: return v.getInt32() ? " = " + std::to_string(v.getInt32()) : "";
    case V::INT64: return v.getInt64() ? " = " + std::to_string(v.getInt64()) : "";
    case V::UINT8: return v.getUint8() ? " = " + std::to_string(v.getUint8()) : "";
    case V::UINT16: return v.getUint16() ? " = " + std::to_string(v.getUint16()) : "";
    case V::UINT32: return v.getUint32() ? " = " + std::to_string(v.getUint32()) : "";
    case V::UINT64: return v.getUint64() ? " = " + std::to_string(v.getUint64()) : "";
    case V::FLOAT32: return v.getFloat32() != 0 ? " = " + std::to_string(v.getFloat32()) : "";
    case V::FLOAT64: return v.getFloat64() != 0 ? " = " + std::to_string(v.getFloat64()) : "";
    default: return "";
  }
}

// The structs and enums a type names, through lists.
capnp::Schema namedSchema(capnp::Type type) {
  while (type.isList()) type = type.asList().getElementType();
  if (type.isStruct()) return type.asStruct();
  if (type.isEnum()) return type.asEnum();
  return capnp::Schema();
}

class Printer {
 public:
  void printStruct(capnp::StructSchema s, const std::string& indent, const std::string& header) {
    out_ += indent + "struct " + s.getShortDisplayName().cStr() + header + " {\n";
    printMembers(s, indent + "  ");
    printNested(s, indent + "  ");
    out_ += indent + "}\n";
  }
  std::string take() { return std::move(out_); }

 private:
  void printMembers(capnp::StructSchema s, const std::string& indent) {
    for (auto field : s.getNonUnionFields()) printField(field, indent);
    auto union_ = s.getUnionFields();
    if (union_.size() > 0) {
      out_ += indent + "union {\n";
      for (auto field : union_) printField(field, indent + "  ");
      out_ += indent + "}\n";
    }
  }

  void printField(capnp::StructSchema::Field field, const std::string& indent) {
    auto proto = field.getProto();
    std::string line = indent + proto.getName().cStr();
    if (proto.isGroup()) {
      out_ += line + " :group {\n";
      printMembers(field.getType().asStruct(), indent + "  ");
      out_ += indent + "}\n";
      return;
    }
    line += " @" + std::to_string(proto.getOrdinal().getExplicit()) + " :" +
            typeName(field.getType()) + defaultOf(proto.getSlot().getDefaultValue());
    for (auto a : proto.getAnnotations()) {
      if (a.getId() == kRefAnnotation && a.getValue().isText()) {
        line += std::string(" $Hills.ref(\"") + a.getValue().getText().cStr() + "\")";
      }
    }
    out_ += line + ";\n";
    auto named = namedSchema(field.getType());
    if (named.getProto().getId() != 0) used_.push_back(named);
  }

  // Structs and enums declared inside `s` that its fields use, printed in it.
  void printNested(capnp::StructSchema s, const std::string& indent) {
    auto id = s.getProto().getId();
    std::vector<capnp::Schema> mine;
    for (auto& u : used_) {
      if (u.getProto().getScopeId() == id && printed_.insert(u.getProto().getId()).second) {
        mine.push_back(u);
      }
    }
    for (auto& u : mine) {
      if (u.getProto().isEnum()) {
        out_ += indent + "enum " + u.getShortDisplayName().cStr() + " {\n";
        for (auto e : u.asEnum().getEnumerants()) {
          out_ += indent + "  " + e.getProto().getName().cStr() + " @" +
                  std::to_string(e.getOrdinal()) + ";\n";
        }
        out_ += indent + "}\n";
      } else {
        printStruct(u.asStruct(), indent, "");
      }
    }
  }

  std::string out_;
  std::vector<capnp::Schema> used_;
  std::set<std::uint64_t> printed_;
};

void printSchemas(const SchemaArgs& args) {
  auto db = openDatabase(args.dir, false);
  bool found = false;
  for (const auto& tree : db->trees()) {
    if (!args.tree.empty() && tree.name != args.tree) continue;
    found = true;
    auto schema = db->storedSchema(tree.name);
    char id[24];
    std::snprintf(id, sizeof(id), "@0x%016llx", static_cast<unsigned long long>(tree.typeId));
    std::string header = std::string(" ") + id + " $Hills.tree(\"" + tree.name + "\")" +
                         (tree.versioned ? "" : " $Hills.unversioned");
    Printer p;
    p.printStruct(schema, "", header);
    std::fputs(p.take().c_str(), stdout);
    std::fputs("\n", stdout);
  }
  if (!found) throw Error(ErrorCode::kUnknownTree, "the database " + args.dir + " has no tree '" + args.tree + "'");
}

}  // namespace

kj::MainFunc schemaCommand(kj::ProcessContext& context) {
  auto args = std::make_shared<SchemaArgs>();
  return kj::MainBuilder(context, kVersion,
                         "Prints the schema stored in the database in DIR for TREE (every tree "
                         "when none is named) as Cap'n Proto schema text: the record struct with "
                         "its fields, ordinals and types, the structs and enums declared in it, "
                         "and the $Hills.ref targets of reference fields.")
      .expectArg("DIR", [args](kj::StringPtr dir) {
        args->dir = dir;
        return true;
      })
      .expectOptionalArg("TREE", [args](kj::StringPtr tree) {
        args->tree = tree;
        return true;
      })
      .callAfterParsing([args, &context]() {
        return guarded(context, [&]() -> kj::MainBuilder::Validity {
          printSchemas(*args);
          return true;
        });
      })
      .build();
}

}  // namespace hills::tools
