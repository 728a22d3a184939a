// The sync server's metrics and health: what it counts, and the Prometheus
// text exposition format they are served in (http_endpoint.cc).
#include "metrics.h"

#include <algorithm>
#include <charconv>

#include "compaction.h"
#include "hills/inspect.h"
#include "server_impl.h"

namespace hills {

void MetricHistogram::observe(double value) {
  auto bucket = std::lower_bound(bounds.begin(), bounds.end(), value) - bounds.begin();
  ++counts[static_cast<std::size_t>(bucket)];
  sum += value;
  ++count;
}

namespace server {

Counters::Counters()
    // Most batches hold a few requests; a busy line of machines, hundreds.
    : requestsPerCommit({1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024}),
      // A durable commit costs an fsync or two: a millisecond on an SSD,
      // tens on a disk that is busy or failing.
      commitSeconds({0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10}) {
}

kj::Promise<std::size_t> CountingStream::tryRead(void* buffer, std::size_t minBytes,
                                                 std::size_t maxBytes) {
  return inner_->tryRead(buffer, minBytes, maxBytes).then([&received = received_](std::size_t n) {
    received += n;
    return n;
  });
}

// Bytes written are counted when handed over: a write that fails counts
// too, which a byte counter of a connection may do.
kj::Promise<void> CountingStream::write(const void* buffer, std::size_t size) {
  sent_ += size;
  return inner_->write(buffer, size);
}

kj::Promise<void> CountingStream::write(kj::ArrayPtr<const kj::ArrayPtr<const kj::byte>> pieces) {
  for (auto piece : pieces) sent_ += piece.size();
  return inner_->write(pieces);
}

namespace {

// Shortest text that reads back as `value`, without an exponent.
std::string number(double value) {
  char text[64];
  auto end = std::to_chars(text, text + sizeof(text), value, std::chars_format::fixed).ptr;
  return std::string(text, end);
}

// One metric family after another, each with its HELP and TYPE lines.
class Exposition {
 public:
  void family(std::string_view name, std::string_view type, std::string_view help) {
    out_ += "# HELP ";
    out_ += name;
    out_ += ' ';
    out_ += help;
    out_ += "\n# TYPE ";
    out_ += name;
    out_ += ' ';
    out_ += type;
    out_ += '\n';
  }
  void sample(std::string_view name, std::string_view labels, std::string_view value) {
    out_ += name;
    if (!labels.empty()) {
      out_ += '{';
      out_ += labels;
      out_ += '}';
    }
    out_ += ' ';
    out_ += value;
    out_ += '\n';
  }
  void single(std::string_view name, std::string_view type, std::string_view help,
              std::uint64_t value) {
    family(name, type, help);
    sample(name, {}, std::to_string(value));
  }
  void histogram(std::string_view name, std::string_view help, const MetricHistogram& h) {
    family(name, "histogram", help);
    std::string bucket = std::string(name) + "_bucket";
    std::uint64_t cumulative = 0;
    for (std::size_t i = 0; i < h.bounds.size(); ++i) {
      cumulative += h.counts[i];
      sample(bucket, "le=\"" + number(h.bounds[i]) + "\"", std::to_string(cumulative));
    }
    sample(bucket, "le=\"+Inf\"", std::to_string(h.count));
    sample(std::string(name) + "_sum", {}, number(h.sum));
    sample(std::string(name) + "_count", {}, std::to_string(h.count));
  }
  std::string take() { return std::move(out_); }

