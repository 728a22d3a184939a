// What one peer can make a real hills-server hold (server/src/peer_limits.cc,
// server/src/sync_server.cc, server/src/session.cc): descriptors,
// connections and failed hellos per source, log lines, bytes in flight.
// Peers that misbehave connect from 127.0.0.2 and up, so the server counts
// them apart from the well-behaved clients on 127.0.0.1.
#include <capnp/rpc-twoparty.h>
#include <kj/async-io.h>
#include <sys/resource.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <fstream>
#include <memory>
#include <regex>
#include <thread>

#include "hills/client.h"
#include "hills/sync.capnp.h"
#include "plm_fixtures.h"
#include "raw_socket.h"
#include "sanitizers.h"
#include "server_process.h"
#include "sync_fixtures.h"
#include "temp_dir.h"

using namespace hills::test;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

// A configuration with the writers A and B and the given limits (JSON
// members, "" for the defaults).
std::string writeLimitsConfig(const std::string& path, const std::string& limits) {
  std::ofstream out(path);
  out << R"({"clients": [{"name": "A", "token": "A-token", "write": true},
                         {"name": "B", "token": "B-token", "write": true}], "plaintext": true)"
      << (limits.empty() ? "" : ", " + limits) << "}";
  return path;
}

// A client of the server that connects, creates a part and syncs it.
void connectsAndSyncs(const std::string& replica, const std::string& name,
                      const ServerProcess& server) {
  hills::Client client(replica, clientOptions(name, server.address()));
  REQUIRE(client.waitConnected(10s));
  REQUIRE(hasIds(client));
  createPart(client, 1);
  REQUIRE(client.sync(10s));
  CHECK(client.status().outbox == 0);
}

// The answer to a raw hello.
struct HelloAnswer {
  std::optional<hills::sync::Session::Client> session;  // when welcomed
  bool disconnected = false;  // the server closed the connection instead
  std::string error;          // why not welcomed
};

// A Cap'n Proto connection to the server from `source`, on the calling
// thread's event loop.
class RpcPeer {
 public:
  RpcPeer(kj::AsyncIoContext& io, unsigned port, const char* source)
      : stream_(io.lowLevelProvider->wrapSocketFd(connectFrom(port, source),
                                                  kj::LowLevelAsyncIoProvider::TAKE_OWNERSHIP)),
        client_(*stream_),
        gate_(client_.bootstrap().castAs<hills::sync::Gate>()) {}

  kj::Promise<HelloAnswer> hello(const std::string& name, const std::string& token) {
    auto request = gate_.helloRequest();
    auto hello = request.initHello();
    hello.setClient(name);
    hello.setToken(token);
    hello.setProtocol(hills::sync::PROTOCOL_VERSION);
    return request.send().then(
        [](auto&& response) {
          HelloAnswer out;
          out.session = response.getSession();
          return out;
        },
        [](kj::Exception&& e) {
          HelloAnswer out;
          out.disconnected = e.getType() == kj::Exception::Type::DISCONNECTED;
          out.error = e.getDescription().cStr();
          return out;
        });
  }

 private:
  kj::Own<kj::AsyncIoStream> stream_;
  capnp::TwoPartyClient client_;
  hills::sync::Gate::Client gate_;
};

// RssAnon of process `pid` in KiB (0 when it cannot be read).
std::uint64_t rssAnonKiB(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("RssAnon:", 0) == 0) return std::stoull(line.substr(8));
  }
  return 0;
}

}  // namespace

