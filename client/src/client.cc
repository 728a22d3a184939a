// hills::Client: the application's side; the sync thread runs SyncEngine.
#include <future>
#include <random>

#include "client_impl.h"
#include "hills/discovery.h"
#include "quarantine.h"
#include "tls.h"

namespace hills {

namespace {

std::shared_ptr<client::Replica> makeReplica(const ClientOptions& options, Client::Impl* impl) {
  if (options.name.empty()) {
    throw Error(ErrorCode::kInvalidArgument, "a hills::Client needs a name (ClientOptions::name)");
  }
  if (options.idBlock == 0 || options.idBlock > kClaimableIds) {
    throw Error(ErrorCode::kInvalidArgument, "ClientOptions::idBlock of client '" + options.name +
                                                 "' is " + std::to_string(options.idBlock) +
                                                 ": it must lie in 1 ... 2^62");
  }
  if (options.claimStart &&
      (*options.claimStart < kClaimableIds || *options.claimStart > UINT64_MAX - options.idBlock)) {
    throw Error(ErrorCode::kInvalidArgument,
                "ClientOptions::claimStart of client '" + options.name + "' (" +
                    std::to_string(*options.claimStart) +
                    ") leaves the claimable ids, or a block of idBlock ids would");
  }
  client::checkTls(options);
  protocol::discoveryTarget(options.server);  // a malformed "discover:" is refused here
  auto replica = std::make_shared<client::Replica>(options.name, options.replicate);
  replica->setOnOutbox([impl] { impl->wake(); });
  return replica;
}

Options replicaOptions(const ClientOptions& options, std::shared_ptr<client::Replica> replica) {
  Options o = options.database;
  o.ids = Options::IdSource::kRanges;
  o.author = options.name;
  o.hooks.push_back(std::move(replica));
  return o;
}

// Where a claim of a replica that never reached its server starts:
// ClientOptions::claimStart, or a place drawn at random among the claimable
// ids where a whole block fits: two replicas overlap with a chance of
// 2 * idBlock / (3 * 2^62), whatever their clocks or addresses say.
std::uint64_t claimStart(const ClientOptions& options) {
  if (options.claimStart) return *options.claimStart;
  std::random_device device;
  std::uint64_t r = (std::uint64_t{device()} << 32) | device();
  return kClaimableIds + r % (UINT64_MAX - options.idBlock - kClaimableIds + 1);
}

}  // namespace

Client::Impl::Impl(const std::string& path, ClientOptions o)
    : options(std::move(o)),
      replica(makeReplica(options, this)),
      db(path, replicaOptions(options, replica)) {
  if (!options.database.readOnly) {
    std::vector<std::string> known;
    for (auto& tree : db.trees()) known.push_back(tree.name);
    db.write([&](WriteTxn& txn) { replica->followTrees(txn, known); });
  }
  claimFirstIds();
  db.read([&](const ReadTxn& txn) {
    state.lastApplied = replica->cursor(txn);
    state.serverSequence = state.lastApplied;
    state.serverUuid = replica->pinnedServer(txn);
  });
}

std::vector<std::string> Client::Impl::treeNames() const {
  std::vector<std::string> out;
  for (auto& tree : db.trees()) {
    if (replica->replicates(tree.name)) out.push_back(tree.name);
  }
  return out;
}

void Client::Impl::claimFirstIds() {
  if (options.database.readOnly) return;
  auto trees = treeNames();
  auto unclaimed = [&](const ReadTxn& txn) {
    std::vector<std::string> out;
    for (const auto& tree : trees) {
      if (replica->mayClaim(txn, tree)) out.push_back(tree);
    }
    return out;
  };
  if (db.read(unclaimed).empty()) return;
  db.write([&](WriteTxn& txn) {
    for (const auto& tree : unclaimed(txn)) {
      std::uint64_t start = claimStart(options);
      replica->claim(txn, tree, start, start + options.idBlock);
    }
  });
}

std::pair<std::string, std::string> Client::Impl::target() const {
  std::lock_guard lock(mutex);
  return {options.server, options.token};
}

void Client::Impl::wake() {
  std::lock_guard lock(wakeMutex);
  if (wakeFulfiller) {
    wakeFulfiller->fulfill();
    wakeFulfiller = nullptr;
  } else {
    wakePending = true;
  }
}

void Client::Impl::rearmWake() {
  std::lock_guard lock(wakeMutex);
  wakeFulfiller = nullptr;
  wakePending = true;
}

void Client::Impl::requireOtherThread(std::string_view what) const {
  if (std::this_thread::get_id() != syncThread) return;
  throw Error(ErrorCode::kInvalidArgument,
              "Client::" + std::string(what) +
                  " called on the client's sync thread (from an event subscriber): it would wait "
                  "for itself; call it from another thread");
}

kj::Promise<void> Client::Impl::nextWake() {
  std::lock_guard lock(wakeMutex);
  if (wakePending) {
    wakePending = false;
    return kj::READY_NOW;
  }
  auto paf = kj::newPromiseAndCrossThreadFulfiller<void>();
  wakeFulfiller = kj::mv(paf.fulfiller);
  return kj::mv(paf.promise);
}

void Client::Impl::run() {
  auto io = kj::setupAsyncIo();
  SyncEngine engineOnThread(*this, io);
  syncThread = std::this_thread::get_id();
  auto stopped = kj::newPromiseAndCrossThreadFulfiller<void>();
  {
    std::lock_guard lock(mutex);
    engine = &engineOnThread;
    executor = &kj::getCurrentThreadExecutor();
    stop = kj::mv(stopped.fulfiller);
    started = true;
  }
  changed.notify_all();
  engineOnThread.run().exclusiveJoin(kj::mv(stopped.promise)).wait(io.waitScope);
  {
    std::lock_guard lock(mutex);
    engine = nullptr;
    executor = nullptr;
    state.connected = false;
  }
  std::lock_guard lock(wakeMutex);
  wakeFulfiller = nullptr;
}

void Client::Impl::waitApplied(std::uint64_t sequence) {
  std::unique_lock lock(mutex);
  bool done = changed.wait_for(lock, options.callTimeout,
                               [&] { return state.lastApplied >= sequence || !state.connected; });
  if (state.lastApplied >= sequence) return;
  throw Error(ErrorCode::kOffline, done ? "the connection to the server was lost before change " +
                                              std::to_string(sequence) + " arrived"
                                        : "change " + std::to_string(sequence) +
                                              " of the server did not arrive in time");
}

Client::Client(const std::string& path, ClientOptions options)
    : impl_(std::make_unique<Impl>(path, std::move(options))) {
  Impl& impl = *impl_;
  if (impl.options.onOpen) impl.options.onOpen(impl.db);
  // A new version of the program may read what the last one could not.
  if (!impl.options.database.readOnly) client::retryQuarantined(impl.db);
  impl.thread = std::thread([&impl] { impl.run(); });
  std::unique_lock lock(impl.mutex);
  impl.changed.wait(lock, [&] { return impl.started; });
}

Client::~Client() {
  {
    std::lock_guard lock(impl_->mutex);
    if (impl_->stop) impl_->stop->fulfill();
  }
  impl_->thread.join();
  // Answers the sync thread noted last and had no turn left to settle: so
  // the next session does not push those entries again.
  if (impl_->replica->hasAnswers()) {
    try {
      impl_->db.write([&](WriteTxn& txn) { impl_->replica->settleAnswered(txn); });
    } catch (...) {
      // Pushed again next time, and known to the server.
    }
  }
}

Database& Client::db() { return impl_->db; }

ClientStatus Client::status() const {
  ClientStatus out;
  {
    std::lock_guard lock(impl_->mutex);
    out = impl_->state;
  }
  auto trees = impl_->db.trees();
  impl_->db.read([&](const ReadTxn& txn) {
    out.outbox = impl_->replica->outboxLength(txn);
    out.quarantined = txn.table(client::kQuarantine).size();
    for (auto& t : trees) out.idsLeft[t.name] = txn.tree(t.name).idsLeft();
  });
  return out;
}

bool Client::waitConnected(std::chrono::milliseconds timeout) {
  impl_->requireOtherThread("waitConnected");
  std::unique_lock lock(impl_->mutex);
  auto& s = impl_->state;
  impl_->changed.wait_for(lock, timeout, [&] { return s.connected || s.refusedBy.has_value(); });
  if (s.refusedBy && !s.connected) throw Error(*s.refusedBy, s.lastError);
  return s.connected;
}

void Client::connectTo(const std::string& server, const std::string& token) {
  impl_->requireOtherThread("connectTo");
  protocol::discoveryTarget(server);
  {
    std::lock_guard lock(impl_->mutex);
    impl_->options.server = server;
    impl_->options.token = token;
    impl_->state.refusedBy.reset();
  }
  impl_->onSyncThread([&] {
    impl_->engine->restart();
    return kj::Promise<void>(kj::READY_NOW);
  });
}

bool Client::sync(std::chrono::milliseconds timeout) {
  impl_->requireOtherThread("sync");
  auto deadline = std::chrono::steady_clock::now() + timeout;
  auto outboxEmpty = [&] {
    return impl_->db.read(
        [&](const ReadTxn& txn) { return impl_->replica->outboxLength(txn) == 0; });
  };
  // What the server has committed now: asked, not remembered, so a change
  // another client made just before the call is waited for.
  std::optional<std::uint64_t> target;
  for (;;) {
    if (!target) {
      bool connected;
      {
        std::lock_guard lock(impl_->mutex);
        connected = impl_->state.connected;
      }
      if (connected) {
        try {
          target = impl_->onSyncThread([&] { return impl_->engine->lastSequence(); });
        } catch (const Error& e) {
          if (e.code() != ErrorCode::kOffline) throw;
        }
      }
    }
    bool empty = outboxEmpty();
    std::unique_lock lock(impl_->mutex);
    auto& s = impl_->state;
    if (target && s.connected && empty && s.lastApplied >= std::max(*target, impl_->lastAcked)) {
      return true;
    }
    if (std::chrono::steady_clock::now() >= deadline) return false;
    // Woken by the engine; the outbox is read again in any case.
    impl_->changed.wait_until(
        lock, std::min(deadline, std::chrono::steady_clock::now() + std::chrono::milliseconds(20)));
  }
}

bool Client::flush(std::chrono::milliseconds timeout) {
  impl_->requireOtherThread("flush");
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (impl_->db.read(
            [&](const ReadTxn& txn) { return impl_->replica->outboxLength(txn) == 0; })) {
      return true;
    }
    std::unique_lock lock(impl_->mutex);
    if (std::chrono::steady_clock::now() >= deadline) return false;
    // Woken by the engine when it settles; the outbox is read again in any case.
    impl_->changed.wait_until(
        lock, std::min(deadline, std::chrono::steady_clock::now() + std::chrono::milliseconds(20)));
  }
}

