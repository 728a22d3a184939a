#include "filter.h"

#include <cctype>
#include <charconv>
#include <cmath>
#include <optional>
#include <vector>

#include "hills/ref.h"
#include "value_text.h"

namespace hills::viewer {

namespace {

// --- tokens ------------------------------------------------------------------

enum class Tok { kName, kNumber, kString, kOp, kOpen, kClose, kAnd, kOr, kNot, kEnd };

struct Token {
  Tok kind = Tok::kEnd;
  std::string text;  // a name, an operator, a string's value, a number as written
  std::size_t pos = 0;
  std::size_t len = 0;
};

bool nameChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.';
}

std::vector<Token> tokenize(std::string_view s) {
  std::vector<Token> out;
  std::size_t i = 0;
  while (i < s.size()) {
    char c = s[i];
    if (std::isspace(static_cast<unsigned char>(c))) {
      ++i;
      continue;
    }
    Token t;
    t.pos = i;
    if (c == '(' || c == ')') {
      t.kind = c == '(' ? Tok::kOpen : Tok::kClose;
      t.text = std::string(1, c);
      ++i;
    } else if (c == '"') {
      t.kind = Tok::kString;
      ++i;
      bool closed = false;
      while (i < s.size()) {
        if (s[i] == '\\' && i + 1 < s.size()) {
          t.text += s[i + 1];
          i += 2;
        } else if (s[i] == '"') {
          ++i;
          closed = true;
          break;
        } else {
          t.text += s[i++];
        }
      }
      if (!closed) throw FilterError(t.pos, s.size() - t.pos, "this text has no closing '\"'");
    } else if (std::isdigit(static_cast<unsigned char>(c)) ||
               ((c == '-' || c == '+') && i + 1 < s.size() &&
                (std::isdigit(static_cast<unsigned char>(s[i + 1])) || s[i + 1] == '.'))) {
      t.kind = Tok::kNumber;
      std::size_t start = i++;
      while (i < s.size() && (std::isalnum(static_cast<unsigned char>(s[i])) || s[i] == '.' ||
                              ((s[i] == '-' || s[i] == '+') && (s[i - 1] == 'e' || s[i - 1] == 'E')))) {
        ++i;
      }
      t.text = std::string(s.substr(start, i - start));
    } else if (std::string_view("=!<>~&|").find(c) != std::string_view::npos) {
      t.kind = Tok::kOp;
      std::size_t start = i++;
      if (i < s.size() && (s[i] == '=' || s[i] == '~' || (c == '&' && s[i] == '&') ||
                           (c == '|' && s[i] == '|'))) {
        ++i;
      }
      t.text = std::string(s.substr(start, i - start));
      if (t.text == "&&") t.kind = Tok::kAnd;
      if (t.text == "||") t.kind = Tok::kOr;
      if (t.text == "!") t.kind = Tok::kNot;
      if (t.text == "&" || t.text == "|" || t.text == "=~") {
        throw FilterError(start, i - start,
                          "'" + t.text + "' is no operator here: use and, or, = or ~");
      }
    } else if (nameChar(c)) {
      std::size_t start = i;
      while (i < s.size() && nameChar(s[i])) ++i;
      t.text = std::string(s.substr(start, i - start));
      t.kind = t.text == "and" ? Tok::kAnd : t.text == "or" ? Tok::kOr
               : t.text == "not"                         ? Tok::kNot
                                                         : Tok::kName;
    } else {
      throw FilterError(i, 1, std::string("'") + c + "' has no meaning in a filter");
    }
    t.len = i - t.pos;
    out.push_back(std::move(t));
  }
  Token end;
  end.pos = s.size();
  out.push_back(end);
  return out;
}

// --- bound expressions ---------------------------------------------------------

enum class Meta { kNone, kId, kRevision, kState, kLifecycle, kAuthor };
enum class Op { kEq, kNe, kLt, kLe, kGt, kGe, kHas, kHasNot };
// What the leaf of a path holds, as a filter compares it.
enum class Kind { kSigned, kUnsigned, kFloat, kText, kBool, kEnum, kRef };

struct Path {
  Meta meta = Meta::kNone;
  std::vector<capnp::StructSchema::Field> fields;
  Kind kind = Kind::kSigned;
  bool list = false;  // the leaf is a list: any element may match
};

struct Literal {
  double number = 0;
  std::optional<__int128> integer;  // when the number is whole
  std::string text;                 // lower-cased for ~ and !~
  bool boolean = false;
  std::uint16_t enumerant = 0;
};

}  // namespace

