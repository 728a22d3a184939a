// The state behind hills::Client, shared by the application's threads and
// the sync thread, and the sync engine that runs on that thread.
#pragma once

#include <capnp/rpc-twoparty.h>
#include <kj/async-io.h>
#include <kj/mutex.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "hills/client.h"
#include "hills/protocol.h"
#include "replica.h"

namespace hills {

class SyncEngine;
namespace client {
struct ServerConnection;
}

struct Client::Impl {
  Impl(const std::string& path, ClientOptions options);

  ClientOptions options;  // server and token guarded by `mutex` (connectTo)

  // The replica's rules and tables, the database's write hook.
  std::shared_ptr<client::Replica> replica;

  // Wakes the engine's push loop (from any thread; the replica calls it
  // after commits that queue outbox entries, so it comes before `db`).
  void wake();
  // On the sync thread: resolves at the next wake().
  kj::Promise<void> nextWake();
  std::mutex wakeMutex;
  kj::Own<kj::CrossThreadPromiseFulfiller<void>> wakeFulfiller;
  bool wakePending = true;  // push whatever the outbox held at start

  Database db;

  // Guards status and the engine pointer; `changed` is notified whenever
  // the engine applied, settled or connected.
  mutable std::mutex mutex;
  std::condition_variable changed;
  ClientStatus state;           // outbox and idsLeft are filled by status()
  std::uint64_t lastAcked = 0;  // newest server sequence of an acknowledged push
  SyncEngine* engine = nullptr;
  const kj::Executor* executor = nullptr;
  kj::Own<const kj::CrossThreadPromiseFulfiller<void>> stop;
  bool started = false;

  // Before a change the server makes to `key` for this client: checks in
  // this client's edits of it and waits until nothing of it is left in the
  // outbox. Throws kOffline at the call timeout.
  void pushFirst(const OpaqueKey& key);

  // Waits until this replica applied the server's change `sequence`.
  void waitApplied(std::uint64_t sequence);

  // Runs fn on the sync thread (it returns a promise) and waits for its
  // result; a kj::Exception becomes the hills::Error it stands for.
  template <class F>
  auto onSyncThread(F&& fn);

  // After a session ended: the next session pushes whatever the outbox
  // holds, and a wake-up meant for the old one is not lost.
  void rearmWake();

  // Throws kInvalidArgument on the sync thread (an event subscriber), where
  // a call that waits for the sync engine would wait for itself.
  void requireOtherThread(std::string_view what) const;

  // The names of the trees the replica follows (ClientOptions::replicate).
  std::vector<std::string> treeNames() const;

  // Client::fetch and fetchNewest (read_cache.cc): one answer per key.
  std::vector<std::optional<FetchedRecord>> fetch(const std::vector<OpaqueKey>& keys,
                                                  bool newest);

  // On a replica that never reached its server: claims a block of ids of
  // each tree that has none (ClientOptions::idBlock), so records can be
  // created offline from the first start.
  void claimFirstIds();

  // The server to connect to and the token to say, as connectTo() last set them.
  std::pair<std::string, std::string> target() const;

  void run();  // the sync thread's body
  std::thread thread;
  std::thread::id syncThread;
};

// Runs on the sync thread: connects, says hello, follows the server's
// change log, pushes the outbox, keeps id ranges topped up, reconnects.
class SyncEngine {
 public:
  SyncEngine(Client::Impl& client, kj::AsyncIoContext& io);
  ~SyncEngine();

  // Connects and reconnects until cancelled.
  kj::Promise<void> run();

  kj::Promise<std::pair<BorrowInfo, std::uint64_t>> checkOut(OpaqueKey key);
  kj::Promise<std::uint64_t> release(OpaqueKey key);
  kj::Promise<std::pair<std::uint32_t, std::uint64_t>> newRevision(OpaqueKey key);
  kj::Promise<std::uint64_t> setLifecycle(OpaqueKey key, std::uint32_t lifecycle);
  kj::Promise<std::pair<BorrowInfo, std::uint64_t>> breakBorrow(OpaqueKey key);
  kj::Promise<std::uint64_t> lastSequence();
  // Grants until `tree` has at least `count` ids left; resolves to the ids
  // left (id_grants.cc).
  kj::Promise<std::uint64_t> reserveIds(std::string tree, std::uint64_t count);
  // Reads a record from the server (Session.fetch); empty when it has none
  // (read_cache.cc).
  kj::Promise<std::vector<std::optional<FetchedRecord>>> fetch(std::vector<OpaqueKey> keys,
                                                               bool newest);

  // Ends the session and connects again at once, to what Impl::target()
  // says now, forgetting a refusal.
  void restart();

  // Applies a batch of the server's change log (the listener's call),
  // which covers the log up to `through` (0: its last entry).
  void apply(capnp::List<wire::Change>::Reader changes, std::uint64_t after, std::uint64_t last,
             std::uint64_t through);
  // Ends the session (the listener failed); run() reconnects.
  void drop(const std::string& why);