TEST_CASE("a server out of descriptors accepts again once they are free",
          "[integration][limits][descriptors]") {
  if (vptrChecked()) {
    WARN(kSkippedMarker << "hills-server is built with UBSan's vptr check, which cannot run in a "
                           "process out of descriptors (tests/support/sanitizers.h); the "
                           "ThreadSanitizer build runs this case");
    return;
  }
  TempDir dir;
  auto config = writeLimitsConfig(dir.sub("server.json"), R"("acceptRetryMs": 50)");
  ServerProcess server(dir.sub("server"), config, 0, ProcessLimits{64, 128});
  // It took all the descriptors it may, and keeps some for itself.
  CHECK_THAT(server.log(),
             Catch::Contains("open descriptors: at most 128 (raised from 64); maxConnections 96 "
                             "instead of the 1024 configured"));

  hills::Client a(dir.sub("a"), clientOptions("A", server.address()));
  REQUIRE(a.waitConnected(10s));
  REQUIRE(hasIds(a));

  // Its limit drops below what it uses already (as if other files had
  // taken them): it runs out of descriptors for real.
  rlimit low{24, 24};
  REQUIRE(::prlimit(server.pid(), RLIMIT_NOFILE, &low, nullptr) == 0);
  {
    std::vector<std::unique_ptr<RawSocket>> idle;
    for (int i = 0; i < 40; ++i) idle.push_back(std::make_unique<RawSocket>(server.port()));
    REQUIRE(eventually([&] { return server.log().find("Too many open files") != std::string::npos; }));
    // A's session goes on meanwhile.
    createPart(a, 1);
    REQUIRE(a.sync(10s));
  }

  // The idle connections are gone: a new client gets in and syncs.
  connectsAndSyncs(dir.sub("b"), "B", server);
  CHECK(a.status().connected);
  CHECK(a.status().reconnects == 0);
  auto log = server.log();
  CHECK_THAT(log, Catch::Contains("accepting connections failed, trying again in 50 ms"));
  CHECK_THAT(log, !Catch::Contains("stopped accepting connections"));
  // One failure every 50 ms, at most 5 lines of it every 10 s.
  CHECK(occurrences(log, "accepting connections failed") <= 5);
}

TEST_CASE("connections beyond the limit of one source are refused while others connect",
          "[integration][limits][connections]") {
  TempDir dir;
  auto config = writeLimitsConfig(dir.sub("server.json"),
                                  R"("maxConnectionsPerSource": 4, "helloTimeoutMs": 20000)");
  ServerProcess server(dir.sub("server"), config);

  std::vector<std::unique_ptr<RawSocket>> held;
  for (int i = 0; i < 4; ++i) held.push_back(std::make_unique<RawSocket>(server.port(), "127.0.0.3"));
  std::vector<std::unique_ptr<RawSocket>> refused;
  for (int i = 0; i < 20; ++i) {
    refused.push_back(std::make_unique<RawSocket>(server.port(), "127.0.0.3"));
    CHECK(refused.back()->closedByPeer(5s));
  }
  CHECK_FALSE(held.back()->closedByPeer(200ms));

  // Another source is not counted against it.
  connectsAndSyncs(dir.sub("a"), "A", server);

  // One of the four goes; then one more is kept.
  held.pop_back();
  bool kept = false;
  for (int i = 0; i < 50 && !kept; ++i) {
    RawSocket again(server.port(), "127.0.0.3");
    if (!again.closedByPeer(100ms)) {
      kept = true;
      held.push_back(std::make_unique<RawSocket>(server.port(), "127.0.0.3"));
    }
  }
  CHECK(kept);

  auto log = server.log();
  CHECK_THAT(log, Catch::Contains("refused a connection from 127.0.0.3:") &&
                      Catch::Contains(": 4 connections from 127.0.0.3 are open already "
                                      "(maxConnectionsPerSource)"));
  // 20 refused, 5 lines: the rest are counted for the summary.
  CHECK(occurrences(log, "refused a connection from 127.0.0.3") == 5);
}

