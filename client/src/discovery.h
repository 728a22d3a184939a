// How a client finds its server on the LAN: ClientOptions::server =
// "discover:NAME" asks the multicast group for the server named NAME
// before every connection attempt (docs/ARCHITECTURE.md, "Discovery").
#pragma once

#include <kj/async-io.h>

#include <optional>
#include <string>

#include "hills/discovery.h"

namespace hills::client {

// What "discover:NAME" or "discover:NAME@GROUP:PORT" names.
struct DiscoveryTarget {
  std::string name;
  protocol::DiscoveryGroup where;  // the default group and port unless given
};

// The target `server` names; nullopt when it does not start with
// "discover:" (a "host:port"). Throws Error(kInvalidArgument) for one that
// does and is malformed: no name, a name protocol::whyNotName refuses, a
// group that is not IPv4 multicast, a port that is not 1 to 65535.
std::optional<DiscoveryTarget> discoveryTarget(const std::string& server);

// What a discovery reply must show to be taken: the pinned uuid, the
// fingerprint the client expects (given, else pinned; empty: any).
struct DiscoveryPins {
  std::string uuid;
  std::string fingerprint;
};

// The server a discovery found.
struct Discovered {
  std::string address;      // "host:port" to connect to
  std::string uuid;         // as it claims: verified by the hello, not here
  std::string fingerprint;  // as it advertises: verified by TLS, not here
};

// Sends the query at once and again every timeout / 4 (a datagram may be
// lost), and resolves with the first reply to it that names target.name
// and matches `pins`; replies of other servers, to older queries, or
// showing another uuid or fingerprint are ignored. Rejects with a hills
// error (protocol::toException) kOffline at the timeout: 'no hills-server
// named "NAME" answered on GROUP:PORT within N ms', followed by what was
// ignored and why; kIo when the query cannot be sent (no multicast route).
kj::Promise<Discovered> discover(kj::AsyncIoContext& io, DiscoveryTarget target, DiscoveryPins pins,
                                 kj::Duration timeout);

}  // namespace hills::client
