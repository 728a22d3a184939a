// LAN discovery of hills-server over UDP multicast: the datagrams of
// schemas/hills/discovery.capnp, read and written, the sockets both sides
// send them on, and the search for the server "discover:NAME" names (a
// Client's server, the `hills` command's --server). A reply tells where a
// server is; it proves nothing (anyone on the LAN can send one): the
// client verifies the server it then connects to as it verifies any other
// (TLS, pinned uuid).
#pragma once

#include <kj/async-io.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace hills::protocol {

// Where discovery happens unless configured otherwise: an administratively
// scoped IPv4 group (RFC 2365, the local scope 239.255.0.0/16) and the UDP
// port of the same number as the sync port.
inline constexpr const char* kDiscoveryGroup = "239.255.74.20";
inline constexpr std::uint16_t kDiscoveryPort = 7420;

// The largest datagram either side sends or reads; anything longer is
// ignored unread. Names and hosts are at most kMaxDiscoveryText bytes.
inline constexpr std::size_t kMaxDatagram = 1024;
inline constexpr std::size_t kMaxDiscoveryText = 200;

// A multicast group and UDP port.
struct DiscoveryGroup {
  std::string group = kDiscoveryGroup;  // dotted IPv4, in 224.0.0.0/4
  std::uint16_t port = kDiscoveryPort;
  std::string toString() const { return group + ":" + std::to_string(port); }
  bool operator==(const DiscoveryGroup&) const = default;
};

// Whether `text` is a dotted IPv4 address.
bool isIpv4(const std::string& text);

// Why `group` (dotted IPv4) cannot be a discovery group: not an IPv4
// address, or not a multicast one (224.0.0.0/4). Empty when it can.
std::string whyNotGroup(const std::string& group);

// Why `name` cannot name a server for discovery: empty, longer than
// kMaxDiscoveryText, or holding a control character. Empty when it can.
std::string whyNotName(const std::string& name);

struct DiscoveryQuery {
  std::string name;
  std::uint64_t nonce = 0;
};

struct DiscoveryReply {
  std::uint64_t nonce = 0;
  std::string name;
  std::string uuid;
  std::string host;  // empty: the address the reply came from
  std::uint16_t port = 0;
  std::string fingerprint;  // empty: plain TCP
  std::uint32_t protocol = 0;
};

// The datagram of a query or a reply. Throws Error(kInvalidArgument) when
// it would be longer than kMaxDatagram (texts too long).
std::vector<std::byte> encodeQuery(const DiscoveryQuery& query);
std::vector<std::byte> encodeReply(const DiscoveryReply& reply);

// The query or reply a datagram holds; nullopt for anything else: another
// magic or version, the other kind, a datagram longer than kMaxDatagram or
// not a whole number of words, a malformed message, texts too long. Reads
// with a traversal limit of the datagram's size and a nesting limit of 4;
// never throws for what the bytes hold.
std::optional<DiscoveryQuery> decodeQuery(kj::ArrayPtr<const kj::byte> datagram);
std::optional<DiscoveryReply> decodeReply(kj::ArrayPtr<const kj::byte> datagram);

// A UDP socket for discovery: kj's port, for receiving and for replies to
// a datagram's source, and its descriptor, for queries to the group (kj's
// Network refuses multicast destinations: its default filter blocks the
// reserved ranges).
struct DiscoverySocket {
  kj::Own<kj::DatagramPort> port;
  int fd = -1;  // owned by `port`
};

// A UDP socket for discovery on the event loop of `io`. With `serve`, it
// is bound to `where.port` on every address (SO_REUSEADDR: servers on one
// host share the port) and joins `where.group`; otherwise it is bound to a
// free port and sends queries. What it sends does not leave the link (a
// TTL of 1, unicast and multicast alike) and its multicast loops back to
// this host. `interface` (dotted IPv4; empty: the one the kernel's route
// for the group leads to) is where it joins and sends multicast. Throws
// Error(kIo) naming the step that failed (no multicast route: "No such
// device"), Error(kInvalidArgument) for a group or interface that is not
// one.
DiscoverySocket openDiscoveryPort(kj::LowLevelAsyncIoProvider& io, const DiscoveryGroup& where,
                                  const std::string& interface, bool serve);

// Sends `datagram` to the group of `where` from `socket`, without waiting:
// a datagram the socket has no room for now is dropped, as the network
// may drop it (queries are sent again). Throws Error(kIo) naming the
// group when the kernel refuses it (no route to the group).
void sendToGroup(const DiscoverySocket& socket, const DiscoveryGroup& where,
                 const std::vector<std::byte>& datagram);

// --- finding a server: what "discover:NAME" asks -------------------------

// What "discover:NAME" or "discover:NAME@GROUP:PORT" names.
struct DiscoveryTarget {
  std::string name;
  DiscoveryGroup where;  // the default group and port unless given
};

// The target `server` names; nullopt when it does not start with
// "discover:" (a "host:port"). Throws Error(kInvalidArgument) for one that
// does and is malformed: no name, a name whyNotName refuses, a group that
// is not IPv4 multicast, a port that is not 1 to 65535.
std::optional<DiscoveryTarget> discoveryTarget(const std::string& server);

// How the caller will speak to the server it finds.
enum class DiscoveryTransport { kAny, kPlainTcp, kTls };

// What a discovery reply must show to be taken: the pinned uuid, the
// fingerprint the caller expects (empty: any), and the transport the
// caller speaks: a server that advertises a certificate is not one a
// plain-TCP caller can talk to, nor one that advertises none a TLS caller.
struct DiscoveryPins {
  std::string uuid;
  std::string fingerprint;
  DiscoveryTransport transport = DiscoveryTransport::kAny;
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
// error (toException) kOffline at the timeout: 'no hills-server named
// "NAME" answered on GROUP:PORT within N ms', followed by what was ignored
// and why; kIo when the query cannot be sent (no multicast route). Runs on
// the event loop of `io`, which must outlive the promise.
kj::Promise<Discovered> discover(kj::AsyncIoContext& io, DiscoveryTarget target, DiscoveryPins pins,
                                 kj::Duration timeout);

}  // namespace hills::protocol