TEST_CASE("failed hellos slow the next ones from that source and close the connection",
          "[integration][limits][hello]") {
  TempDir dir;
  // Delays of 10, 20, 40, 80, 80... ms; 10 failures close a connection.
  auto config = writeLimitsConfig(
      dir.sub("server.json"),
      R"("helloDelayMs": 10, "helloDelayMaxMs": 80, "maxHelloFailures": 10, "helloTimeoutMs": 20000)");
  ServerProcess server(dir.sub("server"), config);
  const std::vector<int> delayMs = [] {
    std::vector<int> d;
    for (int k = 0; k < 30; ++k) d.push_back(std::min(10 << std::min(k, 4), 80));
    return d;
  }();

  // The attacker: wrong tokens from 127.0.0.2, on three connections in
  // turn, each until the server closes it (at most 20 tries).
  std::atomic<int> refusals{0};
  std::vector<int> perConnection;
  std::vector<double> answeredMs;  // since the first hello was sent
  std::vector<std::string> errors;
  Clock::time_point attackEnd;
  std::thread attacker([&] {
    auto io = kj::setupAsyncIo();
    auto start = Clock::now();
    for (int c = 0; c < 3; ++c) {
      RpcPeer peer(io, server.port(), "127.0.0.2");
      int n = 0;
      for (int i = 0; i < 20; ++i) {
        auto answer = peer.hello("A", "not-A-token").wait(io.waitScope);
        if (answer.disconnected) break;
        if (answer.session) errors.push_back("welcomed with a wrong token");
        if (answer.error.find("with that token") == std::string::npos) errors.push_back(answer.error);
        answeredMs.push_back(std::chrono::duration<double, std::milli>(Clock::now() - start).count());
        ++n;
        ++refusals;
      }
      perConnection.push_back(n);
    }
    attackEnd = Clock::now();
  });

  // B, from 127.0.0.1, is welcomed while the attacker waits.
  REQUIRE(eventually([&] { return refusals >= 3; }));
  std::optional<Clock::time_point> bConnected;
  {
    hills::Client b(dir.sub("b"), clientOptions("B", server.address()));
    if (b.waitConnected(10s)) bConnected = Clock::now();
    CHECK(hasIds(b));
  }
  attacker.join();

  CHECK(errors.empty());
  CHECK(perConnection == std::vector<int>{10, 10, 10});
  CHECK(answeredMs.size() == 30);
  // The k-th answer came no sooner than the delays of the k-1 failures
  // before it: 10 + 20 + 40 + 80 + 80... ms, 2,150 ms for the 30th. Less
  // 10 ms once: the server's event loop reads a coarse clock, which may
  // stand a tick behind this one when the first hello comes.
  int due = 0;
  for (std::size_t k = 0; k < std::min<std::size_t>(answeredMs.size(), 30); ++k) {
    INFO("answer " << k + 1 << " after " << answeredMs[k] << " ms, due at " << due << " ms");
    CHECK(answeredMs[k] >= due - 10);
    due += delayMs[k];
  }
  REQUIRE(bConnected);
  CHECK(*bConnected < attackEnd);
  CHECK_THAT(server.log(), Catch::Contains("client 'B' connected from 127.0.0.1") &&
                               Catch::Contains("after 10 failed hellos (maxHelloFailures)"));
}

TEST_CASE("refusals of one source are rate-limited in the log, with a summary of the rest",
          "[integration][limits][log]") {
  TempDir dir;
  auto config = writeLimitsConfig(
      dir.sub("server.json"),
      R"("helloDelayMs": 1, "helloDelayMaxMs": 1, "maxHelloFailures": 100000, )"
      R"("helloTimeoutMs": 60000, "logWindowMs": 500)");
  ServerProcess server(dir.sub("server"), config);

  // 800 wrong hellos over two connections, each answered before the next.
  constexpr int kRounds = 400;
  int refused = 0;
  auto start = Clock::now();
  {
    auto io = kj::setupAsyncIo();
    RpcPeer one(io, server.port(), "127.0.0.2");
    RpcPeer two(io, server.port(), "127.0.0.2");
    for (int i = 0; i < kRounds; ++i) {
      auto a = one.hello("A", "not-A-token");
      auto b = two.hello("nobody", "x");
      for (auto& answer : {a.wait(io.waitScope), b.wait(io.waitScope)}) {
        if (!answer.session && !answer.disconnected) ++refused;
      }
    }
  }
  double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  REQUIRE(refused == 2 * kRounds);

  // Every line written or counted: the summaries come when their window ends.
  const std::regex summary(R"(\.\.\. and ([0-9,]+) more like it \(refused hello\) from 127\.0\.0\.2 in the last 500 ms)");
  auto accounted = [&](std::size_t& written) {
    auto log = server.log();
    written = occurrences(log, "refused a hello from 127.0.0.2:");
    std::size_t counted = 0;
    for (std::sregex_iterator it(log.begin(), log.end(), summary), end; it != end; ++it) {
      std::string n = (*it)[1];
      std::erase(n, ',');
      counted += std::stoull(n);
    }
    return written + counted;
  };
  std::size_t written = 0;
  CHECK(eventually([&] { return accounted(written) == 2 * kRounds; }, 5s));
  // At most 5 lines per 500 ms window, and a window starts no more often.
  INFO(written << " lines in " << seconds << " s");
  CHECK(written <= 5 * (static_cast<std::size_t>(seconds / 0.5) + 2));
  CHECK(written < 2 * kRounds / 4);
}

