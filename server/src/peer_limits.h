// What the sync server keeps per source (a peer's address without its
// port): open connections and failed hellos, how many of its refusal lines
// reach the log, and how many datagrams it answers.
#pragma once

#include <kj/time.h>

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <utility>

namespace hills::server {

// Writes at most `burst` lines per source and kind in each window of
// `window`; counts the rest, and when the window has ended writes one line
// that says how many were left out:
//   "... and 3,412 more like it (refused hello) from 127.0.0.1 in the last 10 s"
// Not thread-safe (the server's event loop only).
class LogLimiter {
 public:
  LogLimiter(std::function<void(std::string_view)> sink, unsigned burst, kj::Duration window);

  // Writes `text` or counts it against (`source`, `kind`). `kind` names the
  // reason in a few words, without anything a peer chooses (a client name),
  // so a peer cannot make up new kinds to escape the limit.
  void line(kj::TimePoint now, std::string_view source, std::string_view kind,
            std::string_view text);

  // Writes the summary of each window that ended by `now` and forgets it.
  // Returns whether a window is still open (call again once it ends).
  bool flush(kj::TimePoint now);

  kj::Duration window() const { return window_; }

  // Takes new limits (a reload); windows open now keep their start.
  void configure(unsigned burst, kj::Duration window) {
    burst_ = burst;
    window_ = window;
  }

 private:
  struct Window {
    kj::TimePoint start;
    unsigned written = 0;
    std::uint64_t dropped = 0;
  };
  using Key = std::pair<std::string, std::string>;  // source, kind
  void summarize(const Key& key, const Window& w);

  std::function<void(std::string_view)> sink_;
  unsigned burst_;
  kj::Duration window_;
  std::map<Key, Window> windows_;
};

// Open connections and failed hellos per source, and when the next hello
// from a source may be answered. Not thread-safe (the event loop only).
class Sources {
 public:
  // After the k-th failed hello of a source (k from 1), its next hello is
  // answered no sooner than min(delay * 2^(k-1), maxDelay) after the answer
  // to the k-th. Failures are forgotten after `memory` without one.
  Sources(kj::Duration delay, kj::Duration maxDelay, kj::Duration memory);

  // Connections from `source` open now.
  std::size_t connections(const std::string& source) const;
  void opened(const std::string& source);
  void closed(const std::string& source, kj::TimePoint now);

  // When a hello from `source` that arrives at `now` is answered.
  kj::TimePoint answerAt(const std::string& source, kj::TimePoint now);
  // Counts a failed hello of `source` answered at `at`; returns the delay
  // its next hello waits for.
  kj::Duration failed(const std::string& source, kj::TimePoint at);

  // Takes new delays (a reload); the failures counted so far stay, and
  // answers already due keep their time.
  void configure(kj::Duration delay, kj::Duration maxDelay, kj::Duration memory) {
    delay_ = delay;
    maxDelay_ = maxDelay;
    memory_ = memory;
  }

  // Sources known (open connections or failures remembered).
  std::size_t size() const { return sources_.size(); }

 private:
  struct Source {
    std::size_t connections = 0;
    unsigned failures = 0;
    kj::TimePoint lastFailure = kj::origin<kj::TimePoint>();
    kj::TimePoint nextAnswer = kj::origin<kj::TimePoint>();
  };
  Source& at(const std::string& source, kj::TimePoint now);
  void forgetIdle(kj::TimePoint now);

  kj::Duration delay_, maxDelay_, memory_;
  std::map<std::string, Source> sources_;
  std::size_t sweepAt_ = 64;
};

// Answers to datagrams (LAN discovery): at most `perSource` per source in
// each window of `window`, and `total` in all; remembers at most
// `maxSources` sources at a time (a source it cannot remember is not
// answered until a window ends), so a flood of spoofed sources costs
// bounded memory and sends a bounded number of answers. Not thread-safe
// (the event loop only).
class ReplyLimiter {
 public:
  ReplyLimiter(unsigned perSource, unsigned total, std::size_t maxSources, kj::Duration window);

  // Whether `source` may be answered at `now`; counts the answer when it may.
  bool allow(kj::TimePoint now, const std::string& source);

  // Sources remembered now.
  std::size_t size() const { return sources_.size(); }

 private:
  struct Window {
    kj::TimePoint start;
    unsigned count = 0;
  };
  unsigned perSource_, total_;
  std::size_t maxSources_;
  kj::Duration window_;
  Window all_{kj::origin<kj::TimePoint>(), 0};
  std::map<std::string, Window> sources_;
};

// "1,234,567".
std::string withThousands(std::uint64_t n);

}  // namespace hills::server
