// What SyncServer holds: its connections, the commit queue that groups the
// writes of concurrent requests into one durable transaction, and the live
// subscriptions it feeds from the change log.
#pragma once

#include <kj/async.h>
#include <kj/compat/tls.h>
#include <kj/function.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "connection.h"
#include "discovery.h"
#include "http_endpoint.h"
#include "metrics.h"
#include "peer_limits.h"
#include "snapshot.h"
#include "tree_scope.h"
#include "hills/protocol.h"
#include "hills/server.h"
#include "writer.h"

namespace hills {

namespace server {

// One live subscription: the listener and how far it got.
struct Subscriber {
  sync::Listener::Client listener;
  std::string client;
  TreeScope scope;            // the trees its session follows
  std::uint64_t sent = 0;     // newest sequence sent
  std::uint64_t applied = 0;  // newest sequence the client said it applied
  unsigned inFlight = 0;      // batches sent and not yet returned
  bool dead = false;
  // The newest batch's answer, let go when the next batch is sent (see
  // SyncServer::Impl::pump).
  kj::Maybe<capnp::Response<sync::Listener::ChangesResults>> answered;
};

using protocol::translated;

using protocol::toKj;

// A source's failed hellos are forgotten after a quiet minute, or after
// twice the longest delay when that is longer.
inline kj::Duration failureMemory(const ServerConfig& config) {
  return std::max(60 * kj::SECONDS, 2 * toKj(config.helloDelayMax));
}

// What fillChanges put in a list.
struct Filled {
  std::uint64_t count = 0;    // entries in the list
  std::uint64_t through = 0;  // the list covers the log up to there
  std::uint64_t words = 0;    // the entries' size, in words

  // What a message holding the list and a few fields beside it takes: a
  // size hint, so that its first segment fits it (without a hint, Cap'n
  // Proto allocates and zeroes 8 KiB for each call and answer).
  capnp::MessageSize messageSize() const { return {words + count + 16, 0}; }
};

// Fills `init(filled)` with the change-log entries after `after` of the
// trees `scope` follows: of at most `maxCount` entries read, and no more
// than 16 MiB unless the first entry alone is larger. `through` is the
// last entry read, or the log's last sequence when the log ended first, so
// entries of other trees move a cursor on all the same. `init` makes the
// list of `filled.count` entries, in a message of `filled.messageSize()`.
template <class Init>
Filled fillChanges(const ReadTxn& txn, std::uint64_t after, std::uint64_t maxCount,
                   const TreeScope& scope, Init&& init) {
  constexpr std::uint64_t kBatchWords = std::uint64_t{2} << 20;
  std::uint64_t read = 0;
  Filled out{0, after, 0};
  if (maxCount > 0) {
    bool stopped = false;
    txn.changes(after, [&](wire::Change::Reader change) {
      if (scope.follows(change.getTree().cStr())) {
        std::uint64_t size = change.totalSize().wordCount;
        if (out.count > 0 && out.words + size > kBatchWords) return !(stopped = true);
        out.words += size;
        ++out.count;
      }
      out.through = change.getSequence();
      return !(stopped = ++read >= maxCount);
    });
    if (!stopped) out.through = std::max(out.through, txn.lastSequence());
  }
  auto list = init(std::as_const(out));
  std::uint64_t filled = 0;
  if (out.count > 0) {
    txn.changes(after, [&](wire::Change::Reader change) {
      if (scope.follows(change.getTree().cStr())) {
        list.setWithCaveats(static_cast<unsigned>(filled++), change);
      }
      return filled < out.count;
    });
  }
  KJ_ASSERT(filled == out.count, "the change log changed while read", after, out.count, filled);
  return out;
}

}  // namespace server

struct SyncServer::Impl final : public kj::TaskSet::ErrorHandler {
  Impl(Database& db, ServerConfig config, kj::Timer& timer,
       std::function<void(std::string_view)> log);

  Database& db;
  ServerConfig config;
  kj::Timer& timer;
  std::function<void(std::string_view)> log;
  std::uint64_t lastSequence = 0;  // newest change-log entry committed
  std::uint64_t commits = 0;       // durable commits made
  std::uint64_t requests = 0;      // write requests they carried
  std::uint64_t logDropped = 0;    // change-log entries compaction dropped
  server::Counters counters;       // the rest of what metrics() reports; outlives the connections
  bool listening = false;          // listen() was called
  bool acceptFailing = false;      // the last accept() failed
  std::string lastCommitFailure;   // why the last commit failed; empty when it did not
  std::optional<std::chrono::steady_clock::time_point> commitStarted;  // of the batch on the writer