namespace detail {

struct FilterNode {
  enum class Type { kAnd, kOr, kNot, kCompare } type = Type::kCompare;
  std::unique_ptr<FilterNode> left, right;
  Path path;
  Op op = Op::kEq;
  Literal literal;
};

}  // namespace detail

namespace {

using Node = detail::FilterNode;

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string fieldList(capnp::StructSchema schema) {
  std::string out;
  for (auto f : schema.getFields()) {
    if (!out.empty()) out += ", ";
    out += f.getProto().getName().cStr();
  }
  return out;
}

std::string opName(Op op) {
  static const char* names[] = {"=", "!=", "<", "<=", ">", ">=", "~", "!~"};
  return names[static_cast<int>(op)];
}

Kind kindOf(capnp::Type type, bool& ok) {
  using W = capnp::schema::Type;
  ok = true;
  switch (type.which()) {
    case W::INT8: case W::INT16: case W::INT32: case W::INT64: return Kind::kSigned;
    case W::UINT8: case W::UINT16: case W::UINT32: case W::UINT64: return Kind::kUnsigned;
    case W::FLOAT32: case W::FLOAT64: return Kind::kFloat;
    case W::TEXT: return Kind::kText;
    case W::BOOL: return Kind::kBool;
    case W::ENUM: return Kind::kEnum;
    default:
      if (isRefType(type)) return Kind::kRef;
      ok = false;
      return Kind::kSigned;
  }
}

class Parser {
 public:
  Parser(std::string_view text, capnp::StructSchema schema)
      : tokens_(tokenize(text)), schema_(schema) {}

  std::unique_ptr<Node> parse() {
    if (peek().kind == Tok::kEnd) return nullptr;
    auto node = orExpr();
    if (peek().kind != Tok::kEnd) {
      const Token& t = peek();
      throw FilterError(t.pos, t.len,
                        t.kind == Tok::kClose ? "this ')' closes no '('"
                                              : "expected and, or or the end, found '" + t.text + "'");
    }
    return node;
  }

 private:
  const Token& peek() const { return tokens_[at_]; }
  const Token& next() { return tokens_[at_ == tokens_.size() - 1 ? at_ : at_++]; }

  static std::unique_ptr<Node> join(Node::Type type, std::unique_ptr<Node> l,
                                    std::unique_ptr<Node> r) {
    auto n = std::make_unique<Node>();
    n->type = type;
    n->left = std::move(l);
    n->right = std::move(r);
    return n;
  }

  std::unique_ptr<Node> orExpr() {
    auto node = andExpr();
    while (peek().kind == Tok::kOr) {
      next();
      node = join(Node::Type::kOr, std::move(node), andExpr());
    }
    return node;
  }
  std::unique_ptr<Node> andExpr() {
    auto node = notExpr();
    while (peek().kind == Tok::kAnd) {
      next();
      node = join(Node::Type::kAnd, std::move(node), notExpr());
    }
    return node;
  }
  std::unique_ptr<Node> notExpr() {
    if (peek().kind == Tok::kNot) {
      next();
      return join(Node::Type::kNot, notExpr(), nullptr);
    }
    return primary();
  }
  std::unique_ptr<Node> primary() {
    const Token& t = peek();
    if (t.kind == Tok::kOpen) {
      next();
      auto node = orExpr();
      if (peek().kind != Tok::kClose) {
        throw FilterError(t.pos, 1, "this '(' is never closed");
      }
      next();
      return node;
    }
    if (t.kind == Tok::kName) return comparison();
    if (t.kind == Tok::kEnd) throw FilterError(t.pos, 0, "the filter ends where a field was expected");
    throw FilterError(t.pos, t.len, "expected a field's name, found '" + t.text + "'");
  }

