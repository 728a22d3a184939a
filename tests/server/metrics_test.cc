// What the sync server counts (server/src/metrics.cc): SyncServer::metrics()
// as real clients use an in-process server, and the Prometheus text.
#include <capnp/rpc-twoparty.h>
#include <kj/async-io.h>

#include <catch2/catch.hpp>
#include <regex>
#include <set>
#include <sstream>

#include "hills/client.h"
#include "hills/sync.capnp.h"
#include "raw_socket.h"
#include "server_thread.h"
#include "sync_fixtures.h"
#include "temp_dir.h"

using namespace hills::test;
using namespace std::chrono_literals;

namespace {

// A listener that takes the changes it is sent and never says it applied
// them: a subscriber that fell behind.
class StuckListener final : public hills::sync::Listener::Server {
 protected:
  kj::Promise<void> changes(ChangesContext) override { return kj::NEVER_DONE; }
};

// Every sample line of Prometheus text: name{labels} value, where each
// family's HELP and TYPE lines come first.
struct Sample {
  std::string name, labels;
  double value = 0;
};
std::vector<Sample> parseExposition(const std::string& text,
                                    std::map<std::string, std::string>& types) {
  static const std::regex sample(
      R"(^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-zA-Z_][a-zA-Z0-9_]*="[^"\\\n]*")(,[a-zA-Z_][a-zA-Z0-9_]*="[^"\\\n]*")*\})? ([-+]?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?|\+Inf|NaN)$)");
  static const std::regex help(R"(^# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) .+$)");
  static const std::regex type(R"(^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram)$)");
  std::vector<Sample> out;
  std::set<std::string> helped;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    std::smatch m;
    if (std::regex_match(line, m, help)) {
      helped.insert(m[1]);
    } else if (std::regex_match(line, m, type)) {
      INFO(line);
      CHECK(helped.count(m[1]) == 1);
      types[m[1]] = m[2];
    } else {
      INFO(line);
      REQUIRE(std::regex_match(line, m, sample));
      out.push_back({m[1], m[2], std::stod(m[5])});
    }
  }
  return out;
}

}  // namespace

TEST_CASE("a histogram counts each value in the first bucket at or above it", "[server][metrics]") {
  hills::MetricHistogram h({1, 2, 4});
  for (double v : {0.5, 1.0, 1.5, 4.0, 9.0}) h.observe(v);
  CHECK(h.counts == std::vector<std::uint64_t>{2, 1, 1, 1});
  CHECK(h.count == 5);
  CHECK(h.sum == Approx(16.0));
}

TEST_CASE("the metrics read as Prometheus text: a sample per line, after HELP and TYPE",
          "[server][metrics]") {
  hills::ServerMetrics m;
  m.sessions = 3;
  m.sessionsRefused["credentials"] = 7;
  m.sessionsRefused["protocol"] = 0;
  m.commits = 5;
  m.writeRequests = 12;
  m.requestsPerCommit = hills::MetricHistogram({1, 4});
  for (double v : {1.0, 3.0, 3.0, 5.0}) m.requestsPerCommit.observe(v);
  m.commitSeconds = hills::MetricHistogram({0.0005, 0.01});
  m.commitSeconds.observe(0.002);
  m.subscriberLagMax = 40;

  std::map<std::string, std::string> types;
  auto samples = parseExposition(hills::prometheusText(m), types);
  std::map<std::string, double> byName;
  for (const auto& s : samples) byName[s.name + s.labels] = s.value;

  CHECK(byName["hills_sessions"] == 3);
  CHECK(byName["hills_sessions_refused_total{reason=\"credentials\"}"] == 7);
  CHECK(byName["hills_commits_total"] == 5);
  CHECK(byName["hills_write_requests_total"] == 12);
  CHECK(byName["hills_subscriber_lag_max"] == 40);
  // Buckets are cumulative, and +Inf holds them all.
  CHECK(byName["hills_commit_requests_bucket{le=\"1\"}"] == 1);
  CHECK(byName["hills_commit_requests_bucket{le=\"4\"}"] == 3);
  CHECK(byName["hills_commit_requests_bucket{le=\"+Inf\"}"] == 4);
  CHECK(byName["hills_commit_requests_count"] == 4);
  CHECK(byName["hills_commit_requests_sum"] == 12);
  CHECK(byName["hills_commit_duration_seconds_bucket{le=\"0.0005\"}"] == 0);
  CHECK(byName["hills_commit_duration_seconds_bucket{le=\"0.01\"}"] == 1);
  CHECK(byName["hills_commit_duration_seconds_sum"] == Approx(0.002));

  // Counters end in _total; every sample belongs to a family typed above it.
  for (const auto& [name, type] : types) {
    INFO(name);
    if (type == "counter") CHECK(name.size() > 6);
    if (type == "counter") CHECK(name.substr(name.size() - 6) == "_total");
  }
  for (const auto& s : samples) {
    std::string family = std::regex_replace(s.name, std::regex("_(bucket|sum|count)$"), "");
    INFO(s.name);
    CHECK((types.count(s.name) == 1 || types[family] == "histogram"));
  }
}

