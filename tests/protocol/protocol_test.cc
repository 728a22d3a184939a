// Errors and keys as they cross the wire between client and server.
#include "hills/protocol.h"

#include <capnp/message.h>

#include <catch2/catch.hpp>
#include <set>

using hills::Error;
using hills::ErrorCode;
namespace protocol = hills::protocol;

namespace {

std::vector<ErrorCode> everyCode() {
  std::vector<ErrorCode> out;
  for (int c = 0; c <= static_cast<int>(ErrorCode::kProtocol); ++c) {
    out.push_back(static_cast<ErrorCode>(c));
  }
  return out;
}

}  // namespace

TEST_CASE("every error code has its own wire code and comes back as itself",
          "[protocol][errors]") {
  std::set<hills::sync::ErrorCode> wire;
  for (auto code : everyCode()) {
    auto w = protocol::wireCode(code);
    CHECK(w != hills::sync::ErrorCode::UNKNOWN);
    CHECK(wire.insert(w).second);
    CHECK(protocol::codeOf(w) == code);
  }
}

TEST_CASE("the wire codes are the protocol's numbers, not the C++ enum's order",
          "[protocol][errors]") {
  // A reordered hills::ErrorCode must not renumber the wire: these numbers
  // are what clients of other builds read.
  CHECK(static_cast<unsigned>(protocol::wireCode(ErrorCode::kNotFound)) == 1);
  CHECK(static_cast<unsigned>(protocol::wireCode(ErrorCode::kBorrowed)) == 18);
  CHECK(static_cast<unsigned>(protocol::wireCode(ErrorCode::kDenied)) == 21);
  CHECK(static_cast<unsigned>(protocol::wireCode(ErrorCode::kProtocol)) == 24);
  CHECK(protocol::codeOf(static_cast<hills::sync::ErrorCode>(200)) == ErrorCode::kProtocol);
}

TEST_CASE("an Error crosses as an exception and is raised again with its code and message",
          "[protocol][errors]") {
  for (auto code : everyCode()) {
    Error original(code, "parts(7, 0): something: with colons, and 'quotes'");
    auto e = protocol::toException(original);
    CHECK(protocol::carriesError(e));
    Error back = protocol::toError(e);
    CHECK(back.code() == code);
    CHECK(std::string(back.what()) == original.what());
  }
}

TEST_CASE("the message may say anything: the code is read from the wire code alone",
          "[protocol][errors]") {
  // A message that reads like another code's name changes nothing.
  Error original(ErrorCode::kStaleBorrow, "not found: borrowed: denied");
  Error back = protocol::toError(protocol::toException(original));
  CHECK(back.code() == ErrorCode::kStaleBorrow);
  // The RPC layer may put its own words in front.
  auto e = protocol::toException(Error(ErrorCode::kDenied, "no"));
  kj::Exception wrapped(kj::Exception::Type::FAILED, __FILE__, __LINE__,
                        kj::str("remote exception: ", e.getDescription()));
  CHECK(protocol::toError(wrapped).code() == ErrorCode::kDenied);
}

TEST_CASE("exceptions that carry no hills error are a lost connection or a protocol error",
          "[protocol][errors]") {
  kj::Exception lost(kj::Exception::Type::DISCONNECTED, __FILE__, __LINE__,
                     kj::heapString("connection reset"));
  CHECK_FALSE(protocol::carriesError(lost));
  CHECK(protocol::toError(lost).code() == ErrorCode::kOffline);
  kj::Exception other(kj::Exception::Type::FAILED, __FILE__, __LINE__,
                      kj::heapString("hills error x: not a number"));
  CHECK(protocol::toError(other).code() == ErrorCode::kProtocol);
}

TEST_CASE("an outcome is done or refused with a code a program reads", "[protocol][outcome]") {
  capnp::MallocMessageBuilder msg;
  auto done = msg.initRoot<hills::sync::Outcome>();
  protocol::setOutcome(done, 42, std::nullopt);
  CHECK_FALSE(protocol::refusal(done.asReader()));
  CHECK(done.getSequence() == 42);
  CHECK_NOTHROW(protocol::check(done.asReader()));

  capnp::MallocMessageBuilder msg2;
  auto refused = msg2.initRoot<hills::sync::Outcome>();
  protocol::setOutcome(refused, 42, Error(ErrorCode::kBorrowed, "parts(1, 0) is checked out to 'A'"));
  CHECK(protocol::refusal(refused.asReader()) == ErrorCode::kBorrowed);
  CHECK(refused.getSequence() == 0);
  try {
    protocol::check(refused.asReader());
    FAIL("a refused outcome must throw");
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::kBorrowed);
    CHECK(std::string(e.what()) == "parts(1, 0) is checked out to 'A'");
  }
}

TEST_CASE("keys and borrows cross the wire unchanged", "[protocol][keys]") {
  capnp::MallocMessageBuilder msg;
  auto b = msg.initRoot<hills::sync::Borrow>();
  hills::BorrowInfo borrow{hills::OpaqueKey{"parts", 1ull << 40, 3}, "line-3", 17,
                           protocol::fromNanos(1700000000123456789LL), false};
  protocol::setBorrow(b, borrow);
  auto back = protocol::borrowOf(b.asReader());
  CHECK(back.key == borrow.key);
  CHECK(back.holder == "line-3");
  CHECK(back.fencing == 17);
  CHECK(protocol::toNanos(back.since) == 1700000000123456789LL);
}

TEST_CASE("an entry supersedes the earlier entries of its record's history, never a broken borrow",
          "[protocol][log]") {
  using hills::sync::History;
  using hills::wire::ChangeKind;
  auto kind = [](auto k) { return static_cast<std::uint16_t>(k); };
  const std::uint16_t borrowed = hills::sync::BORROWED_KIND,
                      checkedIn = hills::sync::CHECKED_IN_KIND,
                      broken = hills::sync::BORROW_BROKEN_KIND;
  for (auto k : {ChangeKind::CREATED, ChangeKind::UPDATED, ChangeKind::RELEASED,
                 ChangeKind::NEW_REVISION, ChangeKind::LIFECYCLE_CHANGED, ChangeKind::REMOVED}) {
    CHECK(hills::sync::historyOf(kind(k)) == History::kData);
  }
  for (auto k : {borrowed, checkedIn, broken}) CHECK(hills::sync::historyOf(k) == History::kBorrow);
  CHECK(hills::sync::historyOf(900) == History::kNone);

  CHECK(hills::sync::supersedes(kind(ChangeKind::UPDATED), kind(ChangeKind::CREATED)));
  CHECK(hills::sync::supersedes(kind(ChangeKind::REMOVED), kind(ChangeKind::LIFECYCLE_CHANGED)));
  CHECK(hills::sync::supersedes(checkedIn, borrowed));
  CHECK(hills::sync::supersedes(borrowed, checkedIn));
  CHECK_FALSE(hills::sync::supersedes(kind(ChangeKind::UPDATED), borrowed));
  CHECK_FALSE(hills::sync::supersedes(borrowed, kind(ChangeKind::UPDATED)));
  CHECK_FALSE(hills::sync::supersedes(borrowed, broken));
  CHECK_FALSE(hills::sync::supersedes(kind(ChangeKind::UPDATED), broken));
  CHECK_FALSE(hills::sync::supersedes(900, 900));
  CHECK_FALSE(hills::sync::supersedes(kind(ChangeKind::UPDATED), 900));
}
