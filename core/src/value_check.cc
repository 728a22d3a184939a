// Reading a value through to its last pointer against a schema: what the
// database checks of every value that comes from outside (applied changes,
// adopted values) before it stores it, and what StoredRecord::check offers
// tools that verify a database.
#include "value_check.h"

#include <capnp/dynamic.h>

#include <boost/container/small_vector.hpp>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "hills/error.h"
#include "hills/record.capnp.h"
#include "json_encode.h"
#include "state.h"

namespace hills::detail {

namespace {

// Where the walk stands in the value: field names and list indexes, made
// into text ("lines[3].part") only for an error.
class Path {
 public:
  void enter(kj::StringPtr field) { frames_.push_back({field, -1}); }
  void index(unsigned i) { frames_.push_back({nullptr, static_cast<std::int64_t>(i)}); }
  void leave() { frames_.pop_back(); }
  bool empty() const { return frames_.empty(); }
  std::string text() const {
    std::string out;
    for (const auto& f : frames_) {
      if (f.index >= 0) {
        out += '[' + std::to_string(f.index) + ']';
      } else {
        if (!out.empty()) out += '.';
        out += f.field.cStr();
      }
    }
    return out;
  }

 private:
  struct Frame {
    kj::StringPtr field;
    std::int64_t index;
  };
  // Records nest a few levels deep: no allocation per value.
  boost::container::small_vector<Frame, 16> frames_;
};

bool holdsPointers(capnp::Type type) {
  switch (type.which()) {
    case capnp::schema::Type::TEXT:
    case capnp::schema::Type::DATA:
    case capnp::schema::Type::LIST:
    case capnp::schema::Type::STRUCT:
      return true;
    default:
      // Numbers, enums and Void live in the data section: any bits read as
      // some value. AnyPointer and interfaces are refused by capnpc-hills.
      return false;
  }
}

void walkStruct(capnp::DynamicStruct::Reader value, Path& path);

// `value` was read as `type` already (reading checks the pointer's kind and
// bounds); what it points to is read in turn.
void walkValue(const capnp::DynamicValue::Reader& value, capnp::Type type, Path& path) {
  switch (type.which()) {
    case capnp::schema::Type::STRUCT:
      walkStruct(value.as<capnp::DynamicStruct>(), path);
      return;
    case capnp::schema::Type::LIST: {
      auto element = type.asList().getElementType();
      if (!holdsPointers(element)) return;  // the element size was checked
      auto list = value.as<capnp::DynamicList>();
      for (unsigned i = 0; i < list.size(); ++i) {
        path.index(i);
        walkValue(list[i], element, path);
        path.leave();
      }
      return;
    }
    default:
      return;  // Text and Data: checked as they were read
  }
}

void walkField(capnp::DynamicStruct::Reader value, capnp::StructSchema::Field field,
               Path& path) {
  auto type = field.getType();
  if (!holdsPointers(type)) return;
  path.enter(field.getProto().getName());
  walkValue(value.get(field), type, path);
  path.leave();
}

void walkStruct(capnp::DynamicStruct::Reader value, Path& path) {
  for (auto field : value.getSchema().getNonUnionFields()) walkField(value, field, path);
  KJ_IF_MAYBE (active, value.which()) {
    walkField(value, *active, path);
  }
}

// --- plans: the pointer fields of a struct, found once per schema ---------
//
// The dynamic walk above looks every field's type up in the schema, value
// after value. A plan lists a struct's pointer fields once, each with how
// to read it, so the walk over a value reads its pointers through
// Cap'n Proto's typed readers (the same checks as generated code) and
// nothing else. Structs with unions or groups (which capnpc-hills refuses
// in records) keep the dynamic walk.

}  // namespace

enum class Read : std::uint8_t {
  kText, kData, kStruct,
  kTexts, kDatas, kStructs,  // lists of them
  kBits, kBytes, kShorts, kInts, kLongs, kVoids,  // lists of numbers, enums, Void
  kDynamic,  // anything else (lists of lists): the dynamic walk
};

struct ValuePlan {
  struct Field {
    std::uint32_t pointer = 0;   // index in the pointer section
    Read read = Read::kDynamic;
    kj::StringPtr name;
    const ValuePlan* nested = nullptr;  // kStruct, kStructs
    capnp::Type type;                   // kDynamic
  };
  bool dynamic = false;  // unions or groups: the dynamic walk
  capnp::StructSchema schema;
  std::vector<Field> fields;
};

struct ValuePlans {
  std::map<std::uint64_t, std::unique_ptr<ValuePlan>> byId;
  const ValuePlan* root = nullptr;
};

namespace {

Read listRead(capnp::Type element) {
  using T = capnp::schema::Type;
  switch (element.which()) {
    case T::TEXT: return Read::kTexts;
    case T::DATA: return Read::kDatas;
    case T::STRUCT: return Read::kStructs;
    case T::BOOL: return Read::kBits;
    case T::INT8: case T::UINT8: return Read::kBytes;
    case T::INT16: case T::UINT16: case T::ENUM: return Read::kShorts;
    case T::INT32: case T::UINT32: case T::FLOAT32: return Read::kInts;
    case T::INT64: case T::UINT64: case T::FLOAT64: return Read::kLongs;
    case T::VOID: return Read::kVoids;
    default: return Read::kDynamic;
  }
}

const ValuePlan* planOf(capnp::StructSchema schema, ValuePlans& plans) {
  auto id = schema.getProto().getId();
  if (auto it = plans.byId.find(id); it != plans.byId.end()) return it->second.get();
  auto& plan = *(plans.byId[id] = std::make_unique<ValuePlan>());
  plan.schema = schema;
  if (schema.getUnionFields().size() != 0) plan.dynamic = true;
  for (auto field : schema.getFields()) {
    if (field.getProto().isGroup()) plan.dynamic = true;
  }
  if (plan.dynamic) return &plan;
  for (auto field : schema.getNonUnionFields()) {
    auto type = field.getType();
    if (!holdsPointers(type)) continue;
    ValuePlan::Field f;
    f.pointer = field.getProto().getSlot().getOffset();
    f.name = field.getProto().getName();
    f.type = type;
    using T = capnp::schema::Type;
    switch (type.which()) {
      case T::TEXT: f.read = Read::kText; break;
      case T::DATA: f.read = Read::kData; break;
      case T::STRUCT:
        f.read = Read::kStruct;
        f.nested = planOf(type.asStruct(), plans);
        break;
      default: {
        auto element = type.asList().getElementType();
        f.read = listRead(element);
        if (f.read == Read::kStructs) f.nested = planOf(element.asStruct(), plans);
        break;
      }
    }
    plan.fields.push_back(f);
  }
  return &plan;
}

void walkPlanned(capnp::AnyStruct::Reader value, const ValuePlan& plan, Path& path);

void walkPlannedField(capnp::AnyPointer::Reader pointer, const ValuePlan::Field& f, Path& path) {
  switch (f.read) {
    case Read::kText: pointer.getAs<capnp::Text>(); return;
    case Read::kData: pointer.getAs<capnp::Data>(); return;
    case Read::kStruct: walkPlanned(pointer.getAs<capnp::AnyStruct>(), *f.nested, path); return;
    case Read::kTexts: {
      auto list = pointer.getAs<capnp::List<capnp::Text>>();
      for (unsigned i = 0; i < list.size(); ++i) {
        path.index(i);
        list[i];
        path.leave();
      }
      return;
    }
    case Read::kDatas: {
      auto list = pointer.getAs<capnp::List<capnp::Data>>();
      for (unsigned i = 0; i < list.size(); ++i) {
        path.index(i);
        list[i];
        path.leave();
      }
      return;
    }
    case Read::kStructs: {
      // Read as the schema's list type: a struct list accepts what generated
      // readers accept (any element size but bits).
      auto list = pointer.getAs<capnp::DynamicList>(f.type.asList());
      for (unsigned i = 0; i < list.size(); ++i) {
        path.index(i);
        walkPlanned(list[i].as<capnp::DynamicStruct>().as<capnp::AnyStruct>(), *f.nested, path);
        path.leave();
      }
      return;
    }
    case Read::kBits: pointer.getAs<capnp::List<bool>>(); return;
    case Read::kBytes: pointer.getAs<capnp::List<std::uint8_t>>(); return;
    case Read::kShorts: pointer.getAs<capnp::List<std::uint16_t>>(); return;
    case Read::kInts: pointer.getAs<capnp::List<std::uint32_t>>(); return;
    case Read::kLongs: pointer.getAs<capnp::List<std::uint64_t>>(); return;
    case Read::kVoids: pointer.getAs<capnp::List<capnp::Void>>(); return;
    case Read::kDynamic:
      walkValue(pointer.getAs<capnp::DynamicList>(f.type.asList()), f.type, path);
      return;
  }
}

void walkPlanned(capnp::AnyStruct::Reader value, const ValuePlan& plan, Path& path) {
  if (plan.dynamic) {
    walkStruct(value.as<capnp::DynamicStruct>(plan.schema), path);
    return;
  }
  auto pointers = value.getPointerSection();
  for (const auto& f : plan.fields) {
    // A value of an older program has fewer pointers: the rest read as null.
    if (f.pointer >= pointers.size()) continue;
    path.enter(f.name);
    walkPlannedField(pointers[f.pointer], f, path);
    path.leave();
  }
}

}  // namespace

void checkValue(const TreeState& tree, std::uint64_t id, std::uint32_t revision,
                kj::ArrayPtr<const capnp::word> words) {
  // A value made by a Cap'n Proto builder reads each word once (lists of
  // empty elements count a word each): a value whose pointers share their
  // targets so that it reads as far more than it holds is refused, and no
  // value costs its readers much more than its size.
  capnp::ReaderOptions options;
  options.traversalLimitInWords = 2 * words.size() + 64;
  ValueReader reader(words, options);
  Path path;
  try {
    auto envelope = reader.getRoot<wire::Envelope>();
    path.enter("author");
    envelope.getAuthor();
    path.leave();
    path.enter("body");
    auto body = envelope.getBody();
    if (!body.isNull() && !body.isStruct()) {
      throw Error(ErrorCode::kCorrupt,
                  "the value of " + describe(tree.name, id, revision) +
                      " does not match the schema of tree '" + tree.name +
                      "': its body is not a struct");
    }
    path.leave();
    if (tree.plans) {
      walkPlanned(body.getAs<capnp::AnyStruct>(), *tree.plans->root, path);
    } else {
      walkStruct(body.getAs<capnp::DynamicStruct>(tree.schema), path);
    }
  } catch (const kj::Exception& e) {
    std::string at = path.text();
    std::string where = at.empty()        ? std::string("its envelope")
                        : at == "author" ? std::string("the envelope's author")
                                         : "field '" + at + "'";
    throw Error(ErrorCode::kCorrupt, "the value of " + describe(tree.name, id, revision) +
                                         " does not match the schema of tree '" + tree.name +
                                         "' at " + where + ": " +
                                         e.getDescription().cStr());
  }
}

void setSchema(TreeState& tree, capnp::StructSchema schema) {
  tree.schema = schema;
  tree.plans = planValues(schema);
  tree.json = planJson(schema);
}

std::shared_ptr<const ValuePlans> planValues(capnp::StructSchema schema) {
  auto plans = std::make_shared<ValuePlans>();
  plans->root = planOf(schema, *plans);
  return plans;
}

}  // namespace hills::detail