TEST_CASE("a server's metrics follow its sessions, writes, commits and borrows",
          "[server][metrics]") {
  TempDir dir;
  ServerThread server(dir.sub("server"), plainConfig({"A"}, {"reader"}));
  auto before = server.metrics();
  CHECK(before.sessions == 0);
  CHECK(before.sessionsOpened == 0);
  CHECK(before.commits == 0);
  CHECK(before.sessionsRefused.size() == 9);  // every reason, "trees" the last
  CHECK(before.bytesReceived == 0);

  hills::Client a(dir.sub("a"), clientOptions("A", server.address()));
  REQUIRE(a.waitConnected(10s));
  REQUIRE(hasIds(a));
  std::vector<hills::Key<plm::Part>> keys;
  for (int i = 0; i < 5; ++i) keys.push_back(createPart(a, i));
  REQUIRE(a.sync(10s));

  auto m = server.metrics();
  CHECK(m.connections == 1);
  CHECK(m.sessions == 1);
  CHECK(m.sessionsOpened == 1);
  CHECK(m.commits >= 2);  // the grant, then the push
  CHECK(m.writeRequests >= m.commits);
  CHECK(m.requestsPerCommit.count == m.commits);
  CHECK(m.requestsPerCommit.sum == Approx(static_cast<double>(m.writeRequests)));
  CHECK(m.commitSeconds.count == m.commits);
  CHECK(m.commitSeconds.sum > 0);
  CHECK(m.logSequence >= 5);
  CHECK(m.logEntries == m.logSequence);
  CHECK(m.logBytes > 0);
  CHECK(m.bytesReceived > 0);
  CHECK(m.bytesSent > 0);
  CHECK(m.subscribers == 1);
  CHECK(m.borrows == 0);

  a.checkOut(keys[0]);
  a.checkOut(keys[1]);
  auto held = server.metrics();
  CHECK(held.borrows == 2);
  CHECK(held.commits > m.commits);
  CHECK(held.bytesReceived > m.bytesReceived);
  a.checkIn(keys[0]);
  REQUIRE(a.sync(10s));
  CHECK(server.metrics().borrows == 1);
  // The subscriber has applied everything the log holds.
  REQUIRE(eventually([&] { return server.metrics().subscriberLagMax == 0; }));

  // Counters only grow; the session gauge follows the connection.
  a.connectTo("", "A-token");  // offline
  REQUIRE(eventually([&] { return server.metrics().sessions == 0; }));
  auto after = server.metrics();
  CHECK(after.sessionsOpened == 1);
  CHECK(after.subscribers == 0);
  CHECK(after.commits >= held.commits);
}

