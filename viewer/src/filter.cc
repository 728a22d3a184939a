#include "filter.h"

#include <cctype>

#include "filter_node.h"
#include "value_text.h"

namespace hills::viewer {

namespace {

using detail::Kind;
using detail::Literal;
using detail::Meta;
using detail::Op;
using Node = detail::FilterNode;

// --- evaluation ------------------------------------------------------------------

template <class T>
bool ordered(Op op, const T& a, const T& b) {
  switch (op) {
    case Op::kEq: return a == b;
    case Op::kNe: return a != b;
    case Op::kLt: return a < b;
    case Op::kLe: return a <= b;
    case Op::kGt: return a > b;
    case Op::kGe: return a >= b;
    default: return false;
  }
}

bool containsFolded(std::string_view haystack, std::string_view needleLower) {
  if (needleLower.empty()) return true;
  if (haystack.size() < needleLower.size()) return false;
  for (std::size_t i = 0; i + needleLower.size() <= haystack.size(); ++i) {
    std::size_t k = 0;
    while (k < needleLower.size() &&
           std::tolower(static_cast<unsigned char>(haystack[i + k])) ==
               static_cast<unsigned char>(needleLower[k])) {
      ++k;
    }
    if (k == needleLower.size()) return true;
  }
  return false;
}

bool compareNumber(Op op, const Literal& lit, Kind kind, const capnp::DynamicValue::Reader& v) {
  if (kind == Kind::kFloat || !lit.integer) {
    double x = kind == Kind::kSigned     ? static_cast<double>(v.as<std::int64_t>())
               : kind == Kind::kUnsigned ? static_cast<double>(v.as<std::uint64_t>())
                                         : v.as<double>();
    return ordered(op, x, lit.number);
  }
  __int128 x = kind == Kind::kSigned ? static_cast<__int128>(v.as<std::int64_t>())
                                     : static_cast<__int128>(v.as<std::uint64_t>());
  return ordered(op, x, *lit.integer);
}

bool compareValue(const Node& n, const capnp::DynamicValue::Reader& v) {
  switch (n.path.kind) {
    case Kind::kSigned:
    case Kind::kUnsigned:
    case Kind::kFloat:
      return compareNumber(n.op, n.literal, n.path.kind, v);
    case Kind::kRef:
      return compareNumber(n.op, n.literal, Kind::kUnsigned,
                           v.as<capnp::DynamicStruct>().get("id"));
    case Kind::kText: {
      auto t = v.as<capnp::Text>();
      std::string_view text(t.begin(), t.size());
      if (n.op == Op::kHas) return containsFolded(text, n.literal.folded);
      if (n.op == Op::kHasNot) return !containsFolded(text, n.literal.folded);
      return ordered(n.op, text, std::string_view(n.literal.text));
    }
    case Kind::kBool:
      return ordered(n.op, v.as<bool>(), n.literal.boolean);
    case Kind::kEnum:
      return ordered(n.op, v.as<capnp::DynamicEnum>().getRaw(), n.literal.enumerant);
  }
  return false;
}

bool compareMeta(const Node& n, const StoredRecord& rec) {
  switch (n.path.meta) {
    case Meta::kId:
      return n.literal.integer ? ordered(n.op, static_cast<__int128>(rec.id()), *n.literal.integer)
                               : ordered(n.op, static_cast<double>(rec.id()), n.literal.number);
    case Meta::kRevision:
      return ordered(n.op, static_cast<double>(rec.revision()), n.literal.number);
    case Meta::kLifecycle:
      return ordered(n.op, static_cast<double>(rec.meta().lifecycle), n.literal.number);
    case Meta::kState:
      return ordered(n.op, static_cast<std::uint16_t>(rec.state()), n.literal.enumerant);
    case Meta::kAuthor: {
      std::string author = rec.meta().author;
      if (n.op == Op::kHas) return containsFolded(author, n.literal.folded);
      if (n.op == Op::kHasNot) return !containsFolded(author, n.literal.folded);
      return ordered(n.op, std::string_view(author), std::string_view(n.literal.text));
    }
    case Meta::kNone:
      break;
  }
  return false;
}

bool matchStruct(const Node& n, capnp::DynamicStruct::Reader s, std::size_t step);

// Whether `v`, the value of the path's field `step` (of type `type`),
// matches: a list when one of its elements does, a struct when the rest of
// the path matches in it.
bool matchValue(const Node& n, const capnp::DynamicValue::Reader& v, capnp::Type type,
                std::size_t step) {
  if (type.isList()) {
    auto element = type.asList().getElementType();
    for (auto e : v.as<capnp::DynamicList>()) {
      if (matchValue(n, e, element, step)) return true;
    }
    return false;
  }
  if (step + 1 == n.path.fields.size()) return compareValue(n, v);
  return matchStruct(n, v.as<capnp::DynamicStruct>(), step + 1);
}

bool matchStruct(const Node& n, capnp::DynamicStruct::Reader s, std::size_t step) {
  const auto& field = n.path.fields[step];
  if (!isActive(s, field)) return false;
  return matchValue(n, s.get(field), n.path.types[step], step);
}

bool compare(const Node& n, const StoredRecord& rec, capnp::DynamicStruct::Reader body) {
  if (n.path.meta != Meta::kNone) return compareMeta(n, rec);
  return matchStruct(n, body, 0);
}

bool eval(const Node& n, const StoredRecord& rec, capnp::DynamicStruct::Reader body) {
  switch (n.type) {
    case Node::Type::kAnd: return eval(*n.left, rec, body) && eval(*n.right, rec, body);
    case Node::Type::kOr: return eval(*n.left, rec, body) || eval(*n.right, rec, body);
    case Node::Type::kNot: return !eval(*n.left, rec, body);
    case Node::Type::kCompare: return compare(n, rec, body);
  }
  return false;
}

}  // namespace
Filter::Filter(std::string_view expression, capnp::StructSchema schema)
    : expression_(expression), schema_(schema), root_(detail::parseFilter(expression, schema)) {}
Filter::~Filter() = default;
Filter::Filter(Filter&&) noexcept = default;
Filter& Filter::operator=(Filter&&) noexcept = default;

bool Filter::matches(const StoredRecord& record) const {
  if (!root_) return true;
  try {
    return eval(*root_, record, record.body().getAs<capnp::DynamicStruct>(schema_));
  } catch (const kj::Exception& e) {
    record.throwCorrupt(e);
  }
}

}  // namespace hills::viewer