  std::unique_ptr<Node> comparison() {
    const Token& name = next();
    auto node = std::make_unique<Node>();
    node->path = bind(name);
    const Token& opToken = peek();
    if (opToken.kind != Tok::kOp) {
      // A Bool field alone tests itself.
      if (node->path.kind == Kind::kBool && node->path.meta == Meta::kNone) {
        node->op = Op::kEq;
        node->literal.boolean = true;
        return node;
      }
      throw FilterError(opToken.pos, opToken.len,
                        "expected an operator (= != < <= > >= ~ !~) after '" + name.text + "'");
    }
    next();
    static const std::pair<const char*, Op> ops[] = {
        {"=", Op::kEq}, {"==", Op::kEq}, {"!=", Op::kNe}, {"<", Op::kLt}, {"<=", Op::kLe},
        {">", Op::kGt}, {">=", Op::kGe}, {"~", Op::kHas}, {"!~", Op::kHasNot}};
    bool known = false;
    for (auto& [text, op] : ops) {
      if (opToken.text == text) {
        node->op = op;
        known = true;
      }
    }
    if (!known) throw FilterError(opToken.pos, opToken.len, "'" + opToken.text + "' is no operator");
    checkOp(name, opToken, node->path, node->op);
    const Token& value = next();
    node->literal = literal(name, value, node->path);
    return node;
  }

  Path bind(const Token& name) {
    Path path;
    static const std::pair<const char*, Meta> metas[] = {{"id", Meta::kId},
                                                         {"revision", Meta::kRevision},
                                                         {"state", Meta::kState},
                                                         {"lifecycle", Meta::kLifecycle},
                                                         {"author", Meta::kAuthor}};
    capnp::StructSchema at = schema_;
    std::size_t start = 0;
    std::string_view text = name.text;
    std::optional<capnp::Type> leaf;
    std::string_view refTree;
    while (true) {
      std::size_t dot = text.find('.', start);
      std::string part(text.substr(start, dot == std::string_view::npos ? text.npos : dot - start));
      if (part.empty()) throw FilterError(name.pos, name.len, "'" + name.text + "' is no field's name");
      if (leaf) {
        if (!leaf->isStruct()) {
          throw FilterError(name.pos, name.len,
                            "'" + std::string(text.substr(0, start - 1)) + "' is " +
                                typeName(*leaf) + ", which has no fields");
        }
        at = leaf->asStruct();
      }
      KJ_IF_MAYBE (field, at.findFieldByName(part)) {
        path.fields.push_back(*field);
        leaf = field->getType();
        if (!isRefType(*leaf)) refTree = refTarget(*field);
      } else {
        if (path.fields.empty()) {
          for (auto& [metaName, meta] : metas) {
            if (part == metaName && dot == std::string_view::npos) {
              path.meta = meta;
              path.kind = meta == Meta::kAuthor  ? Kind::kText
                          : meta == Meta::kState ? Kind::kEnum
                                                 : Kind::kUnsigned;
              return path;
            }
          }
        }
        std::string where = path.fields.empty()
                                ? "the records"
                                : "'" + std::string(text.substr(0, start - 1)) + "'";
        throw FilterError(name.pos, name.len,
                          "no field '" + part + "' in " + where + "; its fields: " + fieldList(at) +
                              (path.fields.empty() ? ", and id, revision, state, lifecycle, author"
                                                   : ""));
      }
      if (dot == std::string_view::npos) break;
      start = dot + 1;
    }
    capnp::Type type = *leaf;
    if (type.isList()) {
      path.list = true;
      type = type.asList().getElementType();
    }
    bool ok = false;
    path.kind = kindOf(type, ok);
    if (!ok) {
      std::string what = typeName(*leaf, refTree);
      if (type.isStruct() && !path.list) {
        std::string fields;
        for (auto f : type.asStruct().getFields()) {
          fields += (fields.empty() ? "" : ", ") + name.text + "." + f.getProto().getName().cStr();
        }
        throw FilterError(name.pos, name.len,
                          "'" + name.text + "' is " + what + ": name one of its fields (" + fields + ")");
      }
      throw FilterError(name.pos, name.len, "'" + name.text + "' is " + what + ", which a filter cannot compare");
    }
    return path;
  }

  std::string describe(const Path& path, const Token& name) const {
    if (path.meta != Meta::kNone) return "'" + name.text + "'";
    return "'" + name.text + "' (" + typeName(path.fields.back().getType()) + ")";
  }

  void checkOp(const Token& name, const Token& opToken, const Path& path, Op op) {
    bool ordered = op == Op::kLt || op == Op::kLe || op == Op::kGt || op == Op::kGe;
    bool contains = op == Op::kHas || op == Op::kHasNot;
    bool number = path.kind == Kind::kSigned || path.kind == Kind::kUnsigned ||
                  path.kind == Kind::kFloat || path.kind == Kind::kRef;
    if (contains && path.kind != Kind::kText) {
      throw FilterError(opToken.pos, opToken.len,
                        "'" + opName(op) + "' looks for text, and " + describe(path, name) + " is not text");
    }
    if (ordered && !(number || path.kind == Kind::kText)) {
      throw FilterError(opToken.pos, opToken.len,
                        "'" + opName(op) + "' orders numbers and text; " + describe(path, name) +
                            " can only be compared with = or !=");
    }
  }