std::uint64_t Client::reserveIds(std::string_view tree, std::uint64_t count) {
  impl_->requireOtherThread("reserveIds");
  if (count == 0 || count > kMaxReservedIds) {
    throw Error(ErrorCode::kInvalidArgument,
                "Client::reserveIds of " + std::to_string(count) + " ids of tree '" +
                    std::string(tree) + "': ask for 1 ... " + std::to_string(kMaxReservedIds));
  }
  std::string name(tree);
  impl_->replica->requireReplicated(name, "ids");
  std::uint64_t left = impl_->db.read([&](const ReadTxn& txn) { return txn.tree(name).idsLeft(); });
  if (left >= count) return left;
  return impl_->onSyncThread([&] { return impl_->engine->reserveIds(name, count); });
}

BorrowInfo Client::checkOut(const OpaqueKey& key) {
  impl_->requireOtherThread("checkOut");
  auto [borrow, sequence] = impl_->onSyncThread([&] { return impl_->engine->checkOut(key); });
  impl_->waitApplied(sequence);
  return borrow;
}

void Client::checkIn(const OpaqueKey& key, bool keepBorrow) {
  impl_->db.write([&](WriteTxn& txn) { checkIn(txn, key, keepBorrow); });
}

void Client::checkIn(WriteTxn& txn, const OpaqueKey& key, bool keepBorrow) {
  impl_->replica->queueCheckIn(txn, key, keepBorrow);
}