  // Commits fn with the other writes queued meanwhile: one durable
  // transaction for all of them, run on the writer thread (so fn must work
  // on copies of request data). The promise resolves after the commit; it
  // is rejected when the transaction failed as a whole.
  // `request` false: the server's own work (compaction), not counted as a
  // write request.
  kj::Promise<void> commit(kj::Function<void(WriteTxn&)> fn, bool request = true);

  // Adds a subscriber and sends it what it lacks.
  std::shared_ptr<server::Subscriber> subscribe(sync::Listener::Client listener, std::string client,
                                                server::TreeScope scope, std::uint64_t after);
  void unsubscribe(const std::shared_ptr<server::Subscriber>& sub);

  // A new connection: the limits, then (with TLS) the handshake, then its
  // RPC session.
  void accept(kj::Own<kj::AsyncIoStream> stream);
  // Connections in their TLS handshake.
  std::size_t handshaking() const { return handshakes_; }
  // accept() failed: logged, and accepting resumes after config.acceptRetry.
  kj::Promise<void> acceptFailed(kj::Exception&& exception);
  void taskFailed(kj::Exception&& exception) override;

  // Writes a refusal or failure line, at most config.logBurst per `source`
  // and `kind` in each config.logWindow (server::LogLimiter).
  void refusal(std::string_view source, std::string_view kind, std::string_view text);

  // Closes a connection in a later turn (the call that decides it is still
  // running on it).
  void close(std::uint64_t id);

  // Ends every connection and subscription.
  void shutdown();

  // Log compaction (compaction.h): a bounded step in the commit queue,
  // with the clients' writes, once a second, and at once again while a
  // step leaves work.
  kj::Promise<void> compactLater();
  void compactStep();

  // SyncServer::reload (reload.cc).
  void reload(ServerConfig next);
  // Closes the session of connection `id` because of a reload, logging why.
  void closeForReload(const server::ConnectionState& conn, const std::string& why);

  const std::vector<std::shared_ptr<server::Subscriber>>& subscribers() const {
    return subscribers_;
  }

  std::map<std::uint64_t, kj::Own<server::Connection>> connections;  // by ConnectionState::id
  server::Sources sources;
  server::Spooler spooler{db, timer};
  bool shuttingDown = false;
  kj::Own<kj::TlsContext> tls;  // null: plain TCP (config.plaintext)
  kj::TaskSet tasks{*this};     // after tls: handshakes in it use the context

 private:
  struct Work {
    kj::Function<void(WriteTxn&)> run;
    kj::Own<kj::PromiseFulfiller<void>> done;
    bool request = true;  // a client's, counted as a write request
  };
  void flush();
  void committed(std::vector<Work> batch, kj::Maybe<kj::Exception> failure);
  void pump(const std::shared_ptr<server::Subscriber>& sub);
  void pumpAll();
  void closed(std::uint64_t id);
  // Gives a connection (TLS already, when configured) its RPC session,
  // which must say hello before `deadline`.
  void open(kj::Own<kj::AsyncIoStream> stream, std::shared_ptr<server::ConnectionState> state,
            kj::TimePoint deadline);

  std::vector<Work> queue_;
  bool flushScheduled_ = false;
  bool writing_ = false;  // a batch is on the writer thread
  std::uint64_t nextConnection_ = 1;
  std::size_t handshakes_ = 0;
  kj::Own<kj::TlsKeypair> tlsIdentity_;
  server::Writer writer_;
  std::vector<std::shared_ptr<server::Subscriber>> subscribers_;
  server::LogLimiter logLimit_;
  bool logFlushScheduled_ = false;

 public:
  // serveHttp(); last, so it goes first, before what it reads.
  kj::Maybe<kj::Own<server::HttpEndpoint>> http;
  // serveDiscovery(); as the endpoint.
  kj::Maybe<kj::Own<server::DiscoveryResponder>> discovery;
};

// The bootstrap capability of a new connection.
// The Session a valid hello opens for `account`, following `scope`
// (session.cc).
kj::Own<sync::Session::Server> newSession(SyncServer::Impl& server,
                                          std::shared_ptr<server::ConnectionState> conn,
                                          std::shared_ptr<ClientAccount> account,
                                          server::TreeScope scope);

capnp::Capability::Client newGate(SyncServer::Impl& server,
                                  std::shared_ptr<server::ConnectionState> conn);

}  // namespace hills
