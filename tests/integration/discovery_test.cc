// LAN discovery: a real hills-server answering on UDP multicast and real
// clients configured with "discover:NAME". Everything runs in a network
// namespace of the test's own (tests/support/net_namespace.h), so not a
// datagram leaves the machine.
#include "hills/discovery.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <random>
#include <vector>

#include "certificates.h"
#include "own_network.h"
#include "plm_fixtures.h"
#include "server_process.h"
#include "sync_fixtures.h"
#include "temp_dir.h"

using namespace hills::test;
using namespace std::chrono_literals;

namespace {

std::string discoveryConfig(TempDir& dir, const std::string& file, const std::string& name) {
  return writeServerConfig(dir.sub(file), std::nullopt,
                           R"("discovery": {"name": ")" + name + R"("})");
}

hills::ClientOptions discovering(const std::string& client, const std::string& name) {
  auto o = clientOptions(client, "discover:" + name);
  o.discoveryTimeout = 300ms;
  return o;
}

// A UDP socket of the test's, to send datagrams as a stranger would.
class Udp {
 public:
  Udp() : fd_(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0)) {
    REQUIRE(fd_ >= 0);
    int one = 1;
    ::setsockopt(fd_, IPPROTO_IP, IP_MULTICAST_LOOP, &one, sizeof(one));
  }
  ~Udp() { ::close(fd_); }
  Udp(const Udp&) = delete;
  Udp& operator=(const Udp&) = delete;

  void send(const std::string& host, std::uint16_t port, const void* data, std::size_t size) {
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(port);
    ::inet_pton(AF_INET, host.c_str(), &to.sin_addr);
    // A datagram too large for the link is refused by the kernel: fine.
    ::sendto(fd_, data, size, 0, reinterpret_cast<const sockaddr*>(&to), sizeof(to));
  }
  void send(const std::string& host, std::uint16_t port, const std::vector<std::byte>& bytes) {
    send(host, port, bytes.data(), bytes.size());
  }

  // Datagrams received until `quiet` passes without one.
  std::vector<std::vector<std::byte>> receiveUntilQuiet(std::chrono::milliseconds quiet) {
    std::vector<std::vector<std::byte>> out;
    for (int i = 0; i < 10'000; ++i) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(quiet.count())) <= 0) break;
      std::vector<std::byte> buffer(2048);
      ssize_t n = ::recv(fd_, buffer.data(), buffer.size(), 0);
      if (n < 0) break;
      buffer.resize(static_cast<std::size_t>(n));
      out.push_back(std::move(buffer));
    }
    return out;
  }

 private:
  int fd_;
};

// Waits for a session; when none comes, the failure shows the client's last error.
bool connects(hills::Client& client) {
  bool connected = client.waitConnected(10s);
  if (!connected) UNSCOPED_INFO("last error: " << client.status().lastError);
  return connected;
}

const std::string kGroup = hills::protocol::kDiscoveryGroup;
constexpr std::uint16_t kPort = hills::protocol::kDiscoveryPort;

}  // namespace

TEST_CASE("clients find their server by name on the LAN and sync through it",
          "[integration][discovery]") {
  if (!ownNetwork()) return;
  TempDir dir;
  ServerProcess server(dir.sub("server"), discoveryConfig(dir, "server.json", "plm"));
  REQUIRE(eventually(
      [&] { return server.log().find("answering discovery for 'plm'") != std::string::npos; }));

  hills::Client a(dir.sub("a"), discovering("A", "plm"));
  hills::Client b(dir.sub("b"), discovering("B", "plm"));
  REQUIRE(connects(a));
  REQUIRE(connects(b));
  // The listen address is a host: it is what the reply advertises.
  CHECK(a.status().serverAddress == server.address());
  CHECK(b.status().serverAddress == server.address());
  CHECK(a.status().serverUuid == b.status().serverUuid);

  REQUIRE(hasIds(a));
  auto key = createPart(a, 1);
  REQUIRE(a.sync(10s));
  REQUIRE(eventually([&] { return partIn(b.db(), key).has_value(); }));
  CHECK(partIn(b.db(), key)->name == makePart(1).name);
}

TEST_CASE("a server of another name is not chosen, and the client finds its own once it answers",
          "[integration][discovery]") {
  if (!ownNetwork()) return;
  TempDir dir;
  ServerProcess other(dir.sub("other"), discoveryConfig(dir, "other.json", "warehouse"));
  REQUIRE(eventually([&] {
    return other.log().find("answering discovery for 'warehouse'") != std::string::npos;
  }));

  hills::Client a(dir.sub("a"), discovering("A", "plm"));
  std::string error;
  REQUIRE(eventually([&] {
    error = a.status().lastError;
    return error.find("no hills-server named \"plm\" answered on 239.255.74.20:7420") !=
           std::string::npos;
  }));
  CHECK_FALSE(a.waitConnected(1s));
  CHECK(a.status().serverUuid.empty());

  // Every attempt discovers again: the server started later is found.
  ServerProcess plm(dir.sub("plm"), discoveryConfig(dir, "plm.json", "plm"));
  REQUIRE(connects(a));
  CHECK(a.status().serverAddress == plm.address());
  CHECK(a.status().serverAddress != other.address());
  CHECK(a.status().lastError.empty());
}

