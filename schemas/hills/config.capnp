# hills-server's configuration, written as JSON (Cap'n Proto's JSON codec):
#   {"clients": [{"name": "bench-1", "token": "s3cret", "write": true}]}
@0xffe9777b89fda7c3;

using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("hills::config");

struct ServerConfig {
  clients @0 :List(Client);
  idBlock @1 :UInt64 = 4096;        # most ids a client gets at a time, per tree
  batchChanges @2 :UInt32 = 8192;   # change-log entries per message to a subscriber
  maxConnections @3 :UInt32 = 1024; # more are closed at once
  helloTimeoutMs @4 :UInt32 = 10000; # a connection without a valid hello is closed after it

  # Limits on what one peer can make the server hold (docs/ARCHITECTURE.md,
  # "Server limits"). A source is a peer's address without its port.
  maxConnectionsPerSource @5 :UInt32 = 64;  # more from one source are closed at once
  maxHelloFailures @6 :UInt32 = 5;          # failed hellos after which a connection is closed
  helloDelayMs @7 :UInt32 = 200;            # wait before the answer after a source's failed hello; doubles
  helloDelayMaxMs @8 :UInt32 = 10000;       # the most it grows to
  maxBytesInFlight @9 :UInt64 = 16777216;   # bytes of calls a session may have unanswered before reading stops
  acceptRetryMs @10 :UInt32 = 100;          # wait before accepting again after accept failed (out of descriptors)
  logBurst @11 :UInt32 = 5;                 # refusal lines per source and kind per window; the rest are counted
  logWindowMs @12 :UInt32 = 10000;

  # Encryption (docs/OPERATIONS.md, "TLS"). A server with no tls refuses to
  # start unless plaintext says, explicitly, that it serves clear text.
  tls @13 :Tls;
  plaintext @14 :Bool = false;

  # "host:port" of the HTTP endpoint with /metrics (Prometheus) and /health;
  # empty: no endpoint.
  httpListen @15 :Text;

  # Log compaction (docs/ARCHITECTURE.md, "Log compaction"): an entry that a
  # later entry of the same record made useless is dropped once it is older
  # than logRetentionS (0: at once). compactLog false keeps every entry.
  logRetentionS @16 :UInt32 = 604800;
  compactLog @17 :Bool = true;

  # LAN discovery (docs/OPERATIONS.md, "Discovery"): the server answers
  # clients that look for it by name on UDP multicast. Off unless
  # discovery.name is set.
  discovery @18 :Discovery;
}

struct Discovery {
  name @0 :Text;                     # clients find the server with server = "discover:<name>"
  group @1 :Text = "239.255.74.20";  # the IPv4 multicast group the server joins
  port @2 :UInt16 = 7420;            # the UDP port queries are sent to
  advertise @3 :Text;                # the host clients connect to; empty: see OPERATIONS.md
  interface @4 :Text;                # IPv4 address of the interface to join on; empty: the route's
}

struct Tls {
  certificateFile @0 :Text;  # PEM: the server's certificate, then any intermediates
  keyFile @1 :Text;          # PEM: its private key
}

struct Client {
  name @0 :Text;
  token @1 :Text;
  read @2 :Bool = true;
  write @3 :Bool = false;
  admin @4 :Bool = false;
  trees @5 :List(Text);  # the trees the client may read (and write, with write); empty: every tree
}
