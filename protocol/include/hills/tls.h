// TLS for the sync connection. kj-tls encrypts and verifies; what it does
// not offer is here too, done with OpenSSL: a certificate's fingerprint, and
// the certificate a server presents before anyone trusts it (pinning).
#pragma once

#include <kj/async-io.h>

#include <string>
#include <string_view>

namespace hills::protocol {

// "sha256:" and the 64 lower-case hex digits of the SHA-256 of the first
// certificate in `pem` (of its DER bytes): what hills-server prints at start,
// what `openssl x509 -fingerprint -sha256` prints (with colons), and what a
// client pins. Throws Error(kInvalidArgument) when `pem` holds no PEM
// certificate.
std::string certificateFingerprint(std::string_view pem);

// Whether the PEM private key `key` belongs to the first certificate in
// `certificate` (false too when either does not read).
bool keyMatches(std::string_view certificate, std::string_view key);

// A fingerprint as people write it ("sha256:" or not, hex in either case,
// colons or spaces between bytes) in the form certificateFingerprint()
// gives. Throws Error(kInvalidArgument) when it is not 32 bytes of hex.
std::string normalFingerprint(std::string_view text);

// How a client decides to trust the server it connects to.
struct TlsTrust {
  // PEM certificates of the authorities that issue server certificates:
  // the server's chain must lead to one of them, and its certificate name
  // `serverName`, else the host of the address. Empty: the server's
  // certificate itself is the trust, pinned (it must be self-signed).
  std::string caFile;
  // The name the server's certificate is checked against. Empty: with a
  // caFile, the host of the address (which must then be a name, not an IP
  // address: kj-tls checks names only); when pinning, a name the pinned
  // certificate holds (the certificate is the identity).
  std::string serverName;
  // When pinning: the expected fingerprint (normal form), given by the
  // server's administrator; it wins over a pinned certificate. Empty: the
  // pinned one, else the first certificate seen (trust on first use).
  std::string fingerprint;
  std::string pinnedFingerprint;  // stored at first contact; empty: none yet
};

// A verified TLS connection and the certificate the server presented.
struct TlsStream {
  kj::Own<kj::AsyncIoStream> stream;
  std::string certificate;  // PEM of the server's (leaf) certificate
  std::string fingerprint;  // its certificateFingerprint()
};

// Connects to `address` twice: first a short handshake that trusts
// nothing and sends nothing but the handshake, to read the server's
// certificate and check it against `trust`; then the real connection
// (kj-tls), which trusts the caFile's authorities or exactly that
// certificate. Nothing of the application crosses an unverified
// connection. `server` ("host:port") is for the host name and messages.
// `address` must outlive the promise; `timer` (of the same event loop)
// bounds the probe's close, which goes on in the background (at most 5 s)
// after the promise resolves. The promise breaks with:
// - protocol::toException(Error(kWrongServer)) when the certificate is not
//   the one pinned or expected (naming both fingerprints), or the caFile
//   does not vouch for it, or it is not self-signed and there is no caFile;
// - protocol::toException(Error(kOffline)) saying the server does not speak
//   TLS, when it answered the handshake with something else or by closing,
//   or why the handshake failed;
// - others (kInvalidArgument: an unreadable caFile; lost connections).
kj::Promise<TlsStream> connectTls(kj::NetworkAddress& address, std::string server, TlsTrust trust,
                                  kj::Timer& timer);

}  // namespace hills::protocol
