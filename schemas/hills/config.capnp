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
}

struct Client {
  name @0 :Text;
  token @1 :Text;
  read @2 :Bool = true;
  write @3 :Bool = false;
  admin @4 :Bool = false;
}
