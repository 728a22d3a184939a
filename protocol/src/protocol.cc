#include "hills/protocol.h"

#include <charconv>

namespace hills {

namespace sync {

std::string_view kindName(EventKind kind) {
  if (kind == kBorrowed) return "borrowed";
  if (kind == kCheckedIn) return "checked in";
  if (kind == kBorrowBroken) return "borrow broken";
  return toString(kind);
}

History historyOf(std::uint16_t kind) {
  if (kind <= static_cast<std::uint16_t>(wire::ChangeKind::LIFECYCLE_CHANGED)) return History::kData;
  if (kind == BORROWED_KIND || kind == CHECKED_IN_KIND || kind == BORROW_BROKEN_KIND) {
    return History::kBorrow;
  }
  return History::kNone;
}

bool supersedes(std::uint16_t later, std::uint16_t earlier) {
  History history = historyOf(earlier);
  return history != History::kNone && history == historyOf(later) &&
         earlier != BORROW_BROKEN_KIND;
}

}  // namespace sync

namespace protocol {

namespace {

constexpr std::string_view kPrefix = "hills error ";

// Each ErrorCode with its wire code: the wire's numbers are the protocol,
// whatever order ErrorCode has.
struct CodePair {
  ErrorCode code;
  sync::ErrorCode wire;
};
constexpr CodePair kCodes[] = {
    {ErrorCode::kNotFound, sync::ErrorCode::NOT_FOUND},
    {ErrorCode::kAlreadyExists, sync::ErrorCode::ALREADY_EXISTS},
    {ErrorCode::kWrongTree, sync::ErrorCode::WRONG_TREE},
    {ErrorCode::kReleased, sync::ErrorCode::RELEASED},
    {ErrorCode::kNotReleased, sync::ErrorCode::NOT_RELEASED},
    {ErrorCode::kUnversioned, sync::ErrorCode::UNVERSIONED},
    {ErrorCode::kNotLatest, sync::ErrorCode::NOT_LATEST},
    {ErrorCode::kCorrupt, sync::ErrorCode::CORRUPT},
    {ErrorCode::kSchemaMismatch, sync::ErrorCode::SCHEMA_MISMATCH},
    {ErrorCode::kSchemaVersion, sync::ErrorCode::SCHEMA_VERSION},
    {ErrorCode::kUnknownTree, sync::ErrorCode::UNKNOWN_TREE},
    {ErrorCode::kNoIds, sync::ErrorCode::NO_IDS},
    {ErrorCode::kMapFull, sync::ErrorCode::MAP_FULL},
    {ErrorCode::kAlreadyOpen, sync::ErrorCode::ALREADY_OPEN},
    {ErrorCode::kIo, sync::ErrorCode::IO},
    {ErrorCode::kInvalidArgument, sync::ErrorCode::INVALID_ARGUMENT},
    {ErrorCode::kStorage, sync::ErrorCode::STORAGE},
    {ErrorCode::kBorrowed, sync::ErrorCode::BORROWED},
    {ErrorCode::kNotBorrowed, sync::ErrorCode::NOT_BORROWED},
    {ErrorCode::kStaleBorrow, sync::ErrorCode::STALE_BORROW},
    {ErrorCode::kDenied, sync::ErrorCode::DENIED},
    {ErrorCode::kOffline, sync::ErrorCode::OFFLINE},
    {ErrorCode::kWrongServer, sync::ErrorCode::WRONG_SERVER},
    {ErrorCode::kProtocol, sync::ErrorCode::PROTOCOL},
};

}  // namespace

sync::ErrorCode wireCode(ErrorCode code) {
  for (const auto& c : kCodes) {
    if (c.code == code) return c.wire;
  }
  return sync::ErrorCode::UNKNOWN;
}

ErrorCode codeOf(sync::ErrorCode wire) {
  for (const auto& c : kCodes) {
    if (c.wire == wire) return c.code;
  }
  return ErrorCode::kProtocol;
}

kj::Exception toException(const Error& error) {
  std::string text = std::string(kPrefix) +
                     std::to_string(static_cast<unsigned>(wireCode(error.code()))) + ": " +
                     error.what();
  return kj::Exception(kj::Exception::Type::FAILED, __FILE__, __LINE__,
                       kj::heapString(text.data(), text.size()));
}

Error toError(const kj::Exception& e) {
  std::string_view text(e.getDescription().cStr());
  // The RPC layer may put its own words before the remote description.
  auto at = text.find(kPrefix);
  if (at != std::string_view::npos) {
    auto rest = text.substr(at + kPrefix.size());
    unsigned number = 0;
    auto [end, ec] = std::from_chars(rest.data(), rest.data() + rest.size(), number);
    std::string_view after(end, rest.data() + rest.size() - end);
    if (ec == std::errc() && after.substr(0, 2) == ": ") {
      return Error(codeOf(static_cast<sync::ErrorCode>(number)), std::string(after.substr(2)));
    }
  }
  if (e.getType() == kj::Exception::Type::DISCONNECTED) {
    return Error(ErrorCode::kOffline,
                 "the connection to the server was lost: " + std::string(text));
  }
  return Error(ErrorCode::kProtocol, "the server answered with an error: " + std::string(text));
}

bool carriesError(const kj::Exception& e) {
  return std::string_view(e.getDescription().cStr()).find(kPrefix) != std::string_view::npos;
}

void setOutcome(sync::Outcome::Builder out, std::uint64_t sequence,
                const std::optional<Error>& error) {
  out.setSequence(error ? 0 : sequence);
  if (error) {
    out.setError(error->what());
    out.setCode(wireCode(error->code()));
  }
}

std::optional<ErrorCode> refusal(sync::Outcome::Reader outcome) {
  if (outcome.getError().size() == 0 && outcome.getCode() == sync::ErrorCode::UNKNOWN) {
    return std::nullopt;
  }
  return codeOf(outcome.getCode());
}

void check(sync::Outcome::Reader outcome) {
  if (auto code = refusal(outcome)) throw Error(*code, outcome.getError().cStr());
}

void setKey(sync::Key::Builder out, const OpaqueKey& key) {
  out.setTree(key.tree);
  out.setId(key.id);
  out.setRevision(key.revision);
}

OpaqueKey keyOf(sync::Key::Reader key) {
  return OpaqueKey{key.getTree(), key.getId(), key.getRevision()};
}

std::int64_t toNanos(std::chrono::system_clock::time_point time) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(time.time_since_epoch()).count();
}

std::chrono::system_clock::time_point fromNanos(std::int64_t nanos) {
  return std::chrono::system_clock::time_point(
      std::chrono::duration_cast<std::chrono::system_clock::duration>(
          std::chrono::nanoseconds(nanos)));
}

void setBorrow(sync::Borrow::Builder out, const BorrowInfo& b) {
  setKey(out.initKey(), b.key);
  out.setHolder(b.holder);
  out.setFencing(b.fencing);
  out.setSince(toNanos(b.since));
}

BorrowInfo borrowOf(sync::Borrow::Reader b) {
  return BorrowInfo{keyOf(b.getKey()), b.getHolder().cStr(), b.getFencing(),
                    fromNanos(b.getSince()), false};
}

}  // namespace protocol

}  // namespace hills
