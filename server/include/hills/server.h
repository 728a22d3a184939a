// The sync server: the authoritative database of a group of clients, served
// over Cap'n Proto RPC (schemas/hills/sync.capnp). hills-server is a thin
// program around it; tests and tools may embed it.
#pragma once

#include <kj/async-io.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "hills/database.h"
#include "hills/discovery.h"

namespace hills {

// One client the server knows, and what it may do.
struct ClientAccount {
  std::string name;
  std::string token;
  bool read = true;    // pull changes, subscribe, list borrows
  bool write = false;  // ids, push, check out, check in, release, new revision, lifecycle
  bool admin = false;  // break borrows
  // The trees the client may read (and, with write, write); empty: every
  // tree. A hello, a fetch or a request naming another tree is refused
  // (kDenied, naming the tree).
  std::vector<std::string> trees;
};

// The server's TLS identity: its certificate (then any intermediates) and
// its private key, as PEM text.
struct ServerTls {
  std::string certificate;
  std::string key;
  std::string certificateFile;  // where they were read from, for messages
  std::string keyFile;
};

// How the server answers LAN discovery (docs/ARCHITECTURE.md, "Discovery"):
// clients that look for `name` on UDP multicast learn its uuid, address and
// TLS fingerprint. Off while `name` is empty.
struct ServerDiscovery {
  std::string name;  // what clients ask for: ClientOptions::server = "discover:<name>"
  protocol::DiscoveryGroup where;  // the multicast group joined and its UDP port
  // The host clients are told to connect to. Empty: the host of the
  // listen address when it names one (not a wildcard such as 0.0.0.0),
  // else the address the reply leaves from, which the client sees.
  std::string advertise;
  // IPv4 address of the interface to join the group on; empty: the one
  // the kernel's route for the group leads to.
  std::string interface;

  bool operator==(const ServerDiscovery&) const = default;
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

  // Log compaction: an entry superseded by a later entry of the same
  // record (its data, or its borrow) is dropped once older than
  // logRetention (zero: as soon as it is superseded). Replicas at any
  // cursor still converge; what they no longer see is the values in
  // between. compactLog false keeps every entry.
  bool compactLog = true;
  std::chrono::seconds logRetention{std::chrono::hours(24 * 7)};

  // "host:port" of the HTTP endpoint (/metrics, /health); empty: none. The
  // program listens on it (SyncServer::serveHttp); it should be a
  // management address, not the clients' LAN. Changing it needs a restart.
  std::string httpListen;

  // LAN discovery; off unless discovery.name is set. The program serves
  // it (SyncServer::serveDiscovery). Changing it needs a restart.
  ServerDiscovery discovery;
};

// A histogram as Prometheus keeps one: counts[i] values at most bounds[i]
// (and above bounds[i-1]); the last count, values above every bound.
struct MetricHistogram {
  explicit MetricHistogram(std::vector<double> upperBounds = {})
      : bounds(std::move(upperBounds)), counts(bounds.size() + 1, 0) {}
  void observe(double value);

