// hills-server's configuration file (server/src/config.cc): the limits it
// reads, their defaults, and what it refuses.
#include <catch2/catch.hpp>
#include <fstream>
#include <string>
#include <vector>

#include "certificates.h"
#include "error_of.h"
#include "hills/server.h"
#include "temp_dir.h"

using hills::ErrorCode;
using namespace hills::test;

namespace {

std::string writeFile(const std::string& path, const std::string& text) {
  std::ofstream(path) << text;
  return path;
}

}  // namespace

TEST_CASE("the server's limits have defaults and can be set", "[server][config][limits]") {
  TempDir dir;
  auto defaults = hills::loadServerConfig(writeFile(
      dir.sub("a.json"), R"({"clients": [{"name": "A", "token": "t"}], "plaintext": true})"));
  CHECK(defaults.maxConnectionsPerSource == 64);
  CHECK(defaults.maxHelloFailures == 5);
  CHECK(defaults.helloDelay.count() == 200);
  CHECK(defaults.helloDelayMax.count() == 10000);
  CHECK(defaults.maxBytesInFlight == 16u << 20);
  CHECK(defaults.acceptRetry.count() == 100);
  CHECK(defaults.logBurst == 5);
  CHECK(defaults.logWindow.count() == 10000);

  auto set = hills::loadServerConfig(writeFile(
      dir.sub("b.json"),
      R"({"clients": [], "plaintext": true, "maxConnectionsPerSource": 3, "maxHelloFailures": 2, "helloDelayMs": 7,
          "helloDelayMaxMs": 70, "maxBytesInFlight": 4096, "acceptRetryMs": 9, "logBurst": 1,
          "logWindowMs": 250})"));
  CHECK(set.maxConnectionsPerSource == 3);
  CHECK(set.maxHelloFailures == 2);
  CHECK(set.helloDelay.count() == 7);
  CHECK(set.helloDelayMax.count() == 70);
  CHECK(set.maxBytesInFlight == 4096);
  CHECK(set.acceptRetry.count() == 9);
  CHECK(set.logBurst == 1);
  CHECK(set.logWindow.count() == 250);
}

TEST_CASE("a configuration with a misspelt or impossible limit is refused, naming it",
          "[server][config][limits]") {
  TempDir dir;
  auto misspelt = errorOf([&] {
    hills::loadServerConfig(
        writeFile(dir.sub("a.json"), R"({"clients": [], "maxConnectionPerSource": 3})"));
  });
  CHECK(misspelt.code() == ErrorCode::kInvalidArgument);
  CHECK_THAT(misspelt.what(), Catch::Contains("maxConnectionPerSource"));

  auto zero = errorOf([&] {
    hills::loadServerConfig(
        writeFile(dir.sub("b.json"), R"({"clients": [], "plaintext": true, "logBurst": 0})"));
  });
  CHECK(zero.code() == ErrorCode::kInvalidArgument);
  CHECK_THAT(zero.what(), Catch::Contains("sets logBurst to 0"));

  auto below = errorOf([&] {
    hills::loadServerConfig(writeFile(
        dir.sub("c.json"),
        R"({"clients": [], "plaintext": true, "helloDelayMs": 500, "helloDelayMaxMs": 100})"));
  });
  CHECK(below.code() == ErrorCode::kInvalidArgument);
  CHECK_THAT(below.what(), Catch::Contains("helloDelayMaxMs (100) below helloDelayMs (500)"));
}

TEST_CASE("the HTTP endpoint's address is read, and there is none by default",
          "[server][config][http]") {
  TempDir dir;
  auto none = hills::loadServerConfig(
      writeFile(dir.sub("a.json"), R"({"clients": [], "plaintext": true})"));
  CHECK(none.httpListen.empty());
  auto set = hills::loadServerConfig(
      writeFile(dir.sub("b.json"),
                R"({"clients": [], "plaintext": true, "httpListen": "10.0.9.1:9420"})"));
  CHECK(set.httpListen == "10.0.9.1:9420");
}

