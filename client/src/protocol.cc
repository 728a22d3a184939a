#include "hills/protocol.h"

namespace hills::protocol {

namespace {
constexpr std::string_view kPrefix = "hills: ";
constexpr ErrorCode kLastCode = ErrorCode::kProtocol;
}  // namespace

ErrorCode codeNamed(std::string_view name) {
  for (int c = 0; c <= static_cast<int>(kLastCode); ++c) {
    if (toString(static_cast<ErrorCode>(c)) == name) return static_cast<ErrorCode>(c);
  }
  return ErrorCode::kProtocol;
}

kj::Exception toException(const Error& error) {
  // "hills: <code>: <message>", read back by toError().
  std::string text =
      std::string(kPrefix) + std::string(toString(error.code())) + ": " + error.what();
  return kj::Exception(kj::Exception::Type::FAILED, __FILE__, __LINE__,
                       kj::heapString(text.data(), text.size()));
}

Error toError(const kj::Exception& e) {
  std::string_view text(e.getDescription().cStr());
  // The RPC layer may put its own words before the remote description.
  auto at = text.find(kPrefix);
  if (at != std::string_view::npos) {
    auto rest = text.substr(at + kPrefix.size());
    auto colon = rest.find(": ");
    if (colon != std::string_view::npos) {
      ErrorCode code = codeNamed(rest.substr(0, colon));
      if (code != ErrorCode::kProtocol || rest.substr(0, colon) == toString(ErrorCode::kProtocol)) {
        return Error(code, std::string(rest.substr(colon + 2)));
      }
    }
  }
  if (e.getType() == kj::Exception::Type::DISCONNECTED) {
    return Error(ErrorCode::kOffline,
                 "the connection to the server was lost: " + std::string(text));
  }
  return Error(ErrorCode::kProtocol, "the server answered with an error: " + std::string(text));
}

void setKey(sync::Key::Builder out, const OpaqueKey& key) {
  out.setTree(key.tree);
  out.setId(key.id);
  out.setRevision(key.revision);
}

OpaqueKey keyOf(sync::Key::Reader key) {
  return OpaqueKey{key.getTree(), key.getId(), key.getRevision()};
}

void check(sync::Outcome::Reader outcome) {
  if (outcome.getError().size() == 0) return;
  throw Error(codeNamed(outcome.getCode().cStr()), outcome.getError().cStr());
}

}  // namespace hills::protocol