  Literal literal(const Token& name, const Token& value, const Path& path) {
    Literal lit;
    auto refuse = [&](const std::string& want) -> Literal {
      std::string found = value.kind == Tok::kEnd ? "the end of the filter" : "'" + value.text + "'";
      throw FilterError(value.pos, value.len, describe(path, name) + " needs " + want + ", not " + found);
    };
    switch (path.kind) {
      case Kind::kSigned:
      case Kind::kUnsigned:
      case Kind::kFloat:
      case Kind::kRef: {
        if (value.kind != Tok::kNumber) return refuse("a number");
        const char* b = value.text.data();
        const char* e = b + value.text.size();
        if (*b == '+') ++b;
        auto [end, ec] = std::from_chars(b, e, lit.number);
        if (ec != std::errc() || end != e) {
          throw FilterError(value.pos, value.len, "'" + value.text + "' is not a number");
        }
        long long whole = 0;
        auto [iend, iec] = std::from_chars(b, e, whole);
        if (iec == std::errc() && iend == e) {
          lit.integer = whole;
        } else {
          unsigned long long big = 0;
          auto [uend, uec] = std::from_chars(b, e, big);
          if (uec == std::errc() && uend == e) lit.integer = static_cast<__int128>(big);
        }
        return lit;
      }
      case Kind::kText:
        if (value.kind != Tok::kString) {
          if (value.kind == Tok::kName || value.kind == Tok::kNumber) {
            return refuse("text in quotes (\"" + value.text + "\")");
          }
          return refuse("text in quotes");
        }
        lit.text = value.text;
        return lit;
      case Kind::kBool:
        if (value.kind != Tok::kName || (value.text != "true" && value.text != "false")) {
          return refuse("true or false");
        }
        lit.boolean = value.text == "true";
        return lit;
      case Kind::kEnum: {
        if (value.kind != Tok::kName && value.kind != Tok::kString) return refuse("a name");
        if (path.meta == Meta::kState) {
          if (value.text != "draft" && value.text != "released") return refuse("draft or released");
          lit.enumerant = value.text == "released" ? 1 : 0;
          return lit;
        }
        auto type = path.fields.back().getType();
        auto schema = (type.isList() ? type.asList().getElementType() : type).asEnum();
        KJ_IF_MAYBE (e, schema.findEnumerantByName(value.text)) {
          lit.enumerant = e->getOrdinal();
          return lit;
        }
        std::string names;
        for (auto e : schema.getEnumerants()) {
          names += (names.empty() ? "" : ", ") + std::string(e.getProto().getName().cStr());
        }
        throw FilterError(value.pos, value.len,
                          "'" + value.text + "' is no value of " + describe(path, name) + ": " + names);
      }
    }
    return lit;
  }

  std::vector<Token> tokens_;
  std::size_t at_ = 0;
  capnp::StructSchema schema_;
};

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
      if (n.op == Op::kHas) return containsFolded(text, lower(n.literal.text));
      if (n.op == Op::kHasNot) return !containsFolded(text, lower(n.literal.text));
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
      if (n.op == Op::kHas) return containsFolded(author, lower(n.literal.text));
      if (n.op == Op::kHasNot) return !containsFolded(author, lower(n.literal.text));
      return ordered(n.op, std::string_view(author), std::string_view(n.literal.text));
    }
    case Meta::kNone:
      break;
  }
  return false;
}

bool compare(const Node& n, const StoredRecord& rec, capnp::DynamicStruct::Reader body) {
  if (n.path.meta != Meta::kNone) return compareMeta(n, rec);
  capnp::DynamicStruct::Reader s = body;
  const auto& fields = n.path.fields;
  for (std::size_t i = 0; i + 1 < fields.size(); ++i) {
    if (!isActive(s, fields[i])) return false;
    s = s.get(fields[i]).as<capnp::DynamicStruct>();
  }
  if (!isActive(s, fields.back())) return false;
  auto v = s.get(fields.back());
  if (!n.path.list) return compareValue(n, v);
  for (auto element : v.as<capnp::DynamicList>()) {
    if (compareValue(n, element)) return true;
  }
  return false;
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
    : expression_(expression), schema_(schema), root_(Parser(expression, schema).parse()) {}
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