TEST_CASE("a configuration says TLS or plain text, and its TLS files are read and checked",
          "[server][config][tls]") {
  TempDir dir;
  auto cert = selfSigned(dir.path(), "server");
  auto other = selfSigned(dir.path(), "other");
  auto tls = hills::loadServerConfig(
      writeFile(dir.sub("tls.json"), R"({"clients": [], "tls": {"certificateFile": ")" +
                                         cert.certificateFile + R"(", "keyFile": "server.key"}})"));
  REQUIRE(tls.tls.has_value());
  CHECK_FALSE(tls.plaintext);
  CHECK(tls.tls->keyFile == dir.sub("server.key"));  // relative: beside the configuration
  CHECK_THAT(tls.tls->certificate, Catch::StartsWith("-----BEGIN CERTIFICATE-----"));
  CHECK(hills::certificateFingerprint(*tls.tls) == cert.fingerprint);

  auto plain = hills::loadServerConfig(
      writeFile(dir.sub("plain.json"), R"({"clients": [], "plaintext": true})"));
  CHECK_FALSE(plain.tls.has_value());
  CHECK(plain.plaintext);

  auto refusal = [&](const std::string& name, const std::string& json) {
    auto e = errorOf([&] { hills::loadServerConfig(writeFile(dir.sub(name), json)); });
    CHECK(e.code() == ErrorCode::kInvalidArgument);
    CHECK_THAT(e.what(), Catch::Contains(dir.sub(name)));
    return std::string(e.what());
  };
  CHECK_THAT(refusal("neither.json", R"({"clients": []})"),
             Catch::Contains(R"(add "tls")") && Catch::Contains(R"("plaintext": true)"));
  CHECK_THAT(
      refusal(
          "both.json",
          R"({"clients": [], "plaintext": true, "tls": {"certificateFile": "server.crt", "keyFile": "server.key"}})"),
      Catch::Contains("sets both tls and"));
  CHECK_THAT(refusal("half.json", R"({"clients": [], "tls": {"certificateFile": "server.crt"}})"),
             Catch::Contains("needs \"certificateFile\" and \"keyFile\""));
  CHECK_THAT(
      refusal(
          "missing.json",
          R"({"clients": [], "tls": {"certificateFile": "nowhere.crt", "keyFile": "server.key"}})"),
      Catch::Contains(dir.sub("nowhere.crt") + " cannot be read"));
  writeFile(dir.sub("not-pem.crt"), "not a certificate");
  CHECK_THAT(
      refusal(
          "not-pem.json",
          R"({"clients": [], "tls": {"certificateFile": "not-pem.crt", "keyFile": "server.key"}})"),
      Catch::Contains(dir.sub("not-pem.crt") + " holds no PEM certificate"));
  CHECK_THAT(
      refusal(
          "key-not-pem.json",
          R"({"clients": [], "tls": {"certificateFile": "server.crt", "keyFile": "not-pem.crt"}})"),
      Catch::Contains(dir.sub("not-pem.crt") + " holds no PEM private key"));
  CHECK_THAT(
      refusal(
          "mismatch.json",
          R"({"clients": [], "tls": {"certificateFile": "server.crt", "keyFile": "other.key"}})"),
      Catch::Contains(other.keyFile + " is not the key of " + cert.certificateFile));
}

TEST_CASE("discovery is off by default, and read with its defaults when named",
          "[server][config][discovery]") {
  TempDir dir;
  auto off = hills::loadServerConfig(
      writeFile(dir.sub("a.json"), R"({"clients": [], "plaintext": true})"));
  CHECK(off.discovery.name.empty());

  auto on = hills::loadServerConfig(writeFile(
      dir.sub("b.json"), R"({"clients": [], "plaintext": true, "discovery": {"name": "plm"}})"));
  CHECK(on.discovery.name == "plm");
  CHECK(on.discovery.where.group == "239.255.74.20");
  CHECK(on.discovery.where.port == 7420);
  CHECK(on.discovery.advertise.empty());
  CHECK(on.discovery.interface.empty());

  auto set = hills::loadServerConfig(writeFile(dir.sub("c.json"), R"({"clients": [],
      "plaintext": true, "discovery": {"name": "line 3", "group": "239.1.2.3", "port": 9999,
      "advertise": "plm-server.example", "interface": "10.0.0.5"}})"));
  CHECK(set.discovery.name == "line 3");
  CHECK(set.discovery.where.group == "239.1.2.3");
  CHECK(set.discovery.where.port == 9999);
  CHECK(set.discovery.advertise == "plm-server.example");
  CHECK(set.discovery.interface == "10.0.0.5");
}

TEST_CASE("a discovery that cannot work is refused at load, naming the member",
          "[server][config][discovery]") {
  TempDir dir;
  auto refusal = [&](const std::string& discovery) {
    return errorOf([&] {
      hills::loadServerConfig(writeFile(
          dir.sub("d.json"),
          R"({"clients": [], "plaintext": true, "discovery": )" + discovery + "}"));
    });
  };
  auto unnamed = refusal(R"({"group": "239.1.2.3"})");
  CHECK(unnamed.code() == ErrorCode::kInvalidArgument);
  CHECK_THAT(unnamed.what(), Catch::Contains("a discovery without a name"));

  auto unicast = refusal(R"({"name": "plm", "group": "10.0.0.5"})");
  CHECK(unicast.code() == ErrorCode::kInvalidArgument);
  CHECK_THAT(unicast.what(), Catch::Contains("discovery.group: '10.0.0.5' is not a multicast"));

  CHECK_THAT(refusal(R"({"name": "plm", "group": "plm-group"})").what(),
             Catch::Contains("discovery.group: 'plm-group' is not an IPv4 address"));
  CHECK_THAT(refusal(R"({"name": "plm", "port": 0})").what(),
             Catch::Contains("discovery.port"));
  CHECK_THAT(refusal(R"({"name": "plm", "interface": "eth0"})").what(),
             Catch::Contains("discovery.interface: 'eth0' is not an IPv4 address"));
  CHECK_THAT(refusal(R"({"name": "plm", "advertise": "plm:7420"})").what(),
             Catch::Contains("discovery.advertise"));
  CHECK_THAT(refusal(R"({"name": "plm\u0007"})").what(),
             Catch::Contains("discovery.name: the name holds a control character"));
  CHECK_THAT(refusal(R"({"name": "plm", "grup": "239.1.2.3"})").what(),
             Catch::Contains("grup"));
}

TEST_CASE("a client's trees are read from the configuration; none is every tree",
          "[server][config][partial]") {
  TempDir dir;
  auto config = hills::loadServerConfig(writeFile(
      dir.sub("trees.json"),
      R"({"clients": [{"name": "floor", "token": "t", "trees": ["parts", "stock"]},
                      {"name": "A", "token": "u"}], "plaintext": true})"));
  REQUIRE(config.clients.size() == 2);
  CHECK(config.clients[0].trees == std::vector<std::string>{"parts", "stock"});
  CHECK(config.clients[1].trees.empty());
}
