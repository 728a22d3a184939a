#include "model.h"

#include <algorithm>

#include "names.h"
#include "values.h"

namespace hills::codegen {

namespace {

namespace schema = capnp::schema;

// Ids fixed by schemas/hills/hills.capnp and capnp/c++.capnp.
constexpr std::uint64_t kHillsFileId = 0xc912d10be7aab699ull;
constexpr std::uint64_t kTreeAnnotation = 0xc241038c4b0d87b6ull;
constexpr std::uint64_t kUnversionedAnnotation = 0xfb9c09074cfc5476ull;
constexpr std::uint64_t kRefAnnotation = 0xa6b1e0c58c9c0a93ull;
constexpr std::uint64_t kNamespaceAnnotation = 0xbd8e76badbd42c1aull;
constexpr std::uint64_t kCxxNamespaceAnnotation = 0xb9c6f99ebf805f2cull;
constexpr std::uint64_t kCxxNameAnnotation = 0xf264a779fef191ceull;

std::string str(capnp::Text::Reader t) { return std::string(t.cStr(), t.size()); }

bool hasAnnotation(capnp::List<schema::Annotation>::Reader list, std::uint64_t id) {
  for (auto a : list) {
    if (a.getId() == id) return true;
  }
  return false;
}

std::optional<std::string> textAnnotation(capnp::List<schema::Annotation>::Reader list, std::uint64_t id) {
  for (auto a : list) {
    if (a.getId() == id) return str(a.getValue().getText());
  }
  return std::nullopt;
}

std::string joinNamespace(const std::vector<std::string>& parts) {
  std::string out;
  for (const auto& p : parts) out += (out.empty() ? "" : "::") + p;
  return out;
}

const char* scalarType(schema::Type::Which which) {
  switch (which) {
    case schema::Type::BOOL: return "bool";
    case schema::Type::INT8: return "::std::int8_t";
    case schema::Type::INT16: return "::std::int16_t";
    case schema::Type::INT32: return "::std::int32_t";
    case schema::Type::INT64: return "::std::int64_t";
    case schema::Type::UINT8: return "::std::uint8_t";
    case schema::Type::UINT16: return "::std::uint16_t";
    case schema::Type::UINT32: return "::std::uint32_t";
    case schema::Type::UINT64: return "::std::uint64_t";
    case schema::Type::FLOAT32: return "float";
    case schema::Type::FLOAT64: return "double";
    default: return nullptr;
  }
}

const std::string kNone;

}  // namespace

RequestModel::RequestModel(const capnp::SchemaLoader& loader, Request::Reader request)
    : loader_(loader) {
  for (auto node : request.getNodes()) {
    if (node.getId() != kHillsFileId) continue;
    for (auto nested : node.getNestedNodes()) {
      if (nested.getName() == "Ref") refId_ = nested.getId();
    }
  }
  // Tree names are checked over every node, imported files included: two
  // trees of one name would share one LMDB database.
  for (auto node : request.getNodes()) {
    if (!node.isStruct()) continue;
    auto schema = loader.get(node.getId());
    auto tree = textAnnotation(node.getAnnotations(), kTreeAnnotation);
    std::string here = str(fileOf(schema).getProto().getDisplayName()) + ": " + scopedName(schema);
    if (!tree) {
      if (hasAnnotation(node.getAnnotations(), kUnversionedAnnotation)) {
        throw SchemaError(here + ": $Hills.unversioned needs $Hills.tree(\"<name>\") on the same struct");
      }
      continue;
    }
    if (tree->empty() || (*tree)[0] == '_') {
      throw SchemaError(here + ": tree name \"" + *tree +
                        "\" is not allowed: names must be non-empty and names starting with '_' are "
                        "reserved for hills; choose another");
    }
    auto [it, inserted] = trees_.emplace(*tree, node.getId());
    if (!inserted) {
      auto first = loader.get(it->second);
      throw SchemaError("tree \"" + *tree + "\" is declared twice: by " +
                        str(fileOf(first).getProto().getDisplayName()) + ": " + scopedName(first) + " and by " +
                        here + "; tree names must be unique");
    }
  }
}

// ---- names ------------------------------------------------------------------

capnp::Schema RequestModel::fileOf(capnp::Schema node) const {
  while (node.getProto().getScopeId() != 0) node = loader_.get(node.getProto().getScopeId());
  return node;
}

std::string RequestModel::scopedName(capnp::Schema node) const {
  // Display names are "<file>:<Outer>.<Inner>"; messages name the part after the file.
  std::string display = str(node.getProto().getDisplayName());
  std::string file = str(fileOf(node).getProto().getDisplayName());
  if (display.size() > file.size() && display.compare(0, file.size(), file) == 0 && display[file.size()] == ':') {
    return display.substr(file.size() + 1);
  }
  return display;
}

std::string RequestModel::where(capnp::StructSchema s, const capnp::StructSchema::Field& f) const {
  return str(fileOf(s).getProto().getDisplayName()) + ": " + scopedName(s) + "." + str(f.getProto().getName());
}

std::string RequestModel::cxxName(capnp::Schema node) const {
  auto proto = node.getProto();
  if (auto name = textAnnotation(proto.getAnnotations(), kCxxNameAnnotation)) return *name;
  return str(proto.getDisplayName()).substr(proto.getDisplayNamePrefixLength());
}

std::string RequestModel::capnpName(capnp::Schema node) const {
  auto proto = node.getProto();
  if (proto.isFile()) {
    auto ns = textAnnotation(proto.getAnnotations(), kCxxNamespaceAnnotation);
    if (!ns) return "";
    return "::" + (ns->substr(0, 2) == "::" ? ns->substr(2) : *ns);
  }
  return capnpName(loader_.get(proto.getScopeId())) + "::" + cxxName(node);
}

std::string RequestModel::aggregateName(capnp::Schema node) {
  auto proto = node.getProto();
  if (proto.isFile()) return "::" + joinNamespace(hillsNamespace(node));
  return aggregateName(loader_.get(proto.getScopeId())) + "::" + cxxName(node);
}

std::vector<std::string> RequestModel::hillsNamespace(capnp::Schema file) {
  auto annotations = file.getProto().getAnnotations();
  auto ns = textAnnotation(annotations, kNamespaceAnnotation);
  if (!ns) return {};
  std::string name = str(file.getProto().getDisplayName());
  auto parts = splitNamespace(*ns);
  if (parts.empty()) {
    throw SchemaError(name + ": $Hills.namespace(\"" + *ns + "\") is not a C++ namespace name; write it as \"a::b\"");
  }
  if (auto cxx = textAnnotation(annotations, kCxxNamespaceAnnotation)) {
    if (splitNamespace(*cxx) == parts) {
      // Cap'n Proto's Part and the record struct Part cannot share a namespace.
      throw SchemaError(name + ": $Hills.namespace(\"" + *ns + "\") equals its $Cxx.namespace; the record structs " +
                        "need a namespace of their own, e.g. $Cxx.namespace(\"plm::capnp\") with " +
                        "$Hills.namespace(\"plm\")");
    }
  }
  return parts;
}

// ---- what hills supports --------------------------------------------------------

bool RequestModel::isRef(capnp::Type type) const {
  return refId_ != 0 && type.isStruct() && type.asStruct().getProto().getId() == refId_;
}

const std::string& RequestModel::unsupported(capnp::StructSchema s) {
  const std::uint64_t id = s.getProto().getId();
  if (auto it = verdicts_.find(id); it != verdicts_.end()) {
    // A struct met again while it is being checked (a struct that holds a
    // list of itself) is fine as far as that path goes.
    return it->second.state == State::kUnsupported ? it->second.reason : kNone;
  }
  verdicts_[id] = Verdict{};

  auto proto = s.getProto();
  auto file = fileOf(s);
  std::string name = str(file.getProto().getDisplayName()) + ": " + scopedName(s);
  std::string reason;
  auto parent = loader_.get(proto.getScopeId());
  if (hillsNamespace(file).empty()) {
    reason = name + ": " + str(file.getProto().getDisplayName()) +
             " has no $Hills.namespace, so hills makes no record struct for it; add "
             "$Hills.namespace(\"<ns>\") to that file and generate it with hills_generate()";
  } else if (proto.getIsGeneric()) {
    reason = name + ": generic structs are not supported by hills";
  } else if (parent.getProto().isInterface()) {
    reason = name + ": structs declared inside an interface are not supported by hills; declare it in a struct "
                    "or at file level";
  } else if (parent.getProto().isStruct() && !unsupported(parent.asStruct()).empty()) {
    reason = unsupported(parent.asStruct());  // a nested aggregate needs its enclosing one
  } else if (proto.getStruct().getDiscriminantCount() > 0) {
    reason = where(s, s.getUnionFields()[0]) +
             ": unions are not supported by hills; make it separate fields or a nested struct";
  } else {
    for (auto f : s.getFields()) {
      reason = fieldUnsupported(s, f);
      if (!reason.empty()) break;
    }
  }

  Verdict& v = verdicts_[id];
  v.state = reason.empty() ? State::kOk : State::kUnsupported;
  v.reason = std::move(reason);
  return v.state == State::kUnsupported ? v.reason : kNone;
}

std::string RequestModel::fieldUnsupported(capnp::StructSchema s, const capnp::StructSchema::Field& f) {
  auto proto = f.getProto();
  if (proto.isGroup()) {
    auto group = loader_.get(proto.getGroup().getTypeId()).getProto();
    if (group.getStruct().getDiscriminantCount() > 0) {
      return where(s, f) + ": unions are not supported by hills; make it separate fields or a nested struct";
    }
    return where(s, f) + ": groups are not supported by hills; make it a nested struct";
  }

  // Hills' own annotations: a mistake here is an error wherever it is.
  capnp::Type type = f.getType();
  capnp::Type base = type;
  while (base.isList()) base = base.asList().getElementType();
  auto ref = textAnnotation(proto.getAnnotations(), kRefAnnotation);
  if (ref && !isRef(base)) {
    throw SchemaError(where(s, f) + ": $Hills.ref is only for fields of type Hills.Ref or List(Hills.Ref)");
  }
  if (isRef(base) && !ref) {
    throw SchemaError(where(s, f) + ": a Hills.Ref field needs $Hills.ref(\"<tree>\") to say which tree it " +
                      "points into");
  }
  if (ref) treeTarget(s, f);

  // Defaults that an aggregate's member initialiser cannot hold simply.
  auto value = proto.getSlot().getDefaultValue();
  if (value.isStruct() && value.hasStruct()) {
    return where(s, f) + ": default values of struct fields are not supported by hills";
  }
  if (value.isList() && value.hasList()) {
    auto element = type.asList().getElementType();
    if ((element.isStruct() || element.isList()) && !isZero(type, defaultValue(type, value))) {
      return where(s, f) + ": default values of lists of structs or lists are not supported by hills; " +
             "leave the default empty";
    }
  }
  return typeUnsupported(type, s, f);
}

std::string RequestModel::typeUnsupported(capnp::Type type, capnp::StructSchema s,
                                          const capnp::StructSchema::Field& f) {
  switch (type.which()) {
    case schema::Type::VOID:
      return where(s, f) + ": Void fields are not supported by hills; remove it or make it a Bool";
    case schema::Type::ANY_POINTER:
      return where(s, f) + ": AnyPointer fields are not supported by hills; give the field a concrete type";
    case schema::Type::INTERFACE:
      return where(s, f) + ": interface (capability) fields are not supported by hills; records hold data only";
    case schema::Type::LIST:
      return typeUnsupported(type.asList().getElementType(), s, f);
    case schema::Type::STRUCT:
      if (isRef(type)) return "";
      return unsupported(type.asStruct());
    default:
      return "";
  }
}

capnp::StructSchema RequestModel::treeTarget(capnp::StructSchema s, const capnp::StructSchema::Field& f) {
  auto tree = *textAnnotation(f.getProto().getAnnotations(), kRefAnnotation);
  auto it = trees_.find(tree);
  if (it == trees_.end()) {
    // capnp passes only the nodes of imported files that are used as types,
    // so a tree of an imported file is seen only if that file is compiled
    // in the same run.
    throw SchemaError(where(s, f) + ": $Hills.ref(\"" + tree + "\") names no tree: no struct compiled with " +
                      str(fileOf(s).getProto().getDisplayName()) + " has $Hills.tree(\"" + tree +
                      "\"); if an imported file declares it, compile both in one run (one hills_generate() call)");
  }
  return loader_.get(it->second).asStruct();
}

// ---- building ---------------------------------------------------------------------

File RequestModel::build(Request::RequestedFile::Reader requested) {
  auto fileSchema = loader_.get(requested.getId());
  File file;
  file.displayName = str(fileSchema.getProto().getDisplayName());
  file.output = stripCapnpExtension(file.displayName) + ".hills.h";
  file.capnpHeader = baseName(file.displayName) + ".h";  // the c++ plugin's name, next to ours

  fileId_ = requested.getId();
  imports_.clear();
  included_.clear();
  for (auto import : requested.getImports()) imports_[import.getId()] = str(import.getName());

  file.namespaceParts = hillsNamespace(fileSchema);
  if (file.namespaceParts.empty()) {
    for (const auto& [tree, id] : trees_) {
      if (fileOf(loader_.get(id)).getProto().getId() == fileId_) {
        throw SchemaError(file.displayName + ": it declares trees (\"" + tree + "\") but has no $Hills.namespace; " +
                          "add `$Hills.namespace(\"<ns>\");` naming the C++ namespace of its record structs " +
                          "(it must differ from its $Cxx.namespace)");
      }
    }
    return file;  // nothing to generate: the header only says so
  }
  walkScope(fileSchema, file.structs, file.enums, file);
  orderForDefinition(file.structs, file.displayName);
  return file;
}

void RequestModel::walkScope(capnp::Schema scope, std::vector<Struct>& structs, std::vector<EnumAlias>& enums,
                             File& file) {
  for (auto nested : scope.getProto().getNestedNodes()) {
    auto node = loader_.get(nested.getId());
    auto proto = node.getProto();
    if (proto.isEnum()) {
      enums.push_back(EnumAlias{cxxName(node), capnpName(node)});
    } else if (proto.isStruct()) {
      auto s = node.asStruct();
      const std::string& why = unsupported(s);
      if (why.empty()) {
        structs.push_back(buildStruct(s, file));
        continue;
      }
      // Skipping is fine for a struct no tree needs: a tree that used it
      // fails its own check. A tree in or under it cannot be skipped.
      for (const auto& [tree, id] : trees_) {
        auto treeStruct = loader_.get(id);
        for (auto t = treeStruct; t.getProto().getScopeId() != 0; t = loader_.get(t.getProto().getScopeId())) {
          if (t.getProto().getId() != proto.getId()) continue;
          // Say which tree needs it when the problem lies elsewhere.
          std::string self = file.displayName + ": " + scopedName(treeStruct);
          bool own = why.compare(0, self.size() + 1, self + ".") == 0 || why.compare(0, self.size() + 1, self + ":") == 0;
          throw SchemaError(own ? why : why + " (the record of tree \"" + tree + "\", " + scopedName(treeStruct) +
                                            ", needs it)");
        }
      }
      file.skipped.push_back(Skipped{scopedName(node), why});
    }
  }
}

Struct RequestModel::buildStruct(capnp::StructSchema s, File& file) {
  Struct out;
  auto proto = s.getProto();
  out.id = proto.getId();
  out.name = cxxName(s);
  out.scoped = scopedName(s);
  out.aggregate = aggregateName(s);
  out.capnp = capnpName(s);
  out.tree = textAnnotation(proto.getAnnotations(), kTreeAnnotation);
  out.versioned = !hasAnnotation(proto.getAnnotations(), kUnversionedAnnotation);

  walkScope(s, out.nested, out.enums, file);
  auto clash = [&](const std::string& name) {
    if (name == "Capnp" || name == "Reader" || name == "Builder") {
      throw SchemaError(file.displayName + ": " + out.scoped + "." + name + ": the name " + name +
                        " is taken by the record struct's own aliases; rename it or give it a $Cxx.name");
    }
  };
  for (const auto& n : out.nested) clash(n.name);
  for (const auto& e : out.enums) clash(e.name);

  // Members in the order the schema declares them, so that aggregate
  // initialisation reads like the schema.
  std::vector<capnp::StructSchema::Field> fields;
  for (auto f : s.getFields()) fields.push_back(f);
  std::sort(fields.begin(), fields.end(),
            [](const auto& a, const auto& b) { return a.getProto().getCodeOrder() < b.getProto().getCodeOrder(); });
  for (const auto& f : fields) out.fields.push_back(buildField(s, f, file));
  return out;
}

Field RequestModel::buildField(capnp::StructSchema s, const capnp::StructSchema::Field& f, File& file) {
  Field out;
  auto proto = f.getProto();
  out.schemaName = str(proto.getName());
  std::string cxx = textAnnotation(proto.getAnnotations(), kCxxNameAnnotation).value_or(out.schemaName);
  out.member = safeIdentifier(cxx);
  out.accessor = titleCase(cxx);
  out.type = buildType(f.getType(), s, f, file);

  auto type = f.getType();
  switch (out.type.kind) {
    case TypeKind::kScalar:
    case TypeKind::kEnum:
    case TypeKind::kText:
    case TypeKind::kData:
    case TypeKind::kList: {
      auto value = defaultValue(type, proto.getSlot().getDefaultValue());
      const bool zero = isZero(type, value);
      if (!zero) {
        std::string text = valueText(type, value, [this](capnp::Schema n) { return capnpName(n); });
        const bool classElements = out.type.kind == TypeKind::kList && (out.type.element->kind == TypeKind::kText ||
                                                                         out.type.element->kind == TypeKind::kData);
        // g++ 12 crashes (ICE in check_noexcept_r) when Boost.PFR counts the
        // fields of an aggregate whose member initialiser is an
        // initializer_list of class objects; made inside a lambda it is not.
        out.initializer = classElements ? "= [] { return " + out.type.cpp + text + "; }()" : "= " + text;
      } else {
        // No indeterminate members, even in `plm::Part p;`, and a
        // designated initializer may leave any member out without
        // -Wmissing-field-initializers.
        out.initializer = "{}";
      }
      // A null pointer reads back as the default, so it stands for "empty"
      // only when the default is empty.
      out.nullWhenEmpty = zero && out.type.kind != TypeKind::kScalar && out.type.kind != TypeKind::kEnum;
      break;
    }
    case TypeKind::kKey:
      out.nullWhenEmpty = true;  // struct defaults are refused, so a Ref's default is null
      out.initializer = "{}";
      break;
    case TypeKind::kStruct:
      out.initializer = "{}";
      break;
  }
  return out;
}

FieldType RequestModel::buildType(capnp::Type type, capnp::StructSchema s, const capnp::StructSchema::Field& f,
                                  File& file) {
  FieldType out;
  if (const char* scalar = scalarType(type.which())) {
    out.kind = TypeKind::kScalar;
    out.cpp = scalar;
    return out;
  }
  switch (type.which()) {
    case schema::Type::ENUM:
      out.kind = TypeKind::kEnum;
      out.cpp = capnpName(type.asEnum());
      break;
    case schema::Type::TEXT:
      out.kind = TypeKind::kText;
      out.cpp = "::std::string";
      break;
    case schema::Type::DATA:
      out.kind = TypeKind::kData;
      out.cpp = "::std::vector<::std::uint8_t>";
      break;
    case schema::Type::LIST: {
      auto element = std::make_shared<FieldType>(buildType(type.asList().getElementType(), s, f, file));
      out.kind = TypeKind::kList;
      out.cpp = "::std::vector<" + element->cpp + ">";
      out.element = std::move(element);
      break;
    }
    case schema::Type::STRUCT:
      if (isRef(type)) {
        auto target = treeTarget(s, f);
        if (const std::string& why = unsupported(target); !why.empty()) {
          throw SchemaError(where(s, f) + ": it points into a tree whose struct cannot be generated: " + why);
        }
        useFile(target, s, f, file);
        out.kind = TypeKind::kKey;
        out.structId = target.getProto().getId();
        out.cpp = "::hills::Key<" + aggregateName(target) + ">";
      } else {
        auto target = type.asStruct();
        useFile(target, s, f, file);
        out.kind = TypeKind::kStruct;
        out.structId = target.getProto().getId();
        out.cpp = aggregateName(target);
      }
      break;
    default:
      // unsupported() let only the kinds above through.
      throw SchemaError(where(s, f) + ": internal error: unexpected field type");
  }
  return out;
}

void RequestModel::useFile(capnp::Schema used, capnp::StructSchema s, const capnp::StructSchema::Field& f,
                           File& file) {
  const std::uint64_t id = fileOf(used).getProto().getId();
  if (id == fileId_ || id == kHillsFileId || included_.count(id) > 0) return;
  auto it = imports_.find(id);
  if (it == imports_.end()) {
    // Only a direct import tells us the name under which its header is found.
    throw SchemaError(where(s, f) + ": it uses " + scopedName(used) + " of " +
                      str(fileOf(used).getProto().getDisplayName()) + ", which " + file.displayName +
                      " does not import directly; import that file so that its record header can be included");
  }
  included_.insert(id);
  const std::string& name = it->second;
  // The same rule as capnpc-c++ for "<x>.capnp.h": absolute imports come from the include path.
  file.includes.push_back(name.substr(0, 1) == "/" ? "<" + stripCapnpExtension(name.substr(1)) + ".hills.h>"
                                                   : "\"" + stripCapnpExtension(name) + ".hills.h\"");
}

}  // namespace hills::codegen