void Client::Impl::pushFirst(const OpaqueKey& key) {
  {
    std::lock_guard lock(mutex);
    if (!state.connected) {
      throw Error(ErrorCode::kOffline,
                  "client '" + options.name + "' is not connected to its server " + options.server);
    }
  }
  // This client's edits go first, so the server's change holds them, and
  // nothing of the record may still wait in the outbox (a queued check-in
  // would otherwise reach the server after the change and be refused).
  bool mine = db.read([&](const ReadTxn& txn) {
    auto held = protocol::findBorrow(txn, key);
    return held && held->holder == options.name && !held->returning;
  });
  if (mine) db.write([&](WriteTxn& txn) { replica->queueCheckIn(txn, key, true); });
  auto deadline = std::chrono::steady_clock::now() + options.callTimeout;
  for (;;) {
    bool waiting = db.read([&](const ReadTxn& txn) {
      return replica->queued(txn, key);
    });
    if (!waiting) break;
    std::unique_lock lock(mutex);
    if (std::chrono::steady_clock::now() >= deadline) {
      throw Error(ErrorCode::kOffline,
                  "the check-in of " + describe(key) + " was not acknowledged in time");
    }
    changed.wait_until(
        lock, std::min(deadline, std::chrono::steady_clock::now() + std::chrono::milliseconds(20)));
  }
  // Its answer may have been a refusal: what the server holds is what the
  // change applies to, so the mirror must have caught up with it too.
  std::uint64_t acked;
  {
    std::lock_guard lock(mutex);
    acked = lastAcked;
  }
  waitApplied(acked);
}

