// Per-source accounting and the log's rate limit.
#include "peer_limits.h"

#include <algorithm>

namespace hills::server {

std::string withThousands(std::uint64_t n) {
  std::string digits = std::to_string(n), out;
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

namespace {

std::string describe(kj::Duration d) {
  if (d % kj::SECONDS == 0 * kj::SECONDS) return std::to_string(d / kj::SECONDS) + " s";
  return std::to_string(d / kj::MILLISECONDS) + " ms";
}

}  // namespace

LogLimiter::LogLimiter(std::function<void(std::string_view)> sink, unsigned burst,
                       kj::Duration window)
    : sink_(std::move(sink)), burst_(burst), window_(window) {}

void LogLimiter::line(kj::TimePoint now, std::string_view source, std::string_view kind,
                      std::string_view text) {
  Key key{std::string(source), std::string(kind)};
  auto it = windows_.find(key);
  if (it != windows_.end() && now - it->second.start >= window_) {
    summarize(it->first, it->second);
    windows_.erase(it);
    it = windows_.end();
  }
  if (it == windows_.end()) it = windows_.emplace(std::move(key), Window{now, 0, 0}).first;
  if (it->second.written < burst_) {
    ++it->second.written;
    sink_(text);
  } else {
    ++it->second.dropped;
  }
}

bool LogLimiter::flush(kj::TimePoint now) {
  for (auto it = windows_.begin(); it != windows_.end();) {
    if (now - it->second.start >= window_) {
      summarize(it->first, it->second);
      it = windows_.erase(it);
    } else {
      ++it;
    }
  }
  return !windows_.empty();
}

void LogLimiter::summarize(const Key& key, const Window& w) {
  if (w.dropped == 0) return;
  sink_("... and " + withThousands(w.dropped) + " more like it (" + key.second + ") from " +
        key.first + " in the last " + describe(window_));
}

Sources::Sources(kj::Duration delay, kj::Duration maxDelay, kj::Duration memory)
    : delay_(delay), maxDelay_(maxDelay), memory_(memory) {}

std::size_t Sources::connections(const std::string& source) const {
  auto it = sources_.find(source);
  return it == sources_.end() ? 0 : it->second.connections;
}

void Sources::opened(const std::string& source) {
  ++sources_[source].connections;
}

void Sources::closed(const std::string& source, kj::TimePoint now) {
  auto it = sources_.find(source);
  if (it == sources_.end()) return;
  if (it->second.connections > 0) --it->second.connections;
  if (it->second.connections == 0 &&
      (it->second.failures == 0 || now - it->second.lastFailure >= memory_)) {
    sources_.erase(it);
  }
}

Sources::Source& Sources::at(const std::string& source, kj::TimePoint now) {
  if (sources_.size() >= sweepAt_) {
    forgetIdle(now);
    sweepAt_ = std::max<std::size_t>(64, 2 * sources_.size());
  }
  Source& s = sources_[source];
  if (s.failures > 0 && now - s.lastFailure >= memory_) s.failures = 0;
  return s;
}

void Sources::forgetIdle(kj::TimePoint now) {
  std::erase_if(sources_, [&](const auto& entry) {
    const Source& s = entry.second;
    return s.connections == 0 && (s.failures == 0 || now - s.lastFailure >= memory_);
  });
}

kj::TimePoint Sources::answerAt(const std::string& source, kj::TimePoint now) {
  return std::max(now, at(source, now).nextAnswer);
}

kj::Duration Sources::failed(const std::string& source, kj::TimePoint when) {
  Source& s = at(source, when);
  ++s.failures;
  kj::Duration d = delay_;
  for (unsigned k = 1; k < s.failures && d < maxDelay_; ++k) d = d * 2;
  d = std::min(d, maxDelay_);
  s.lastFailure = when;
  s.nextAnswer = std::max(s.nextAnswer, when + d);
  return d;
}

ReplyLimiter::ReplyLimiter(unsigned perSource, unsigned total, std::size_t maxSources,
                           kj::Duration window)
    : perSource_(perSource), total_(total), maxSources_(maxSources), window_(window) {}

bool ReplyLimiter::allow(kj::TimePoint now, const std::string& source) {
  if (now - all_.start >= window_) all_ = Window{now, 0};
  if (all_.count >= total_) return false;
  auto it = sources_.find(source);
  if (it == sources_.end()) {
    if (sources_.size() >= maxSources_) {
      std::erase_if(sources_,
                    [&](const auto& entry) { return now - entry.second.start >= window_; });
      if (sources_.size() >= maxSources_) return false;
    }
    it = sources_.emplace(source, Window{now, 0}).first;
  } else if (now - it->second.start >= window_) {
    it->second = Window{now, 0};
  }
  if (it->second.count >= perSource_) return false;
  ++it->second.count;
  ++all_.count;
  return true;
}

}  // namespace hills::server