TEST_CASE("pipelined large pushes of one session hold bounded memory in the server",
          "[integration][limits][memory]") {
  if (const char* sanitizer = memorySanitizer()) {
    WARN(kSkippedMarker << "hills-server is built with " << sanitizer
                        << ", whose own memory (quarantine, redzones, shadow) its resident "
                           "size would measure rather than the server's bound");
    return;
  }
  TempDir dir;
  auto config = writeLimitsConfig(dir.sub("server.json"), R"("maxBytesInFlight": 8388608)");
  ServerProcess server(dir.sub("server"), config);

  // RssAnon of the server, sampled until the pushes are answered.
  std::atomic<bool> done{false};
  std::atomic<std::uint64_t> peakKiB{rssAnonKiB(server.pid())};
  const std::uint64_t startKiB = peakKiB;
  std::thread sampler([&] {
    while (!done) {
      peakKiB = std::max<std::uint64_t>(peakKiB, rssAnonKiB(server.pid()));
      std::this_thread::sleep_for(2ms);
    }
  });

  // 12 pushes of 8 MiB each (96 MiB), all sent before any answer.
  constexpr unsigned kPushes = 12;
  constexpr std::size_t kBytes = std::size_t{8} << 20;
  std::size_t answered = 0;
  {
    auto io = kj::setupAsyncIo();
    RpcPeer peer(io, server.port(), "127.0.0.1");
    auto welcome = peer.hello("A", "A-token").wait(io.waitScope);
    REQUIRE(welcome.session);
    std::vector<kj::Promise<std::size_t>> pending;
    for (unsigned i = 0; i < kPushes; ++i) {
      auto request = welcome.session->pushRequest();
      auto item = request.initItems(1)[0];
      auto key = item.initKey();
      key.setTree("parts");
      key.setId(1'000'000 + i);
      auto value = item.initCreate(kBytes);
      std::fill(value.begin(), value.end(), static_cast<kj::byte>(i));
      pending.push_back(request.send().then(
          [](auto&& response) -> std::size_t { return response.getOutcomes().size(); },
          [](kj::Exception&&) -> std::size_t { return 0; }));
    }
    for (auto& p : pending) answered += p.wait(io.waitScope);
  }
  done = true;
  sampler.join();

  // Each push was answered (refused: the peer declared no trees).
  CHECK(answered == kPushes);
  INFO("RssAnon from " << startKiB / 1024 << " MiB to a peak of " << peakKiB / 1024 << " MiB");
  // With it: the limit, one message over it, and a push's copy for the
  // writer (16 MiB measured). Without it the server holds most of the
  // 96 MiB twice, the messages and their copies (190 MiB measured).
  CHECK(peakKiB - startKiB < 64 * 1024);
  CHECK_THAT(server.log(), Catch::Contains("more than maxBytesInFlight (8,388,608)"));
}

TEST_CASE("a hello answered after its connection is gone leaves the server sound",
          "[integration][limits][hello]") {
  TempDir dir;
  auto config = writeLimitsConfig(dir.sub("server.json"),
                                  R"("helloDelayMs": 400, "helloDelayMaxMs": 400)");
  ServerProcess server(dir.sub("server"), config);
  {
    auto io = kj::setupAsyncIo();
    auto& timer = io.provider->getTimer();
    // A failed hello from 127.0.0.3: the next one from there waits 400 ms.
    RpcPeer first(io, server.port(), "127.0.0.3");
    auto refused = first.hello("A", "wrong-token").wait(io.waitScope);
    REQUIRE_FALSE(refused.session);
    // A good hello, and its connection closed while the answer waits: the
    // call runs to its end after the server has destroyed the connection
    // (capnp does not cancel it), so it must hold nothing of it.
    auto second = kj::heap<RpcPeer>(io, server.port(), "127.0.0.3");
    auto answer = second->hello("A", "A-token");
    timer.afterDelay(100 * kj::MILLISECONDS).wait(io.waitScope);
    second = nullptr;
    timer.afterDelay(600 * kj::MILLISECONDS).wait(io.waitScope);
  }
  CHECK_THAT(server.log(), Catch::Contains("client 'A' connected from 127.0.0.3"));

  // The server goes on, and stops cleanly.
  connectsAndSyncs(dir.sub("b"), "B", server);
  CHECK(server.alive());
  CHECK(server.kill(SIGTERM) == 0);
}
