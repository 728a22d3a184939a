#include "names.h"

#include <cstdio>
#include <set>

namespace hills::codegen {

namespace {

bool isKeyword(std::string_view name) {
  // capnpc-c++'s list plus the keywords C++20 added: aggregates are C++20.
  static const std::set<std::string_view> keywords = {
      "alignas",   "alignof",      "and",       "and_eq",    "asm",          "auto",       "bitand",
      "bitor",     "bool",         "break",     "case",      "catch",        "char",       "char8_t",
      "char16_t",  "char32_t",     "class",     "compl",     "concept",      "const",      "consteval",
      "constexpr", "constinit",    "const_cast", "continue", "co_await",     "co_return",  "co_yield",
      "decltype",  "default",      "delete",    "do",        "double",       "dynamic_cast", "else",
      "enum",      "explicit",     "export",    "extern",    "false",        "float",      "for",
      "friend",    "goto",         "if",        "inline",    "int",          "long",       "mutable",
      "namespace", "new",          "noexcept",  "not",       "not_eq",       "nullptr",    "operator",
      "or",        "or_eq",        "private",   "protected", "public",       "register",   "reinterpret_cast",
      "requires",  "return",       "short",     "signed",    "sizeof",       "static",     "static_assert",
      "static_cast", "struct",     "switch",    "template",  "this",         "thread_local", "throw",
      "true",      "try",          "typedef",   "typeid",    "typename",     "union",      "unsigned",
      "using",     "virtual",      "void",      "volatile",  "wchar_t",      "while",      "xor",
      "xor_eq"};
  return keywords.count(name) > 0;
}

bool isIdentifier(std::string_view s) {
  if (s.empty()) return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    bool letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
    bool digit = c >= '0' && c <= '9';
    if (!letter && !(digit && i > 0)) return false;
  }
  return true;
}

}  // namespace

std::string safeIdentifier(std::string_view name) {
  std::string out(name);
  if (isKeyword(name)) out += '_';
  return out;
}

std::string titleCase(std::string_view name) {
  std::string out(name);
  if (!out.empty() && out[0] >= 'a' && out[0] <= 'z') out[0] = static_cast<char>(out[0] - 'a' + 'A');
  return out;
}

std::string upperCase(std::string_view name) {
  // Same rule as capnpc-c++: an underscore before each capital, then all caps.
  std::string out;
  for (char c : name) {
    if (c >= 'a' && c <= 'z') {
      out += static_cast<char>(c - 'a' + 'A');
    } else if (!out.empty() && c >= 'A' && c <= 'Z') {
      out += '_';
      out += c;
    } else {
      out += c;
    }
  }
  if (out == "NULL") out += '_';  // NULL is a macro
  return out;
}

std::vector<std::string> splitNamespace(std::string_view ns) {
  if (ns.substr(0, 2) == "::") ns.remove_prefix(2);
  std::vector<std::string> parts;
  while (true) {
    auto sep = ns.find("::");
    std::string_view part = ns.substr(0, sep);
    if (!isIdentifier(part) || isKeyword(part)) return {};
    parts.emplace_back(part);
    if (sep == std::string_view::npos) break;
    ns.remove_prefix(sep + 2);
  }
  return parts;
}

std::string stringLiteral(std::string_view text) {
  std::string out = "\"";
  for (unsigned char c : text) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      case '\r': out += "\\r"; break;
      default:
        if (c < 0x20 || c == 0x7f) {
          // Octal escapes stop after three digits, unlike \x, so a following
          // digit cannot extend them.
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\%03o", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  out += '"';
  return out;
}

std::string stripCapnpExtension(std::string_view path) {
  constexpr std::string_view ext = ".capnp";
  if (path.size() > ext.size() && path.substr(path.size() - ext.size()) == ext) {
    path.remove_suffix(ext.size());
  }
  return std::string(path);
}

std::string baseName(std::string_view path) {
  auto slash = path.rfind('/');
  return std::string(slash == std::string_view::npos ? path : path.substr(slash + 1));
}

std::string hexId(std::uint64_t id) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "0x%016llxull", static_cast<unsigned long long>(id));
  return buf;
}

}  // namespace hills::codegen
