// Reading a value through to its last pointer against a schema: what the
// database checks of every value that comes from outside (applied changes,
// adopted values) before it stores it, and what StoredRecord::check offers
// tools that verify a database.
#include "value_check.h"

#include <capnp/dynamic.h>

#include <string>

#include "hills/error.h"
#include "hills/record.capnp.h"
#include "state.h"

namespace hills::detail {

namespace {

// Where the walk stands in the value, for the error: "lines[3].part".
class Path {
 public:
  void enter(kj::StringPtr field) {
    marks_.push_back(text_.size());
    if (!text_.empty()) text_ += '.';
    text_ += field.cStr();
  }
  void index(unsigned i) {
    marks_.push_back(text_.size());
    text_ += '[' + std::to_string(i) + ']';
  }
  void leave() {
    text_.resize(marks_.back());
    marks_.pop_back();
  }
  const std::string& text() const { return text_; }

 private:
  std::string text_;
  std::vector<std::size_t> marks_;
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
    walkStruct(body.getAs<capnp::DynamicStruct>(tree.schema), path);
  } catch (const kj::Exception& e) {
    std::string where = path.text().empty() ? std::string("its envelope")
                        : path.text() == "author" ? std::string("the envelope's author")
                                                  : "field '" + path.text() + "'";
    throw Error(ErrorCode::kCorrupt, "the value of " + describe(tree.name, id, revision) +
                                         " does not match the schema of tree '" + tree.name +
                                         "' at " + where + ": " +
                                         e.getDescription().cStr());
  }
}

}  // namespace hills::detail
