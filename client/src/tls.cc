// How the client reaches its server (client/src/tls.h).
#include "tls.h"

#include "hills/protocol.h"
#include "hills/tls.h"

namespace hills::client {

void checkTls(const ClientOptions& options) {
  const ClientTls& tls = options.tls;
  if (options.plaintext &&
      (!tls.caFile.empty() || !tls.serverName.empty() || !tls.fingerprint.empty())) {
    throw Error(ErrorCode::kInvalidArgument, "ClientOptions of client '" + options.name +
                                                 "' set plaintext and tls together: keep one");
  }
  if (!tls.fingerprint.empty()) protocol::normalFingerprint(tls.fingerprint);
}

kj::Promise<ServerConnection> connectServer(kj::AsyncIoProvider& io, const ClientOptions& options,
                                            std::string server, std::string pinnedFingerprint) {
  return io.getNetwork()
      .parseAddress(server, 7420)
      .then([&options, &io, server, pinned = std::move(pinnedFingerprint)](
                kj::Own<kj::NetworkAddress> address) -> kj::Promise<ServerConnection> {
        auto& ref = *address;
        if (options.plaintext) {
          return ref.connect()
              .then([](kj::Own<kj::AsyncIoStream> stream) {
                return ServerConnection{kj::mv(stream), {}, {}};
              })
              .attach(kj::mv(address));
        }
        protocol::TlsTrust trust;
        trust.caFile = options.tls.caFile;
        trust.serverName = options.tls.serverName;
        if (!options.tls.fingerprint.empty()) {
          trust.fingerprint = protocol::normalFingerprint(options.tls.fingerprint);
        }
        trust.pinnedFingerprint = pinned;
        bool pin = trust.caFile.empty();
        return protocol::connectTls(ref, server, std::move(trust), io.getTimer())
            .then([pin](protocol::TlsStream tls) {
              ServerConnection out{kj::mv(tls.stream), {}, {}};
              if (pin) {
                out.certificate = std::move(tls.certificate);
                out.fingerprint = std::move(tls.fingerprint);
              }
              return out;
            })
            .attach(kj::mv(address));
      });
}

kj::Exception explainHelloFailure(kj::Exception&& failure, const ClientOptions& options,
                                  const std::string& server) {
  if (!options.plaintext || protocol::carriesError(failure)) return kj::mv(failure);
  return protocol::toException(
      Error(ErrorCode::kOffline,
            "the server at " + server +
                " ended the connection before it answered the hello: it most likely requires TLS, "
                "and this client connects in plain text (ClientOptions::plaintext); " +
                failure.getDescription().cStr()));
}

}  // namespace hills::client
