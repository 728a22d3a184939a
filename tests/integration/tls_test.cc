// Encryption of the sync connection: hills-server with a TLS certificate,
// clients that verify it (pinned at first contact, a given fingerprint, a
// CA file), and what plain peers meet. Certificates are made by the test
// (tests/support/certificates.h).
#include <catch2/catch.hpp>
#include <optional>

#include "certificates.h"
#include "plm_fixtures.h"
#include "server_process.h"
#include "sync_fixtures.h"
#include "temp_dir.h"

using hills::ErrorCode;
using namespace hills::test;
using namespace std::chrono_literals;

namespace {

// A test client that speaks TLS and pins the server's certificate at first
// contact (no caFile, no fingerprint).
hills::ClientOptions tlsOptions(const std::string& name, const std::string& server) {
  auto o = clientOptions(name, server);
  o.plaintext = false;
  return o;
}

std::string pinnedFingerprint(hills::Client& client) {
  return client.db().read(
      [](const hills::ReadTxn& txn) { return txn.property("pinnedFingerprint").value_or(""); });
}

// Waits until the client's last error mentions `what`; returns that error.
std::string lastErrorWith(hills::Client& client, const std::string& what) {
  std::string last;
  eventually([&] {
    last = client.status().lastError;
    return last.find(what) != std::string::npos;
  });
  return last;
}

}  // namespace

TEST_CASE("the sync flow works over TLS: create, check out, check in, another client sees it",
          "[integration][tls]") {
  TempDir dir;
  auto certificate = selfSigned(dir.path(), "server");
  ServerProcess server(dir.sub("server"), writeServerConfig(dir.sub("server.json"), certificate));
  CHECK(eventually(
      [&] { return server.log().find("TLS with the certificate") != std::string::npos; }));

  // A trusts on first use; B was given the fingerprint by the administrator.
  hills::Client a(dir.sub("a"), tlsOptions("A", server.address()));
  auto bOptions = tlsOptions("B", server.address());
  bOptions.tls.fingerprint = certificate.fingerprint;
  hills::Client b(dir.sub("b"), bOptions);
  REQUIRE(a.waitConnected(10s));
  REQUIRE(b.waitConnected(10s));
  REQUIRE(hasIds(a));
  CHECK(pinnedFingerprint(a) == certificate.fingerprint);
  CHECK(pinnedFingerprint(b) == certificate.fingerprint);

  auto key = createPart(a, 1);
  REQUIRE(a.sync(10s));
  REQUIRE(eventually([&] { return partIn(b.db(), key).has_value(); }));

  b.checkOut(key);
  b.db().write([&](hills::WriteTxn& txn) {
    auto parts = txn.tree<plm::Part>();
    auto part = *parts.get(key);
    part.name = "edited over TLS";
    parts.update(key, part);
  });
  b.checkIn(key);
  REQUIRE(b.sync(10s));
  REQUIRE(eventually([&] {
    auto part = partIn(a.db(), key);
    return part && part->name == "edited over TLS";
  }));
  CHECK(a.status().lastError.empty());
}

TEST_CASE("a client refuses for good a server whose certificate is not the one it pinned",
          "[integration][tls][pinning]") {
  TempDir dir;
  auto first = selfSigned(dir.path(), "first");
  auto second = selfSigned(dir.path(), "second");
  unsigned port = 0;
  {
    ServerProcess server(dir.sub("server"), writeServerConfig(dir.sub("first.json"), first));
    port = server.port();
    hills::Client a(dir.sub("a"), tlsOptions("A", server.address()));
    REQUIRE(a.waitConnected(10s));
    CHECK(pinnedFingerprint(a) == first.fingerprint);
  }

  // The same server (same database, uuid and port), with another certificate.
  ServerProcess server(dir.sub("server"), writeServerConfig(dir.sub("second.json"), second), port);
  const std::size_t logBefore = server.log().size();  // the first server's lines
  {
    hills::Client a(dir.sub("a"), tlsOptions("A", server.address()));
    auto refused = errorOf([&] { a.waitConnected(10s); });
    CHECK(refused.code() == ErrorCode::kWrongServer);
    auto status = a.status();
    CHECK(status.refusedBy == ErrorCode::kWrongServer);
    CHECK_FALSE(status.connected);
    CHECK_THAT(status.lastError, Catch::Contains(second.fingerprint) &&
                                     Catch::Contains(first.fingerprint) &&
                                     Catch::Contains("pinned"));
    CHECK(pinnedFingerprint(a) == first.fingerprint);
  }
  // Nothing was sent: the server never heard a hello from A.
  CHECK(occurrences(server.log().substr(logBefore), "client 'A' connected") == 0);

  // The administrator replaced the certificate on purpose and says so.
  auto options = tlsOptions("A", server.address());
  options.tls.fingerprint = second.fingerprint;
  hills::Client a(dir.sub("a"), options);
  REQUIRE(a.waitConnected(10s));
  CHECK(pinnedFingerprint(a) == second.fingerprint);
}

