# LAN discovery of hills-server: one UDP datagram each way, a single-segment
# Cap'n Proto message written flat. A client sends a Query to the multicast
# group (239.255.74.20:7420 unless configured otherwise); every server whose
# name is asked for answers with a Reply, unicast to the query's source.
# Nothing in a reply is trusted: the client connects, verifies TLS and the
# pinned uuid as with an address it was given (docs/ARCHITECTURE.md,
# "Discovery").
@0xfcb9e260d18c0976;

using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("hills::discovery");

# The first field of every datagram: a datagram without it is not ours.
const magic :UInt32 = 0x68696c6c;  # "hill"
# The discovery format's version; a datagram of another is ignored.
const version :UInt16 = 1;

struct Datagram {
  magic @0 :UInt32;
  version @1 :UInt16;
  union {
    query @2 :Query;
    reply @3 :Reply;
  }
}

struct Query {
  name @0 :Text;     # the server asked for (ServerConfig's discovery.name)
  nonce @1 :UInt64;  # echoed by the reply: answers to an older query are ignored
}

struct Reply {
  nonce @0 :UInt64;
  name @1 :Text;
  uuid @2 :Text;         # the server's database uuid
  host @3 :Text;         # empty: connect to the address the reply came from
  port @4 :UInt16;       # of the sync connection (TCP)
  fingerprint @5 :Text;  # of its TLS certificate ("sha256:..."); empty: plain TCP
  protocol @6 :UInt32;   # sync.protocolVersion of the server
}
