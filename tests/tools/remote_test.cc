#include <catch2/catch.hpp>

#include "own_network.h"
#include "sync_fixtures.h"
#include "tools_fixtures.h"

using namespace hills::test;
using namespace std::chrono_literals;

TEST_CASE("borrows lists what a real server holds, and break breaks one", "[tools][remote]") {
  TempDir dir;
  ServerProcess server(dir.sub("server"), writeServerConfig(dir.sub("config.json")));
  hills::Client a(dir.sub("a"), clientOptions("A", server.address()));
  REQUIRE(a.waitConnected(10s));
  REQUIRE(hasIds(a));
  auto key = createPart(a, 1);
  REQUIRE(a.sync(10s));
  a.checkOut(key);

  auto list = runHills({"borrows", "--plaintext", "--server", server.address(), "--name", "reader", "--token",
                     "reader-token"});
  INFO(list.out << list.err);
  REQUIRE(list.status == 0);
  CHECK(list.out.find("parts " + std::to_string(key.id) + "/0 held by A since") !=
        std::string::npos);
  CHECK(list.out.find("1 borrows") != std::string::npos);

  // The reader may not break borrows; the admin may.
  std::string target = std::to_string(key.id) + "/0";
  auto denied = runHills({"break", "--plaintext", "--server", server.address(), "--name", "reader", "--token",
                       "reader-token", "parts", target});
  CHECK(denied.status == 1);
  CHECK(denied.err.find(server.address()) != std::string::npos);
  auto broken = runHills({"break", "--plaintext", "--server", server.address(), "--name", "admin", "--token",
                       "admin-token", "parts", target});
  INFO(broken.err);
  REQUIRE(broken.status == 0);
  CHECK(broken.out.find("held by A") != std::string::npos);
  auto after = runHills({"borrows", "--plaintext", "--server", server.address(), "--name", "reader", "--token",
                      "reader-token"});
  CHECK(after.out.find("0 borrows") != std::string::npos);
}

TEST_CASE("borrows says a wrong token was refused", "[tools][remote]") {
  TempDir dir;
  ServerProcess server(dir.sub("server"), writeServerConfig(dir.sub("config.json")));
  auto r = runHills({"borrows", "--plaintext", "--server", server.address(), "--name", "reader", "--token", "no"});
  CHECK(r.status == 1);
  CHECK(!r.err.empty());
}

TEST_CASE("borrows reaches a TLS server by its fingerprint and refuses another certificate",
          "[tools][remote][tls]") {
  TempDir dir;
  auto certificate = selfSigned(dir.path(), "server");
  auto other = selfSigned(dir.path(), "other");
  ServerProcess server(dir.sub("server"),
                       writeServerConfig(dir.sub("config.json"), certificate));
  auto ok = runHills({"borrows", "--fingerprint", certificate.fingerprint, "--server",
                      server.address(), "--name", "reader", "--token", "reader-token"});
  CHECK(ok.status == 0);
  CHECK(ok.out.find("0 borrows") != std::string::npos);

  auto wrong = runHills({"borrows", "--fingerprint", other.fingerprint, "--server",
                         server.address(), "--name", "reader", "--token", "reader-token"});
  CHECK(wrong.status == 1);
  CHECK(wrong.err.find(certificate.fingerprint) != std::string::npos);
  CHECK(wrong.err.find(other.fingerprint) != std::string::npos);

  auto unsaid = runHills({"borrows", "--server", server.address(), "--name", "reader", "--token",
                          "reader-token"});
  CHECK(unsaid.status == 1);
  CHECK(unsaid.err.find("--fingerprint") != std::string::npos);
}

TEST_CASE("borrows finds a server by name on the LAN, and says when none answers as asked",
          "[tools][remote][discovery]") {
  if (!ownNetwork()) return;
  TempDir dir;
  auto certificate = selfSigned(dir.path(), "server");
  auto other = selfSigned(dir.path(), "other");
  ServerProcess server(dir.sub("server"), writeServerConfig(dir.sub("config.json"), certificate,
                                                            R"("discovery": {"name": "plm"})"));
  REQUIRE(eventually(
      [&] { return server.log().find("answering discovery for 'plm'") != std::string::npos; }));
  auto borrows = [&](const std::string& at, const std::string& fingerprint) {
    return runHills({"borrows", "--fingerprint", fingerprint, "--server", at, "--name", "reader",
                     "--token", "reader-token"});
  };

  auto found = borrows("discover:plm", certificate.fingerprint);
  INFO(found.err);
  CHECK(found.status == 0);
  CHECK(found.out.find("0 borrows") != std::string::npos);

  auto nobody = borrows("discover:warehouse", certificate.fingerprint);
  CHECK(nobody.status == 1);
  CHECK(nobody.err.find("no hills-server named \"warehouse\" answered on 239.255.74.20:7420") !=
        std::string::npos);

  // The server answers with its certificate, which is not the one given:
  // it is not taken, and the error says what answered.
  auto another = borrows("discover:plm", other.fingerprint);
  CHECK(another.status == 1);
  CHECK(another.err.find("answered from") != std::string::npos);
  CHECK(another.err.find(certificate.fingerprint) != std::string::npos);

  // A client set to plain TCP does not take a server that answers with a
  // certificate: it could not talk to it, and the error says why.
  auto plain = runHills({"borrows", "--plaintext", "--server", "discover:plm", "--name", "reader",
                         "--token", "reader-token"});
  CHECK(plain.status == 1);
  CHECK(plain.err.find("over TLS (certificate " + certificate.fingerprint +
                       "), and this client is set to plain TCP") != std::string::npos);

  // Nor does a TLS client take a server that answers without one.
  ServerProcess plainServer(
      dir.sub("plain"),
      writeServerConfig(dir.sub("plain.json"), std::nullopt, R"("discovery": {"name": "plm-plain"})"));
  REQUIRE(eventually([&] {
    return plainServer.log().find("answering discovery for 'plm-plain'") != std::string::npos;
  }));
  auto tls = runHills({"borrows", "--ca-file", certificate.certificateFile, "--server-name",
                       "server", "--server", "discover:plm-plain", "--name", "reader", "--token",
                       "reader-token"});
  CHECK(tls.status == 1);
  CHECK(tls.err.find("over plain TCP, and this client is set to TLS") != std::string::npos);

  auto malformed = borrows("discover:plm@10.0.0.5:7420", certificate.fingerprint);
  CHECK(malformed.status == 1);
  CHECK(malformed.err.find("'10.0.0.5' is not a multicast address") != std::string::npos);
}
