// The sync server: the authoritative database of a group of clients, served
// over Cap'n Proto RPC (schemas/hills/sync.capnp). hills-server is a thin
// program around it; tests and tools may embed it.
#pragma once

#include <kj/async-io.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "hills/database.h"

namespace hills {

// One client the server knows, and what it may do.
struct ClientAccount {
  std::string name;
  std::string token;
  bool read = true;    // pull changes, subscribe, list borrows
  bool write = false;  // ids, push, check out, check in, release, new revision, lifecycle
  bool admin = false;  // break borrows
};

// The server's TLS identity: its certificate (then any intermediates) and
// its private key, as PEM text.
struct ServerTls {
  std::string certificate;
  std::string key;
  std::string certificateFile;  // where they were read from, for messages
  std::string keyFile;
};

struct ServerConfig {
  std::vector<ClientAccount> clients;

  // Encryption: exactly one of the two. With tls every connection is a TLS
  // connection (kj-tls) and clients verify the certificate; plaintext
  // serves unencrypted TCP, for a network the administrator trusts, and
  // must be said explicitly. SyncServer refuses a configuration with
  // neither or both (Error(kInvalidArgument) saying what to add).
  std::optional<ServerTls> tls;
  bool plaintext = false;

  std::uint64_t idBlock = 4096;                   // most ids granted at a time, per client and tree
  std::uint32_t batchChanges = 8192;              // change-log entries per message to a subscriber
  std::size_t maxConnections = 1024;              // more are closed at once
  std::chrono::milliseconds helloTimeout{10000};  // a connection without a hello is closed

  // What one peer can make the server hold. A source is a peer's address
  // without its port; limits on a source count all its connections.
  std::size_t maxConnectionsPerSource = 64;  // more from one source are closed at once
  // After a failed hello, the next hello from that source is answered no
  // sooner than helloDelay later, doubling with each failure up to
  // helloDelayMax; a source's failures are forgotten after a quiet minute
  // (or twice helloDelayMax, if longer). A connection is closed after
  // maxHelloFailures failed hellos.
  std::uint32_t maxHelloFailures = 5;
  std::chrono::milliseconds helloDelay{200};
  std::chrono::milliseconds helloDelayMax{10000};
  // Bytes of calls a session may have unanswered: past it, the server
  // reads no more of that connection until answers go out (Cap'n Proto's
  // flow limit). One message may go over it by up to its own size.
  std::uint64_t maxBytesInFlight = std::uint64_t{16} << 20;
  // After accept() failed (out of descriptors), accepting resumes after it.
  std::chrono::milliseconds acceptRetry{100};
  // Refusal and failure lines: at most logBurst per source and kind in each
  // logWindow; the rest are counted, and one line says how many.
  std::uint32_t logBurst = 5;
  std::chrono::milliseconds logWindow{10000};
};

// Reads a server configuration written as JSON (schemas/hills/config.capnp):
//   {"clients": [{"name": "line-3", "token": "...", "write": true}],
//    "tls": {"certificateFile": "/etc/hills/server.crt", "keyFile": "/etc/hills/server.key"}}
// and the certificate and key files it names (relative paths are taken
// from the configuration's directory). Throws Error(kIo) when the file
// cannot be read, kInvalidArgument naming the file and what is wrong (not
// JSON of that shape, a client without a name or token, a name given twice,
// neither tls nor "plaintext": true, or both, a tls without both files, a
// certificate or key file that cannot be read or holds no PEM certificate
// or key, or a key that is not the certificate's).
ServerConfig loadServerConfig(const std::string& path);

// Throws Error(kInvalidArgument), naming `where`, unless `config` says
// exactly one of tls and plaintext, and its tls identity (if any) is a
// PEM certificate with its own key.
void checkTransport(const ServerConfig& config, const std::string& where);

// The SHA-256 fingerprint of the server's certificate ("sha256:" and 64
// hex digits), which clients may be given to pin.
std::string certificateFingerprint(const ServerTls& tls);

// Options of the server's own database: it owns the ids, keeps the change
// log, writes durably, and keeps the authority's tables (borrows, id
// grants) through its write hook. Add trees, indexers or hooks to them;
// keep the rest.
Options serverDatabaseOptions();

// Serves one database. Runs on the thread of the kj event loop that calls
// listen(); not thread-safe (everything happens on that loop).
class SyncServer {
 public:
  // `db` must have been opened with serverDatabaseOptions() (or options
  // made from them), and `config` must pass checkTransport():
  // Error(kInvalidArgument) otherwise. With config.tls, each connection is
  // checked against the limits first (maxConnections, per source), then
  // its TLS handshake runs, bounded by config.helloTimeout; a failed
  // handshake closes it and is logged as a refusal. `log` receives one
  // line per session, refusal and admin action; refusals and failures at
  // most config.logBurst per source and reason in each config.logWindow,
  // then one line counting the rest. `timer` (the event loop's) bounds how
  // long a connection may take to say hello, and times the delays after
  // failed hellos.
  SyncServer(Database& db, ServerConfig config, kj::Timer& timer,
             std::function<void(std::string_view)> log);
  ~SyncServer();
  SyncServer(const SyncServer&) = delete;
  SyncServer& operator=(const SyncServer&) = delete;

  // Accepts connections until the promise is cancelled; each connection
  // gets its own RPC session. A connection that sends something malformed,
  // too large or too deeply nested is closed and logged; others go on. A
  // failed accept (out of descriptors) is logged and tried again after
  // config.acceptRetry; the promise does not end on it.
  kj::Promise<void> listen(kj::ConnectionReceiver& receiver);

  // Connections open now.
  std::size_t connections() const;

  // Ends every connection (they see a disconnect) and waits for nothing:
  // everything acknowledged is committed already.
  void shutdown();

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace hills