TEST_CASE("the metrics count down the log compaction has still to read after a start",
          "[server][metrics][compaction]") {
  TempDir dir;
  constexpr std::uint64_t kEntries = 10000;  // three steps of compaction
  {
    // A log the server did not write: it reads it after it starts.
    auto o = hills::serverDatabaseOptions();
    o.trees = hills::treeTypes<plm::Part, plm::Bom, plm::StockItem>();
    hills::Database db(dir.sub("server"), o);
    db.write([&](hills::WriteTxn& txn) {
      auto parts = txn.tree<plm::Part>();
      for (std::uint64_t i = 0; i < kEntries; ++i) parts.create(makePart(static_cast<int>(i)));
    });
  }
  {
    auto off = plainConfig({"A"});
    off.compactLog = false;
    ServerThread server(dir.sub("server"), off);
    CHECK(server.metrics().logSequence == kEntries);
    CHECK(server.metrics().logCompactionPending == 0);  // nothing will read it
  }
  ServerThread server(dir.sub("server"), plainConfig({"A"}));
  // Its first step waits a second after the start and reads 4,096 entries.
  auto first = server.metrics();
  CHECK(first.logCompactionPending > 0);
  CHECK(first.logCompactionPending <= kEntries);
  REQUIRE(eventually([&] { return server.metrics().logCompactionPending == 0; }, 30s));
  std::map<std::string, std::string> types;
  bool seen = false;
  for (const auto& sample : parseExposition(hills::prometheusText(server.metrics()), types)) {
    if (sample.name != "hills_log_compaction_pending") continue;
    seen = true;
    CHECK(sample.value == 0);
  }
  CHECK(seen);
  CHECK(types["hills_log_compaction_pending"] == "gauge");
}

TEST_CASE("hellos refused are counted by their reason", "[server][metrics]") {
  TempDir dir;
  auto config = plainConfig({"A"}, {"reader"});
  config.helloDelay = 1ms;
  config.helloDelayMax = 5ms;
  ServerThread server(dir.sub("server"), config);

  auto options = clientOptions("A", server.address());
  options.token = "wrong";
  hills::Client bad(dir.sub("bad"), options);
  CHECK(errorOf([&] { bad.waitConnected(10s); }).code() == hills::ErrorCode::kDenied);
  hills::Client nobody(dir.sub("nobody"), clientOptions("nobody", server.address()));
  CHECK(errorOf([&] { nobody.waitConnected(10s); }).code() == hills::ErrorCode::kDenied);

  auto m = server.metrics();
  CHECK(m.sessionsRefused["credentials"] == 2);
  CHECK(m.sessionsRefused["protocol"] == 0);
  CHECK(m.sessionsOpened == 0);
  CHECK(m.sessions == 0);
}

TEST_CASE("a subscriber that does not apply what it is sent shows as lag", "[server][metrics]") {
  TempDir dir;
  auto config = plainConfig({"A"}, {"reader"});
  config.batchChanges = 1;  // one change per message: the stuck one holds two
  ServerThread server(dir.sub("server"), config);
  hills::Client a(dir.sub("a"), clientOptions("A", server.address()));
  REQUIRE(a.waitConnected(10s));
  REQUIRE(hasIds(a));

  // A subscriber on this thread's event loop that never returns a batch.
  auto io = kj::setupAsyncIo();
  auto stream = io.lowLevelProvider->wrapSocketFd(connectFrom(server.port()),
                                                  kj::LowLevelAsyncIoProvider::TAKE_OWNERSHIP);
  capnp::TwoPartyClient rpc(*stream);
  auto hello = rpc.bootstrap().castAs<hills::sync::Gate>().helloRequest();
  hello.initHello().setClient("reader");
  hello.getHello().setToken("reader-token");
  hello.getHello().setProtocol(hills::sync::PROTOCOL_VERSION);
  auto session = hello.send().wait(io.waitScope).getSession();
  auto subscribe = session.subscribeRequest();
  subscribe.setAfter(0);
  subscribe.setListener(kj::heap<StuckListener>());
  auto subscription = subscribe.send().wait(io.waitScope).getSubscription();

  for (int i = 0; i < 6; ++i) createPart(a, i);
  REQUIRE(a.sync(10s));
  // A applies everything; the stuck one nothing.
  REQUIRE(eventually([&] {
    auto m = server.metrics();
    return m.subscribers == 2 && m.subscriberLagMax == m.logSequence &&
           m.subscriberLagSum == m.logSequence;
  }));
  CHECK(server.metrics().subscriberLagMax >= 6);
}