TEST_CASE("a client verifies the server against a CA file and refuses one it does not vouch for",
          "[integration][tls][ca]") {
  TempDir dir;
  auto ca = selfSigned(dir.path(), "ca", "hills-test-ca");
  auto otherCa = selfSigned(dir.path(), "other-ca", "other-test-ca");
  auto issued = issuedBy(ca, dir.path(), "server", "localhost");
  ServerProcess server(dir.sub("server"), writeServerConfig(dir.sub("server.json"), issued));

  auto good = tlsOptions("A", server.address());
  good.tls.caFile = ca.certificateFile;
  good.tls.serverName = "localhost";
  hills::Client a(dir.sub("a"), good);
  REQUIRE(a.waitConnected(10s));
  REQUIRE(hasIds(a));
  createPart(a, 1);
  REQUIRE(a.sync(10s));
  CHECK(pinnedFingerprint(a).empty());  // a CA-issued certificate is renewed at will

  auto wrongCa = tlsOptions("B", server.address());
  wrongCa.tls.caFile = otherCa.certificateFile;
  wrongCa.tls.serverName = "localhost";
  hills::Client b(dir.sub("b"), wrongCa);
  CHECK(errorOf([&] { b.waitConnected(10s); }).code() == ErrorCode::kWrongServer);
  CHECK_THAT(b.status().lastError, Catch::Contains("not vouched for by tls.caFile") &&
                                       Catch::Contains(issued.fingerprint));

  // Without a CA, a certificate that is not self-signed cannot be pinned.
  hills::Client c(dir.sub("c"), tlsOptions("C", server.address()));
  CHECK(errorOf([&] { c.waitConnected(10s); }).code() == ErrorCode::kWrongServer);
  CHECK_THAT(c.status().lastError, Catch::Contains("not self-signed"));
  CHECK(occurrences(server.log(), "client 'B' connected") == 0);
  CHECK(occurrences(server.log(), "client 'C' connected") == 0);
}

TEST_CASE("a plain client gets a clear error from a TLS server, which goes on serving others",
          "[integration][tls]") {
  TempDir dir;
  auto certificate = selfSigned(dir.path(), "server");
  ServerProcess server(dir.sub("server"), writeServerConfig(dir.sub("server.json"), certificate));

  hills::Client plain(dir.sub("plain"), clientOptions("A", server.address()));
  auto error = lastErrorWith(plain, "requires TLS");
  CHECK_THAT(error, Catch::Contains(server.address()));
  CHECK_FALSE(plain.status().connected);

  hills::Client b(dir.sub("b"), tlsOptions("B", server.address()));
  REQUIRE(b.waitConnected(10s));
  REQUIRE(hasIds(b));
  createPart(b, 1);
  REQUIRE(b.sync(10s));
  CHECK(server.alive());
  CHECK(eventually(
      [&] { return server.log().find("the TLS handshake failed") != std::string::npos; }));
  CHECK(occurrences(server.log(), "client 'A' connected") == 0);
}

TEST_CASE("a TLS client gets a clear error from a plain server and sends it nothing",
          "[integration][tls]") {
  TempDir dir;
  ServerProcess server(dir.sub("server"), writeServerConfig(dir.sub("server.json")));
  CHECK(eventually(
      [&] { return server.log().find("WARNING: serving plain TCP") != std::string::npos; }));

  hills::Client a(dir.sub("a"), tlsOptions("A", server.address()));
  auto error = lastErrorWith(a, "does not speak TLS");
  CHECK_THAT(error, Catch::Contains(server.address()));
  CHECK_FALSE(a.status().connected);
  CHECK_FALSE(a.status().refusedBy.has_value());  // tried again: the server may turn to TLS
  CHECK(occurrences(server.log(), "client 'A' connected") == 0);
}

TEST_CASE("a TLS client's certificate probe closes cleanly: the server counts no failed connection",
          "[integration][tls][regression]") {
  TempDir dir;
  auto certificate = selfSigned(dir.path(), "server");
  ServerProcess server(dir.sub("server"), writeServerConfig(dir.sub("server.json"), certificate));
  // Each session is a probe that reads the certificate, then the real
  // connection; a probe dropped with the server's session tickets unread
  // reset its connection, which the server logged as one that failed.
  for (int i = 0; i < 5; ++i) {
    auto o = tlsOptions("A", server.address());
    o.tls.fingerprint = certificate.fingerprint;
    hills::Client a(dir.sub("a"), o);
    REQUIRE(a.waitConnected(10s));
    REQUIRE(hasIds(a));
  }
  REQUIRE(eventually([&] {
    std::string log = server.log();
    std::size_t sessions = 0;
    for (auto at = log.find("client 'A' disconnected"); at != std::string::npos;
         at = log.find("client 'A' disconnected", at + 1)) {
      ++sessions;
    }
    return sessions == 5;
  }));
  std::string log = server.log();
  INFO(log);
  CHECK(log.find("closed the connection") == std::string::npos);
  CHECK(log.find("TLS handshake failed") == std::string::npos);
}
