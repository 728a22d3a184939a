// The server's answers to LAN discovery (server/src/discovery.cc), on a
// UDP port of 127.0.0.1 in this process: unicast only, no group joined,
// so nothing reaches the network. tests/integration/discovery_test.cc
// runs the multicast itself, in a network namespace.
#include "discovery.h"

#include <catch2/catch.hpp>
#include <string>
#include <vector>

using hills::server::DiscoveryResponder;
using hills::server::wildcardHost;

namespace {

struct Rig {
  Rig() {
    auto& network = io.provider->getNetwork();
    auto port = network.parseAddress("127.0.0.1").wait(io.waitScope)->bindDatagramPort();
    auto number = port->getPort();
    hills::protocol::DiscoveryReply advert;
    advert.name = "plm";
    advert.uuid = "the-uuid";
    advert.host = "plm-server";
    advert.port = 7420;
    responder =
        kj::heap<DiscoveryResponder>(kj::mv(port), advert, io.provider->getTimer(),
                                     [this](std::string_view, std::string_view,
                                            std::string_view text) { lines.emplace_back(text); });
    running = responder->run().eagerlyEvaluate(nullptr);
    client = network.parseAddress("127.0.0.1").wait(io.waitScope)->bindDatagramPort();
    receiver = client->makeReceiver();
    server = network.parseAddress("127.0.0.1", number).wait(io.waitScope);
  }
  void send(const std::vector<std::byte>& bytes) {
    client->send(bytes.data(), bytes.size(), *server).wait(io.waitScope);
  }
  // Lets the responder work for `ms`.
  void settle(int ms = 100) {
    io.provider->getTimer().afterDelay(ms * kj::MILLISECONDS).wait(io.waitScope);
  }

  kj::AsyncIoContext io = kj::setupAsyncIo();
  std::vector<std::string> lines;
  kj::Own<DiscoveryResponder> responder;
  kj::Promise<void> running = nullptr;
  kj::Own<kj::DatagramPort> client;
  kj::Own<kj::DatagramReceiver> receiver;
  kj::Own<kj::NetworkAddress> server;
};

}  // namespace

TEST_CASE("the responder answers a query for its name with its advert, and nothing else",
          "[server][discovery]") {
  Rig rig;
  rig.send(hills::protocol::encodeQuery({"warehouse", 1}));
  rig.send(std::vector<std::byte>(40, std::byte{0x42}));
  rig.send(std::vector<std::byte>(3000, std::byte{0}));
  rig.send(hills::protocol::encodeQuery({"plm", 77}));
  rig.receiver->receive().wait(rig.io.waitScope);
  auto content = rig.receiver->getContent();
  auto reply = hills::protocol::decodeReply(content.value);
  REQUIRE(reply);
  // The first reply is to the last query: the others had none.
  CHECK(reply->nonce == 77);
  CHECK(reply->name == "plm");
  CHECK(reply->uuid == "the-uuid");
  CHECK(reply->host == "plm-server");
  CHECK(reply->port == 7420);
  rig.settle();
  CHECK(rig.responder->answered() == 1);
  CHECK(rig.responder->ignored() == 2);
  REQUIRE(rig.lines.size() == 2);
  CHECK_THAT(rig.lines[0], Catch::Contains("ignored a datagram on the discovery port from "
                                           "127.0.0.1:"));
  CHECK_THAT(rig.lines[1], Catch::Contains("(longer than 1024 bytes)"));
}

TEST_CASE("the responder answers a flood of queries from one source up to its limit",
          "[server][discovery]") {
  Rig rig;
  for (int i = 0; i < 50; ++i) rig.send(hills::protocol::encodeQuery({"plm", 5}));
  rig.settle(200);
  CHECK(rig.responder->answered() == hills::server::kRepliesPerSource);
  CHECK(rig.responder->limited() == 50 - hills::server::kRepliesPerSource);
  // Still serving: a garbage datagram after the flood is read too.
  rig.send(std::vector<std::byte>(16, std::byte{1}));
  rig.settle();
  CHECK(rig.responder->ignored() == 1);
}

TEST_CASE("a wildcard listen address advertises no host", "[server][discovery]") {
  CHECK(wildcardHost(""));
  CHECK(wildcardHost("0.0.0.0"));
  CHECK(wildcardHost("*"));
  CHECK(wildcardHost("[::]"));
  CHECK_FALSE(wildcardHost("127.0.0.1"));
  CHECK_FALSE(wildcardHost("plm-server"));
}