TEST_CASE(
    "a pinned replica ignores another server answering its server's name, and follows "
    "its own to a new address",
    "[integration][discovery]") {
  if (!ownNetwork()) return;
  TempDir dir;
  std::string pinned;
  {
    auto first =
        std::make_unique<ServerProcess>(dir.sub("plm"), discoveryConfig(dir, "plm.json", "plm"));
    hills::Client a(dir.sub("a"), discovering("A", "plm"));
    REQUIRE(connects(a));
    pinned = a.status().serverUuid;
    REQUIRE_FALSE(pinned.empty());
    first->kill();

    // Another database under the same name: it answers, and is ignored.
    ServerProcess impostor(dir.sub("impostor"), discoveryConfig(dir, "impostor.json", "plm"));
    std::string error;
    REQUIRE(eventually([&] {
      error = a.status().lastError;
      return error.find("not the server " + pinned + " this replica is pinned to") !=
             std::string::npos;
    }));
    CHECK_THAT(error, Catch::Contains("no hills-server named \"plm\" answered"));
    CHECK_FALSE(a.waitConnected(1s));
    CHECK(a.status().serverUuid == pinned);
    CHECK(impostor.log().find("client 'A' connected") == std::string::npos);
    CHECK(a.status().serverAddress == first->address());

    // The pinned server comes back on another port: found there.
    ServerProcess moved(dir.sub("plm"), discoveryConfig(dir, "plm.json", "plm"), first->port() + 1);
    REQUIRE(connects(a));
    CHECK(a.status().serverUuid == pinned);
    CHECK(a.status().serverAddress == moved.address());
  }
}

TEST_CASE(
    "garbage on the discovery port does not stop the server, and a flood of queries is "
    "answered within the limit",
    "[integration][discovery]") {
  if (!ownNetwork()) return;
  TempDir dir;
  ServerProcess server(dir.sub("server"), discoveryConfig(dir, "server.json", "plm"));
  REQUIRE(eventually(
      [&] { return server.log().find("answering discovery for 'plm'") != std::string::npos; }));

  Udp stranger;
  std::mt19937 random(11);
  for (int i = 0; i < 2000; ++i) {
    std::vector<std::byte> noise(1 + random() % 1500);
    for (auto& byte : noise) byte = static_cast<std::byte>(random());
    stranger.send(i % 2 ? kGroup : "127.0.0.1", kPort, noise);
  }
  // Larger than the server reads, empty, a valid query cut short, one
  // padded past the limit.
  std::vector<std::byte> large(60'000, std::byte{0x5a});
  stranger.send(kGroup, kPort, large);
  stranger.send(kGroup, kPort, nullptr, 0);
  auto query = hills::protocol::encodeQuery({"plm", 99});
  stranger.send(kGroup, kPort, query.data(), query.size() - 8);
  auto padded = query;
  padded.resize(hills::protocol::kMaxDatagram + 8, std::byte{0});
  stranger.send(kGroup, kPort, padded);
  // Replies to the noise: none.
  CHECK(stranger.receiveUntilQuiet(300ms).empty());

  // A flood of valid queries from one source: answered, up to the limit.
  Udp flooder;
  for (int i = 0; i < 100; ++i) flooder.send(kGroup, kPort, query);
  auto replies = flooder.receiveUntilQuiet(500ms);
  CHECK(replies.size() >= 1);
  CHECK(replies.size() <= 10);
  for (const auto& reply : replies) {
    auto decoded = hills::protocol::decodeReply(
        kj::arrayPtr(reinterpret_cast<const kj::byte*>(reply.data()), reply.size()));
    REQUIRE(decoded);
    CHECK(decoded->nonce == 99);
    CHECK(decoded->name == "plm");
    CHECK(decoded->port == server.port());
    CHECK(decoded->host == "127.0.0.1");
    CHECK(decoded->fingerprint.empty());
  }

  CHECK(server.alive());
  auto log = server.log();
  CHECK_THAT(log, Catch::Contains("ignored a datagram on the discovery port from 127.0.0.1"));
  CHECK_THAT(log, Catch::Contains("did not answer a discovery query from 127.0.0.1"));
  // Rate-limited: a handful of lines for thousands of datagrams.
  CHECK(occurrences(log, "ignored a datagram on the discovery port") <= 5);

  // And it still answers and serves, within the next window.
  hills::Client a(dir.sub("a"), discovering("A", "plm"));
  REQUIRE(connects(a));
  CHECK(a.status().serverAddress == server.address());
  CHECK(server.alive());
}

TEST_CASE("over TLS a reply advertises the certificate, and one not expected is ignored",
          "[integration][discovery][tls]") {
  if (!ownNetwork()) return;
  TempDir dir;
  auto certificate = selfSigned(dir.path(), "server");
  auto other = selfSigned(dir.path(), "other");
  ServerProcess server(dir.sub("server"), writeServerConfig(dir.sub("server.json"), certificate,
                                                            R"("discovery": {"name": "plm"})"));
  REQUIRE(eventually(
      [&] { return server.log().find("answering discovery for 'plm'") != std::string::npos; }));

  // Trust on first use: found, connected, the certificate pinned.
  auto aOptions = discovering("A", "plm");
  aOptions.plaintext = false;
  hills::Client a(dir.sub("a"), aOptions);
  REQUIRE(connects(a));
  CHECK(a.status().serverAddress == server.address());

  // A client given another fingerprint ignores the reply: it never
  // connects to (nor sends its token to) that server.
  auto bOptions = discovering("B", "plm");
  bOptions.plaintext = false;
  bOptions.tls.fingerprint = other.fingerprint;
  hills::Client b(dir.sub("b"), bOptions);
  std::string error;
  REQUIRE(eventually([&] {
    error = b.status().lastError;
    return error.find("with the certificate " + certificate.fingerprint + ", not " +
                      other.fingerprint) != std::string::npos;
  }));
  CHECK_FALSE(b.waitConnected(500ms));
  CHECK(b.status().serverAddress.empty());
  CHECK(server.log().find("client 'B' connected") == std::string::npos);
}