 private:
  std::string out_;
};

}  // namespace

}  // namespace server

std::string prometheusText(const ServerMetrics& m) {
  server::Exposition out;
  out.single("hills_connections", "gauge", "Connections open, with or without a session.",
             m.connections);
  out.single("hills_sessions", "gauge",
             "Connected clients: connections that opened a session with a valid hello.",
             m.sessions);
  out.single("hills_sessions_opened_total", "counter", "Sessions opened (valid hellos answered).",
             m.sessionsOpened);
  out.family("hills_sessions_refused_total", "counter",
             "Hellos and connections that did not become a session, by reason.");
  for (const auto& [reason, count] : m.sessionsRefused) {
    out.sample("hills_sessions_refused_total", "reason=\"" + reason + "\"", std::to_string(count));
  }
  out.single("hills_sessions_closed_by_reload_total", "counter",
             "Sessions closed by a configuration reload (client removed, token changed, read "
             "permission withdrawn).",
             m.sessionsClosedByReload);
  out.single("hills_write_requests_total", "counter",
             "Write requests (ids, push, check-out, release, ...) carried by durable commits.",
             m.writeRequests);
  out.single("hills_commits_total", "counter", "Durable commits of the server's database.",
             m.commits);
  out.single("hills_commit_failures_total", "counter",
             "Write transactions that failed as a whole (disk, map size).", m.commitFailures);
  out.histogram("hills_commit_requests", "Write requests grouped into one durable commit.",
                m.requestsPerCommit);
  out.histogram("hills_commit_duration_seconds",
                "Time a batch of write requests took on the writer thread, to durable.",
                m.commitSeconds);
  out.single("hills_log_sequence", "gauge", "Sequence number of the newest change-log entry.",
             m.logSequence);
  out.single("hills_log_entries", "gauge", "Entries in the change log.", m.logEntries);
  out.single("hills_log_bytes", "gauge", "Bytes of the change log's pages in the database.",
             m.logBytes);
  out.single("hills_log_dropped_total", "counter",
             "Change-log entries compaction dropped (superseded and past the retention).",
             m.logDropped);
  out.single("hills_log_compaction_pending", "gauge",
             "Change-log entries compaction has not read yet (0 with compaction off).",
             m.logCompactionPending);
  out.single("hills_subscribers", "gauge", "Live subscriptions to the change log.", m.subscribers);
  out.single("hills_subscriber_lag_max", "gauge",
             "Change-log entries committed that the furthest-behind subscriber has not applied.",
             m.subscriberLagMax);
  out.single("hills_subscriber_lag_sum", "gauge",
             "Change-log entries committed and not yet applied, summed over subscribers.",
             m.subscriberLagSum);
  out.single("hills_borrows", "gauge", "Borrows (check-outs) held.", m.borrows);
  out.single("hills_received_bytes_total", "counter", "Bytes received on sync connections.",
             m.bytesReceived);
  out.single("hills_sent_bytes_total", "counter", "Bytes sent on sync connections.", m.bytesSent);
  out.family("hills_config_reloads_total", "counter",
             "Configuration reloads (SIGHUP), applied or failed (the old configuration stays).");
  out.sample("hills_config_reloads_total", "result=\"applied\"", std::to_string(m.reloads));
  out.sample("hills_config_reloads_total", "result=\"failed\"", std::to_string(m.reloadFailures));
  return out.take();
}

std::uint64_t logCompactionPending(const ReadTxn& txn) {
  std::uint64_t last = txn.lastSequence(), indexed = server::logIndexed(txn);
  return last > indexed ? last - indexed : 0;
}

ServerMetrics SyncServer::metrics() const {
  const Impl& s = *impl_;
  const server::Counters& c = s.counters;
  ServerMetrics m;
  m.connections = s.connections.size();
  for (const auto& entry : s.connections) m.sessions += entry.second->state->authenticated;
  m.sessionsOpened = c.sessionsOpened;
  for (std::size_t i = 0; i < server::kRefusedReasons; ++i) {
    m.sessionsRefused[server::kRefusedNames[i]] = c.refused[i];
  }
  m.sessionsClosedByReload = c.closedByReload;
  m.writeRequests = s.requests;
  m.commits = s.commits;
  m.commitFailures = c.commitFailures;
  m.requestsPerCommit = c.requestsPerCommit;
  m.commitSeconds = c.commitSeconds;
  m.logSequence = s.lastSequence;
  for (const auto& sub : s.subscribers()) {
    std::uint64_t lag = s.lastSequence > sub->applied ? s.lastSequence - sub->applied : 0;
    ++m.subscribers;
    m.subscriberLagMax = std::max(m.subscriberLagMax, lag);
    m.subscriberLagSum += lag;
  }
  m.bytesReceived = c.bytesReceived;
  m.bytesSent = c.bytesSent;
  m.reloads = c.reloads;
  m.reloadFailures = c.reloadFailures;
  m.logDropped = s.logDropped;
  // LMDB keeps the count and pages of each table: a scrape reads no entry.
  s.db.read([&](const ReadTxn& txn) {
    for (const auto& table : tableStats(txn)) {
      if (table.name != "_log") continue;
      m.logEntries = table.entries;
      m.logBytes = table.bytes;
    }
    m.borrows = txn.table(protocol::kBorrowTable).size();
    if (s.config.compactLog) m.logCompactionPending = logCompactionPending(txn);
  });
  return m;
}

ServerHealth SyncServer::health() const {
  const Impl& s = *impl_;
  constexpr auto kStuckCommit = std::chrono::seconds(30);
  if (s.shuttingDown) return {false, "shutting down"};
  if (!s.listening) return {false, "not accepting connections"};
  if (s.acceptFailing) return {false, "accepting connections fails (out of descriptors?)"};
  if (!s.lastCommitFailure.empty())
    return {false, "the last commit failed: " + s.lastCommitFailure};
  if (s.commitStarted) {
    auto waited = std::chrono::steady_clock::now() - *s.commitStarted;
    if (waited > kStuckCommit) {
      return {false,
              "a commit has waited for the disk for " +
                  std::to_string(std::chrono::duration_cast<std::chrono::seconds>(waited).count()) +
                  " s"};
    }
  }
  std::uint64_t last = 0;
  try {
    last = s.db.read([](const ReadTxn& txn) { return txn.lastSequence(); });
  } catch (const std::exception& e) {
    return {false, std::string("the database cannot be read: ") + e.what()};
  }
  std::uint64_t sessions = 0;
  for (const auto& entry : s.connections) sessions += entry.second->state->authenticated;
  return {true, "serving " + std::to_string(sessions) + " sessions; change log at " +
                    std::to_string(last)};
}

}  // namespace hills