void Client::release(const OpaqueKey& key) {
  impl_->requireOtherThread("release");
  impl_->pushFirst(key);
  impl_->waitApplied(impl_->onSyncThread([&] { return impl_->engine->release(key); }));
}

std::uint32_t Client::newRevision(const OpaqueKey& key) {
  impl_->requireOtherThread("newRevision");
  auto [revision, sequence] = impl_->onSyncThread([&] { return impl_->engine->newRevision(key); });
  impl_->waitApplied(sequence);
  return revision;
}

void Client::setLifecycle(const OpaqueKey& key, std::uint32_t lifecycle) {
  impl_->requireOtherThread("setLifecycle");
  impl_->pushFirst(key);
  impl_->waitApplied(
      impl_->onSyncThread([&] { return impl_->engine->setLifecycle(key, lifecycle); }));
}

BorrowInfo Client::breakBorrow(const OpaqueKey& key) {
  impl_->requireOtherThread("breakBorrow");
  auto [borrow, sequence] = impl_->onSyncThread([&] { return impl_->engine->breakBorrow(key); });
  impl_->waitApplied(sequence);
  return borrow;
}

std::vector<BorrowInfo> Client::borrows() const {
  return impl_->db.read([](const ReadTxn& txn) { return protocol::listBorrows(txn); });
}

std::vector<ConflictCopy> Client::conflicts() const {
  return impl_->db.read([&](const ReadTxn& txn) { return impl_->replica->conflicts(txn); });
}

void Client::dropConflicts(const OpaqueKey& key) {
  impl_->db.write([&](WriteTxn& txn) { impl_->replica->dropConflict(txn, key); });
}

std::vector<OutboxItem> Client::outbox() const {
  return impl_->db.read([&](const ReadTxn& txn) { return impl_->replica->outbox(txn); });
}

std::vector<QuarantinedChange> Client::quarantine() const {
  return impl_->db.read([](const ReadTxn& txn) { return client::quarantined(txn); });
}

std::size_t Client::retryQuarantine() { return client::retryQuarantined(impl_->db); }

}  // namespace hills
