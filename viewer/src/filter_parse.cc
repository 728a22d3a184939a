// The filter language's parser: tokens, then a recursive descent that binds
// every name to the schema as it meets it, so that a mistake is told with
// its place in the text.
#include <cctype>
#include <charconv>

#include "filter.h"
#include "filter_node.h"
#include "hills/ref.h"
#include "value_text.h"

namespace hills::viewer::detail {

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

using Node = FilterNode;


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

  // The type a path steps through: a list's elements (of lists' too).
  static capnp::Type unwrapped(capnp::Type type) {
    while (type.isList()) type = type.asList().getElementType();
    return type;
  }

  // "lines.part, lines.quantity, lines.designators".
  static std::string fieldsOf(const std::string& prefix, capnp::StructSchema s) {
    std::string out;
    for (auto f : s.getFields()) out += (out.empty() ? "" : ", ") + prefix + "." + f.getProto().getName().cStr();
    return out;
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
    std::string_view refTree;
    while (true) {
      std::size_t dot = text.find('.', start);
      std::size_t end = dot == std::string_view::npos ? text.size() : dot;
      std::string part(text.substr(start, end - start));
      // The mistake is the part of the name from here to its end.
      auto refuse = [&](const std::string& message) {
        return FilterError(name.pos + start, name.len - start, message);
      };
      std::string before(text.substr(0, start == 0 ? 0 : start - 1));
      if (part.empty()) throw refuse("'" + name.text + "' is no field's name");
      if (!path.types.empty()) {
        auto inner = unwrapped(path.types.back());
        if (!inner.isStruct()) {
          throw refuse("'" + before + "' is " + typeName(path.types.back(), refTree) +
                       ", which has no fields");
        }
        at = inner.asStruct();
      }
      KJ_IF_MAYBE (field, at.findFieldByName(part)) {
        path.fields.push_back(*field);
        path.types.push_back(field->getType());
        if (!isRefType(unwrapped(path.types.back()))) refTree = refTarget(*field);
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
        std::string where = path.fields.empty() ? "the records" : "'" + before + "'";
        throw FilterError(name.pos + start, part.size(),
                          "no field '" + part + "' in " + where + "; its fields: " + fieldList(at) +
                              (path.fields.empty() ? ", and id, revision, state, lifecycle, author"
                                                   : ""));
      }
      if (dot == std::string_view::npos) break;
      start = dot + 1;
    }
    path.leaf = unwrapped(path.types.back());
    bool ok = false;
    path.kind = kindOf(path.leaf, ok);
    if (!ok) {
      std::string what = typeName(path.types.back(), refTree);
      if (path.leaf.isStruct()) {
        throw FilterError(name.pos, name.len,
                          "'" + name.text + "' is " + what + ": name one of its fields (" +
                              fieldsOf(name.text, path.leaf.asStruct()) + ")");
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
        lit.folded = lower(value.text);
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
        auto schema = path.leaf.asEnum();
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

}  // namespace

std::unique_ptr<FilterNode> parseFilter(std::string_view text, capnp::StructSchema schema) {
  return Parser(text, schema).parse();
}

}  // namespace hills::viewer::detail
