// Where the sync engine connects: the server as configured, or the address
// that LAN discovery finds for a "discover:NAME" (hills/discovery.h).
#include "client_impl.h"
#include "hills/discovery.h"
#include "hills/tls.h"

namespace hills {

// Resolved before every attempt, so a server that moved is found again.
kj::Promise<std::string> SyncEngine::locate(std::string server) {
  return kj::evalNow([&]() -> kj::Promise<std::string> {
    auto target = protocol::discoveryTarget(server);
    if (!target) {
      std::lock_guard lock(client_.mutex);
      client_.state.serverAddress = server;
      return server;
    }
    // A reply proves nothing: it only spares connecting to a server the
    // hello or TLS would refuse anyway.
    protocol::DiscoveryPins pins;
    pins.transport = client_.options.plaintext ? protocol::DiscoveryTransport::kPlainTcp
                                               : protocol::DiscoveryTransport::kTls;
    client_.db.read([&](const ReadTxn& txn) {
      pins.uuid = client_.replica->pinnedServer(txn);
      if (!client_.options.plaintext && client_.options.tls.caFile.empty()) {
        pins.fingerprint = client_.replica->pinnedFingerprint(txn);
      }
    });
    if (!client_.options.tls.fingerprint.empty()) {
      pins.fingerprint = protocol::normalFingerprint(client_.options.tls.fingerprint);
    }
    return protocol::discover(io_, *target, std::move(pins),
                            protocol::toKj(client_.options.discoveryTimeout))
        .then([this](protocol::Discovered found) {
          std::lock_guard lock(client_.mutex);
          client_.state.serverAddress = found.address;
          return found.address;
        });
  });
}

}  // namespace hills