 private:
  struct Session;
  // The "host:port" to connect to: `server` itself, or the address
  // discovery finds for a "discover:NAME" (hills/discovery.h).
  kj::Promise<std::string> locate(std::string server);
  kj::Promise<void> connectOnce(std::string server, std::string token);
  kj::Promise<void> idle();  // until restart()
  void ended(const kj::Exception* failure);
  // The server answered the hello: pins it (uuid, and the TLS certificate
  // of `connection` when it is to be pinned), declares its trees.
  kj::Own<Session> welcomed(kj::Own<Session> session,
                            const client::ServerConnection& connection,
                            sync::Gate::HelloResults::Reader answer);
  kj::Promise<void> startSession(kj::Own<Session> session);
  // Asks the server about the replica's pending id claims: confirmed,
  // they become ordinary ranges; refused, the records made from them move
  // to ids the server grants (renumber). Without the write permission the
  // claims' unused ids are dropped instead.
  kj::Promise<void> settleClaims();
  kj::Promise<void> settleClaim(client::IdClaim claim);
  // Gives up a refused claim once `fresh` (granted ranges) holds an id for
  // each of its records, asking for more ranges until it does.
  kj::Promise<void> renumber(client::IdClaim claim, client::IdRanges fresh);
  // A replica that has applied nothing of a server that has changes
  // starts from its snapshot (bootstrap.cc).
  kj::Promise<void> bootstrap();
  // A replica opened with trees it did not follow before takes a snapshot
  // of them (bootstrap.cc).
  kj::Promise<void> addTrees();
  void treesAdded();
  kj::Promise<void> readSnapshot(sync::Snapshot::Client snapshot, std::uint64_t sequence);
  struct SnapshotStream;
  kj::Promise<void> storeParts(kj::Own<SnapshotStream> stream);
  void applyParts(const std::vector<capnp::Response<sync::Snapshot::NextResults>>& parts,
                  std::uint64_t sequence);
  kj::Promise<void> pushLoop();
  kj::Promise<bool> pushOnce();
  // Settles the answered pushes (Replica::answered) that no applied batch
  // took along, in a commit of their own.
  void settleAnswers();
  // After a commit that settled `settled` answered pushes.
  void answersSettled(std::size_t settled);
  // Asks for idBlock more ids of each tree that has fewer than idLowWater.
  kj::Promise<void> topUp();
  // One grant of at most `count` ids of `tree` (the server caps it at its
  // idBlock), stored as a range.
  kj::Promise<void> grantRange(std::string tree, std::uint64_t count);
  sync::Session::Client& session();
  template <class T>
  kj::Promise<T> timed(kj::Promise<T> promise);
  void setConnected(bool connected, const std::string& error = {});

  Client::Impl& client_;
  kj::AsyncIoContext& io_;
  kj::Maybe<kj::Own<Session>> session_;
  kj::Own<kj::PromiseFulfiller<void>> dropped_;
  std::chrono::milliseconds backoff_;
  bool everConnected_ = false;
  bool mayWrite_ = false;  // the server's configuration lets this client write
  // The trees of the snapshot being stored when it is of trees added to
  // the replica (addTrees); empty: a fresh replica's, every tree in it.
  std::vector<std::string> adding_;
  kj::Own<kj::PromiseFulfiller<void>> resume_;  // idle(): fulfilled by restart()
};

template <class T>
kj::Promise<T> SyncEngine::timed(kj::Promise<T> promise) {
  // A server that does not answer in time is as good as none: kOffline,
  // as the calls that wait for it say (and the read cache answers then).
  auto limit = client_.options.callTimeout.count();
  return io_.provider->getTimer()
      .afterDelay(limit * kj::MILLISECONDS)
      .then([this, limit]() -> T {
        kj::throwFatalException(protocol::toException(
            Error(ErrorCode::kOffline, "client '" + client_.options.name +
                                           "': the server did not answer within " +
                                           std::to_string(limit) +
                                           " ms (ClientOptions::callTimeout)")));
      })
      .exclusiveJoin(kj::mv(promise));
}

template <class F>
auto Client::Impl::onSyncThread(F&& fn) {
  const kj::Executor* exec;
  {
    std::lock_guard lock(mutex);
    exec = executor;
  }
  if (exec == nullptr) throw Error(ErrorCode::kOffline, "the client's sync thread has stopped");
  // kj hands the call to the sync thread and back through futexes, which
  // ThreadSanitizer cannot see in a libkj not built with it (Debian's): fn
  // and its captures live on the caller's stack, which the sync thread reads
  // and the caller reuses after. This atomic states both edges to it.
  std::atomic<int> handoff{0};
  handoff.store(1, std::memory_order_release);
  KJ_DEFER(handoff.load(std::memory_order_acquire));
  try {
    return exec->executeSync([&] {
      handoff.load(std::memory_order_acquire);
      KJ_DEFER(handoff.store(2, std::memory_order_release));
      return protocol::translated(fn);
    });
  } catch (const kj::Exception& e) {
    throw protocol::toError(e);
  }
}

}  // namespace hills