  std::vector<double> bounds;         // ascending
  std::vector<std::uint64_t> counts;  // bounds.size() + 1, per bucket (not cumulative)
  double sum = 0;
  std::uint64_t count = 0;
};

// What a SyncServer counts and holds, for monitoring. Counters only grow
// while the server lives; gauges are as of the call. docs/OPERATIONS.md
// names the Prometheus metric of each.
struct ServerMetrics {
  std::uint64_t connections = 0;     // open now, with or without a session
  std::uint64_t sessions = 0;        // connections that opened a session: connected clients
  std::uint64_t sessionsOpened = 0;  // valid hellos answered
  // Hellos and connections refused, by reason: every reason is present
  // (credentials, protocol, wrong_server, schema, hello_pending,
  // max_connections, max_connections_per_source, hello_timeout, trees).
  std::map<std::string, std::uint64_t> sessionsRefused;
  std::uint64_t sessionsClosedByReload = 0;  // their client was removed, its token changed...
  std::uint64_t writeRequests = 0;           // requests carried by durable commits
  std::uint64_t commits = 0;                 // durable commits
  std::uint64_t commitFailures = 0;          // write transactions that failed as a whole
  MetricHistogram requestsPerCommit;         // write requests per durable commit
  MetricHistogram commitSeconds;             // from the writer thread's start to durable
  std::uint64_t logSequence = 0;             // newest change-log entry committed
  std::uint64_t logEntries = 0;              // entries in the change log (LMDB's count)
  std::uint64_t logBytes = 0;                // bytes of the change log's pages
  std::uint64_t logDropped = 0;              // entries compaction dropped
  // Entries compaction has not read yet (0 with compactLog off): it reads
  // new entries a second after their commit, and a log it did not write (a
  // database from before compaction, or written by another program) in
  // durable steps of 4,096 entries after the server starts.
  std::uint64_t logCompactionPending = 0;
  std::uint64_t subscribers = 0;             // live subscriptions
  std::uint64_t subscriberLagMax = 0;        // entries committed and not yet applied, worst
  std::uint64_t subscriberLagSum = 0;        // the same, summed over subscribers
  std::uint64_t borrows = 0;                 // borrows held
  std::uint64_t bytesReceived = 0;           // on sync connections
  std::uint64_t bytesSent = 0;
  std::uint64_t reloads = 0;         // configurations applied by reload()
  std::uint64_t reloadFailures = 0;  // reloadFailed() calls
};

// Entries of a server database's change log that compaction has not read
// yet, as of `txn` (what ServerMetrics::logCompactionPending reports while
// compaction is on). Readable from another process, read-only. Throws
// Error(kCorrupt) when the database's record of that is damaged.
std::uint64_t logCompactionPending(const ReadTxn& txn);

// `metrics` in Prometheus' text exposition format (version 0.0.4): a
// "# HELP" and a "# TYPE" line per metric, then its samples.
std::string prometheusText(const ServerMetrics& metrics);

// Whether a SyncServer serves: ok when its database can be read, it
// accepts connections, and its last commit did not fail nor has one been
// waiting for the disk more than 30 s. `reason` says what is wrong.
struct ServerHealth {
  bool ok = false;
  std::string reason;
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
// or key, or a key that is not the certificate's, a discovery that
// checkDiscovery() refuses).
ServerConfig loadServerConfig(const std::string& path);

// Throws Error(kInvalidArgument), naming `where` and the member, unless
// `discovery` is off (no name) or can work: a name of at most
// protocol::kMaxDiscoveryText bytes without control characters, a group
// that is an IPv4 multicast address, a port other than 0, an interface
// that is empty or an IPv4 address, an advertised host without spaces,
// port or control characters.
void checkDiscovery(const ServerDiscovery& discovery, const std::string& where);

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

  // The counters and gauges above. Reads the database (LMDB's statistics of
  // the change log and the borrows: no scan). Throws Error(kStorage) when
  // LMDB fails.
  ServerMetrics metrics() const;

  // See ServerHealth. Never throws.
  ServerHealth health() const;

  // Serves HTTP on `receiver` until the promise is cancelled: GET /metrics
  // (prometheusText), GET /health (200 or 503, a line of text); other paths
  // 404, other methods 405. Bounded: at most 16 connections at once (more
  // are closed), a request's headers must arrive within 5 s, kj's limit on
  // their size. On this server's event loop; listen on a management
  // address. Call at most once.
  kj::Promise<void> serveHttp(kj::ConnectionReceiver& receiver);

  // Answers LAN discovery queries for config.discovery.name until the
  // promise is cancelled: each reply gives this server's uuid, the host
  // and `port` clients connect to (discovery.advertise, else `host`, the
  // listen address's, unless it is a wildcard such as 0.0.0.0: then none,
  // and clients use the address the reply comes from), its certificate's
  // fingerprint (empty over plain TCP) and the protocol version. The socket is made at the call: throws
  // Error(kInvalidArgument) when discovery is off or checkDiscovery()
  // refuses it, Error(kIo) when the group cannot be joined (no multicast
  // route or interface). Datagrams that are not a query of this version,
  // longer than protocol::kMaxDatagram or malformed are ignored; queries
  // for another name too. Replies are limited: 10 a second per source, 200
  // in all, 4096 sources remembered, so a flood costs bounded work and
  // memory; what was ignored or not answered is logged rate-limited. A failed
  // receive or send is logged and the responder goes on. Call at most once.
  kj::Promise<void> serveDiscovery(kj::LowLevelAsyncIoProvider& io, std::string host,
                                   std::uint16_t port);

  // Applies a configuration read again (SIGHUP): the clients, tokens and
  // permissions, and the limits. A session whose client is gone or whose
  // token changed is closed, as is one that may no longer read (its
  // subscription is a read); one whose other permissions changed goes on
  // and meets them from its next call. Limits apply from the next
  // connection, hello or commit that uses them (maxBytesInFlight: new
  // connections). What needs a restart (httpListen, tls, plaintext,
  // compactLog, discovery) keeps its value and is logged as such. Every change is logged.
  void reload(ServerConfig config);

  // Logs that a configuration could not be read again (`why`) and that the
  // one in force stays; counted in ServerMetrics::reloadFailures.
  void reloadFailed(std::string_view why);

  // Ends every connection (they see a disconnect) and waits for nothing:
  // everything acknowledged is committed already.
  void shutdown();

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace hills
