// How the client reaches its server: TLS verified as ClientOptions::tls
// says (against a CA, a fingerprint, or the certificate pinned in the
// replica), or plain TCP when ClientOptions::plaintext says so.
#pragma once

#include <kj/async-io.h>

#include <string>

#include "hills/client.h"

namespace hills::client {

// A connection to the server, verified, before anything of hills crossed it.
struct ServerConnection {
  kj::Own<kj::AsyncIoStream> stream;
  // What to pin in the replica with the server's uuid once the hello
  // succeeds: the certificate (PEM) and its fingerprint. Empty over plain
  // TCP and with tls.caFile (a CA-issued certificate is renewed at will).
  std::string certificate;
  std::string fingerprint;
};

// Throws Error(kInvalidArgument) when the TLS options cannot work
// (plaintext with tls set, a tls.fingerprint that is not one).
void checkTls(const ClientOptions& options);

// Connects to `server` ("host:port") through `io`'s network (its timer
// bounds what TLS's probe leaves behind). `pinnedFingerprint` is the
// replica's pin (empty before first contact). Breaks as
// protocol::connectTls does;
// every failure is a hills error (protocol::toException) naming the server.
kj::Promise<ServerConnection> connectServer(kj::AsyncIoProvider& io, const ClientOptions& options,
                                            std::string server, std::string pinnedFingerprint);

// A hello that failed before the server answered it, told for people: over
// plain TCP, a server that closed the connection or sent what is not Cap'n
// Proto is most likely a TLS server.
kj::Exception explainHelloFailure(kj::Exception&& failure, const ClientOptions& options,
                                  const std::string& server);

}  // namespace hills::client
