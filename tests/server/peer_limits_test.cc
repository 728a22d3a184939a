// What the sync server keeps per source, and its log's rate limit
// (server/src/peer_limits.cc), on times given by the test.
#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "peer_limits.h"

using hills::server::LogLimiter;
using hills::server::Sources;

namespace {

kj::TimePoint at(int ms) { return kj::origin<kj::TimePoint>() + ms * kj::MILLISECONDS; }

}  // namespace

TEST_CASE("the log writes a burst per source and kind, then one line for the rest",
          "[server][limits][log]") {
  std::vector<std::string> lines;
  LogLimiter limit([&](std::string_view l) { lines.emplace_back(l); }, 3, 10 * kj::SECONDS);
  for (int i = 0; i < 3413 + 3; ++i) limit.line(at(i), "10.0.0.7", "refused hello", "refused");
  limit.line(at(5), "10.0.0.8", "refused hello", "other source");
  limit.line(at(5), "10.0.0.7", "too many connections", "other kind");
  CHECK(lines == std::vector<std::string>{"refused", "refused", "refused", "other source",
                                          "other kind"});

  // Nothing more until the window ends; then the count, once.
  CHECK(limit.flush(at(9'999)));
  CHECK(lines.size() == 5);
  CHECK_FALSE(limit.flush(at(10'005)));
  REQUIRE(lines.size() == 6);
  CHECK(lines.back() ==
        "... and 3,413 more like it (refused hello) from 10.0.0.7 in the last 10 s");

  // A new window writes again.
  limit.line(at(20'000), "10.0.0.7", "refused hello", "again");
  CHECK(lines.back() == "again");
}

TEST_CASE("a line after its window ended writes the window's summary first",
          "[server][limits][log]") {
  std::vector<std::string> lines;
  LogLimiter limit([&](std::string_view l) { lines.emplace_back(l); }, 1, 500 * kj::MILLISECONDS);
  limit.line(at(0), "s", "k", "first");
  limit.line(at(1), "s", "k", "dropped");
  limit.line(at(600), "s", "k", "next");
  CHECK(lines == std::vector<std::string>{
                     "first", "... and 1 more like it (k) from s in the last 500 ms", "next"});
}

TEST_CASE("failed hellos of a source delay its next answers, doubling up to the cap",
          "[server][limits][hello]") {
  Sources sources(100 * kj::MILLISECONDS, 400 * kj::MILLISECONDS, 60 * kj::SECONDS);
  CHECK(sources.answerAt("a", at(0)) == at(0));
  // Failures answered in line: 100, 200, 400, 400 ms apart.
  std::vector<int> delays;
  kj::TimePoint when = at(0);
  for (int i = 0; i < 4; ++i) {
    when = sources.answerAt("a", at(0));
    delays.push_back(static_cast<int>(sources.failed("a", when) / kj::MILLISECONDS));
  }
  CHECK(delays == std::vector<int>{100, 200, 400, 400});
  CHECK(when == at(700));
  CHECK(sources.answerAt("a", at(0)) == at(1100));
  // Another source is not slowed.
  CHECK(sources.answerAt("b", at(5)) == at(5));
  // A quiet minute: forgotten.
  CHECK(sources.answerAt("a", at(61'000)) == at(61'000));
  CHECK(sources.failed("a", at(61'000)) == 100 * kj::MILLISECONDS);
}

TEST_CASE("sources count their open connections and are forgotten when idle",
          "[server][limits][connections]") {
  Sources sources(100 * kj::MILLISECONDS, 400 * kj::MILLISECONDS, 60 * kj::SECONDS);
  sources.opened("a");
  sources.opened("a");
  sources.opened("b");
  CHECK(sources.connections("a") == 2);
  CHECK(sources.connections("c") == 0);
  sources.closed("a", at(0));
  CHECK(sources.connections("a") == 1);
  sources.closed("b", at(0));
  sources.closed("a", at(0));
  CHECK(sources.size() == 0);
  // A source with failures is kept after its last connection, for a while.
  sources.opened("c");
  sources.failed("c", at(0));
  sources.closed("c", at(10));
  CHECK(sources.size() == 1);
  CHECK(sources.answerAt("c", at(10)) == at(100));
}

TEST_CASE("datagram answers are limited per source and in all, with bounded sources",
          "[server][limits][discovery]") {
  hills::server::ReplyLimiter limiter(3, 5, 2, 1 * kj::SECONDS);
  // Three for a, then no more in this window.
  CHECK(limiter.allow(at(0), "a"));
  CHECK(limiter.allow(at(1), "a"));
  CHECK(limiter.allow(at(2), "a"));
  CHECK_FALSE(limiter.allow(at(3), "a"));
  // b has its own three, until the total of five is reached.
  CHECK(limiter.allow(at(4), "b"));
  CHECK(limiter.allow(at(5), "b"));
  CHECK_FALSE(limiter.allow(at(6), "b"));
  CHECK_FALSE(limiter.allow(at(7), "c"));
  // A new window: a and b may again; c cannot be remembered beside them
  // until their windows end.
  CHECK(limiter.allow(at(1000), "a"));
  CHECK(limiter.allow(at(1001), "b"));
  CHECK_FALSE(limiter.allow(at(1002), "c"));
  CHECK(limiter.size() == 2);
  CHECK(limiter.allow(at(2001), "c"));
  CHECK(limiter.size() <= 2);
}
