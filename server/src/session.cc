// The RPC interfaces of the sync server that a valid hello opens: the
// Session and its live subscriptions (the Gate before it: gate.cc).
#include <optional>

#include "authority.h"
#include "server_impl.h"

namespace hills {

namespace {

using server::translated;

// Most records one push or check-out may name. A list of empty structs
// costs a message almost nothing, so its length alone bounds the work and
// the answer a call can ask for. Clients push at most 1024 at a time.
constexpr unsigned kMaxItemsPerCall = 8192;

void requireFew(unsigned count, std::string_view what) {
  if (count <= kMaxItemsPerCall) return;
  throw Error(ErrorCode::kInvalidArgument,
              "a " + std::string(what) + " of " + std::to_string(count) + " records; at most " +
                  std::to_string(kMaxItemsPerCall) + " per call");
}

bool isStorageFailure(const Error& e) {
  return e.code() == ErrorCode::kMapFull || e.code() == ErrorCode::kIo ||
         e.code() == ErrorCode::kStorage;
}

// The answer to one request of a batch, filled inside the transaction.
struct Answer {
  std::uint64_t sequence = 0;
  std::optional<Error> error;

  void fill(sync::Outcome::Builder out) const { protocol::setOutcome(out, sequence, error); }
};

// Runs one request's part of a shared transaction: a refusal (which changes
// nothing) is kept for that request's answer, and a storage failure goes up
// so the transaction is retried or failed as a whole.
template <class F>
void answer(WriteTxn& txn, Answer& out, F&& fn) {
  out = Answer{};
  try {
    fn();
    out.sequence = txn.lastSequence();
  } catch (const Error& e) {
    if (isStorageFailure(e)) throw;
    out.error = e;
  }
}

class SubscriptionImpl final : public sync::Subscription::Server {
 public:
  SubscriptionImpl(SyncServer::Impl& server, std::shared_ptr<server::Subscriber> sub)
      : server_(server), sub_(std::move(sub)) {}
  ~SubscriptionImpl() {
    if (!sub_->dead) server_.unsubscribe(sub_);
  }

 private:
  SyncServer::Impl& server_;
  std::shared_ptr<server::Subscriber> sub_;
};

class SessionImpl final : public sync::Session::Server {
 public:
  SessionImpl(SyncServer::Impl& server, std::shared_ptr<server::ConnectionState> conn,
              std::shared_ptr<ClientAccount> account, server::TreeScope scope)
      : server_(server),
        conn_(std::move(conn)),
        held_(std::move(account)),
        account_(*held_),
        scope_(std::move(scope)) {}

  kj::Promise<void> grantIds(GrantIdsContext context) override {
    return translated([&] {
      need(account_.write, "take ids");
      auto params = context.getParams();
      std::string tree = params.getTree();
      follows(tree, "take ids");
      // At most the configured block: a client cannot use up the id space.
      std::uint64_t count = std::min(params.getCount(), server_.config.idBlock);
      if (count == 0) throw Error(ErrorCode::kInvalidArgument, "a grant of 0 ids");
      auto range = std::make_shared<std::pair<std::uint64_t, std::uint64_t>>();
      auto failure = std::make_shared<std::optional<Error>>();
      return write(failure,
                   [this, tree, count, range](WriteTxn& txn) {
                     *range = server::grantIds(txn, tree, count, account_.name);
                   })
          .then([context, range]() mutable {
            context.getResults().setStart(range->first);
            context.getResults().setEnd(range->second);
          });
    });
  }

  kj::Promise<void> claimIds(ClaimIdsContext context) override {
    return translated([&] {
      need(account_.write, "claim ids");
      auto params = context.getParams();
      std::string tree = params.getTree();
      follows(tree, "claim ids");
      std::uint64_t start = params.getStart(), end = params.getEnd();
      // At most the configured block, as for a grant.
      std::uint64_t limit = server_.config.idBlock;
      auto ans = std::make_shared<Answer>();
      auto failure = std::make_shared<std::optional<Error>>();
      return write(failure,
                   [this, tree, start, end, limit, ans](WriteTxn& txn) {
                     answer(txn, *ans, [&] {
                       server::claimIds(txn, tree, start, end, account_.name, limit);
                     });
                   })
          .then([this, context, ans, tree, start, end]() mutable {
            std::string line = (ans->error ? "refused the claim of " : "confirmed the claim of ") +
                               std::string("ids [") + std::to_string(start) + ", " +
                               std::to_string(end) + ") of tree '" + tree + "' by '" +
                               account_.name + "'" +
                               (ans->error ? std::string(": ") + ans->error->what() : "");
            if (ans->error) {
              server_.refusal(conn_->source, "refused claim", line);
            } else {
              server_.log(line);
            }
            ans->fill(context.getResults().initOutcome());
          });
    });
  }

  kj::Promise<void> pull(PullContext context) override {
    return translated([&] {
      need(account_.read, "read changes");
      auto params = context.getParams();
      std::uint64_t after = params.getAfter();
      std::uint64_t limit = std::clamp<std::uint64_t>(params.getLimit(), 1, 8192);
      server_.db.read([&](const ReadTxn& txn) {
        std::uint64_t last = txn.lastSequence();
        auto filled = server::fillChanges(
            txn, after, after < last ? std::min(limit, last - after) : 0, scope_,
            [&](const server::Filled& f) {
              return context.getResults(f.messageSize()).initChanges(static_cast<unsigned>(f.count));
            });
        auto results = context.getResults();
        results.setLast(last);
        results.setThrough(filled.through);
      });
      return kj::Promise<void>(kj::READY_NOW);
    });
  }

  kj::Promise<void> subscribe(SubscribeContext context) override {
    return translated([&] {
      need(account_.read, "subscribe to changes");
      if (subscribed_) {
        throw Error(ErrorCode::kInvalidArgument,
                    "client '" + account_.name + "' subscribed already in this session");
      }
      auto params = context.getParams();
      if (params.getAfter() > server_.lastSequence) {
        // Same uuid, shorter log: the server's database went back in time
        // (restored from a backup). Following it would hide the difference.
        server_.refusal(conn_->source, "log behind replica",
                        "refused client '" + account_.name + "': it has applied change " +
                            std::to_string(params.getAfter()) + " but the log ends at " +
                            std::to_string(server_.lastSequence));
        throw Error(ErrorCode::kWrongServer,
                    "client '" + account_.name + "' has applied the server's changes up to " +
                        std::to_string(params.getAfter()) + ", but this server's log ends at " +
                        std::to_string(server_.lastSequence) +
                        ": its database is older than the replica (restored from a backup?); "
                        "the replica must be rebuilt from this server");
      }
      auto sub = server_.subscribe(params.getListener(), account_.name, scope_, params.getAfter());
      subscribed_ = true;
      context.getResults().setSubscription(kj::heap<SubscriptionImpl>(server_, std::move(sub)));
      return kj::Promise<void>(kj::READY_NOW);
    });
  }

  kj::Promise<void> push(PushContext context) override {
    // What this session's unanswered pushes hold; past maxBytesInFlight the
    // RPC system reads no more of the connection until answers go out.
    std::uint64_t words = context.getParams().totalSize().wordCount;
    conn_->callWords += words;
    if (conn_->callWords * sizeof(capnp::word) > server_.config.maxBytesInFlight) {
      server_.refusal(conn_->source, "bytes in flight",
                      "client '" + account_.name + "' (" + conn_->peer + ") has " +
                          server::withThousands(conn_->callWords * sizeof(capnp::word)) +
                          " bytes of pushes unanswered, more than maxBytesInFlight (" +
                          server::withThousands(server_.config.maxBytesInFlight) +
                          "): the server reads no more from it until they are answered");
    }
    // evalNow: a refusal thrown at once must give the words back too.
    return kj::evalNow([&] { return pushing(context); })
        .attach(kj::defer([conn = conn_, words] { conn->callWords -= words; }));
  }

  kj::Promise<void> pushing(PushContext& context) {
    return translated([&] {
      need(account_.write, "push records");
      requireFew(context.getParams().getItems().size(), "push");
      mayRead(context.getParams().getItems(), [](sync::Push::Reader p) { return p.getKey(); });
      // A copy: the writer thread reads it, and the call may be cancelled
      // (its client gone) while it does.
      auto copy = std::make_shared<capnp::MallocMessageBuilder>();
      copy->setRoot(context.getParams());
      auto items = copy->getRoot<sync::Session::PushParams>().getItems().asReader();
      auto answers = std::make_shared<std::vector<Answer>>(items.size());
      auto failure = std::make_shared<std::optional<Error>>();
      return write(failure,
                   [this, copy, items, answers](WriteTxn& txn) {
                     for (unsigned i = 0; i < items.size(); ++i) {
                       auto item = items[i];
                       answer(txn, (*answers)[i], [&] { store(txn, item); });
                     }
                   })
          .then([this, context, items, answers, copy]() mutable {
            for (unsigned i = 0; i < answers->size(); ++i) {
              if (!(*answers)[i].error) continue;
              server_.refusal(conn_->source, "refused push",
                              "refused a push of " + describe(protocol::keyOf(items[i].getKey())) +
                                  " from '" + account_.name + "': " + (*answers)[i].error->what());
            }
            auto out = context.getResults().initOutcomes(static_cast<unsigned>(answers->size()));
            for (unsigned i = 0; i < answers->size(); ++i) (*answers)[i].fill(out[i]);
          });
    });
  }

  kj::Promise<void> checkOut(CheckOutContext context) override {
    return translated([&] {
      need(account_.write, "check out records");
      requireFew(context.getParams().getKeys().size(), "check-out");
      mayRead(context.getParams().getKeys(), [](sync::Key::Reader k) { return k; });
      std::vector<OpaqueKey> keys;
      for (auto key : context.getParams().getKeys()) keys.push_back(protocol::keyOf(key));
      auto answers = std::make_shared<std::vector<Answer>>(keys.size());
      auto borrows = std::make_shared<std::vector<BorrowInfo>>(keys.size());
      auto failure = std::make_shared<std::optional<Error>>();
      return write(failure,
                   [this, keys, answers, borrows](WriteTxn& txn) {
                     for (unsigned i = 0; i < keys.size(); ++i) {
                       const auto& key = keys[i];
                       answer(txn, (*answers)[i], [&] {
                         inScope(key.tree, "check out records");
                         (*borrows)[i] = server::checkOut(txn, key, account_.name);
                       });
                     }
                   })
          .then([context, answers, borrows]() mutable {
            auto results = context.getResults();
            auto outList = results.initOutcomes(static_cast<unsigned>(answers->size()));
            auto borrowList = results.initBorrows(static_cast<unsigned>(borrows->size()));
            for (unsigned i = 0; i < answers->size(); ++i) {
              (*answers)[i].fill(outList[i]);
              if (!(*answers)[i].error) protocol::setBorrow(borrowList[i], (*borrows)[i]);
            }
          });
    });
  }

  kj::Promise<void> release(ReleaseContext context) override {
    return single(context, "release records", [this](WriteTxn& txn, const OpaqueKey& key) {
      auto held = server::notHeldByOthers(txn, key, account_.name);
      txn.tree(key.tree).release(key.id, key.revision);
      if (held) server::checkIn(txn, key, server::CheckIn{account_.name, held->fencing, {}, false, false});
    });
  }

  kj::Promise<void> newRevision(NewRevisionContext context) override {
    return translated([&] {
      need(account_.write, "make new revisions");
      auto key = protocol::keyOf(context.getParams().getKey());
      follows(key.tree, "make new revisions");
      auto result = std::make_shared<std::pair<std::uint32_t, std::uint64_t>>();
      auto ans = std::make_shared<Answer>();
      auto failure = std::make_shared<std::optional<Error>>();
      return write(failure,
                   [this, key, result, ans](WriteTxn& txn) {
                     answer(txn, *ans, [&] {
                       std::uint32_t revision = txn.tree(key.tree).newRevision(key.id, key.revision);
                       auto borrow = server::checkOut(
                           txn, OpaqueKey{key.tree, key.id, revision}, account_.name);
                       *result = {revision, borrow.fencing};
                     });
                   })
          .then([context, result, ans]() mutable {
            auto results = context.getResults();
            results.setRevision(result->first);
            results.setFencing(result->second);
            ans->fill(results.initOutcome());
          });
    });
  }

  kj::Promise<void> setLifecycle(SetLifecycleContext context) override {
    std::uint32_t lifecycle = context.getParams().getLifecycle();
    return single(context, "change lifecycles",
                  [this, lifecycle](WriteTxn& txn, const OpaqueKey& key) {
                    server::notHeldByOthers(txn, key, account_.name);
                    txn.tree(key.tree).setLifecycle(key.id, key.revision, lifecycle);
                  });
  }

  kj::Promise<void> listBorrows(ListBorrowsContext context) override {
    return translated([&] {
      need(account_.read, "list borrows");
      auto all = server_.db.read([](const ReadTxn& txn) { return protocol::listBorrows(txn); });
      std::erase_if(all, [&](const BorrowInfo& b) { return !scope_.follows(b.key.tree); });
      auto list = context.getResults().initBorrows(static_cast<unsigned>(all.size()));
      for (unsigned i = 0; i < all.size(); ++i) protocol::setBorrow(list[i], all[i]);
      return kj::Promise<void>(kj::READY_NOW);
    });
  }

  kj::Promise<void> lastSequence(LastSequenceContext context) override {
    return translated([&] {
      need(account_.read, "read changes");
      context.getResults().setLast(server_.lastSequence);
      return kj::Promise<void>(kj::READY_NOW);
    });
  }

  kj::Promise<void> snapshot(SnapshotContext context) override {
    return translated([&] {
      need(account_.read, "read a snapshot");
      if (*snapshotOpen_) {
        throw Error(ErrorCode::kInvalidArgument,
                    "client '" + account_.name + "' reads a snapshot already in this session");
      }
      *snapshotOpen_ = true;
      auto open = snapshotOpen_;
      return server_.spooler.get(server_.lastSequence)
          .then(
              [this, context, open](std::shared_ptr<server::Spool> spool) mutable {
                KJ_ON_SCOPE_FAILURE(*open = false);
                server_.log("client '" + account_.name + "' reads the snapshot at change " +
                            std::to_string(spool->sequence) + ": " +
                            std::to_string(server::recordsIn(*spool, scope_)) + " records");
                // The stream may outlive this session: it holds the server
                // (which outlives every connection) and the name.
                auto finished = [&server = server_, name = account_.name](
                                    const server::Spool& read) {
                  auto progress = read.progress();
                  server.log("client '" + name + "' has read the snapshot at change " +
                              std::to_string(read.sequence) + ": " +
                              std::to_string(read.records) + " records, " +
                              std::to_string(progress.bytes >> 20) + " MiB in " +
                              std::to_string(progress.parts) + " parts, written in " +
                              std::to_string(progress.makingMs) + " ms");
                };
                translated([&] {
                  auto results = context.getResults();
                  results.setSequence(spool->sequence);
                  results.setRecords(server::recordsIn(*spool, scope_));
                  results.setSnapshot(
                      server::readSpool(std::move(spool), open, scope_, kj::mv(finished)));
                });
              },
              [open](kj::Exception&& e) {
                *open = false;
                kj::throwFatalException(kj::mv(e));
              });
    });
  }

  kj::Promise<void> fetch(FetchContext context) override {
    return translated([&] {
      need(account_.read, "read records");
      server::fetchRecords(server_.db, account_, context.getParams().getWanted(),
                           context.getResults());
      return kj::Promise<void>(kj::READY_NOW);
    });
  }

  kj::Promise<void> breakBorrow(BreakBorrowContext context) override {
    return translated([&] {
      need(account_.admin, "break borrows");
      auto key = protocol::keyOf(context.getParams().getKey());
      auto broken = std::make_shared<BorrowInfo>();
      auto ans = std::make_shared<Answer>();
      auto failure = std::make_shared<std::optional<Error>>();
      return write(failure,
                   [this, key, broken, ans](WriteTxn& txn) {
                     answer(txn, *ans, [&] { *broken = server::breakBorrow(txn, key, account_.name); });
                   })
          .then([this, context, broken, ans, key]() mutable {
            if (!ans->error) {
              server_.log("client '" + account_.name + "' broke the borrow of " + describe(key) +
                          " held by '" + broken->holder + "' (fencing " +
                          std::to_string(broken->fencing) + ")");
              protocol::setBorrow(context.getResults().initBorrow(), *broken);
            }
            ans->fill(context.getResults().initOutcome());
          });
    });
  }

 private:
  void need(bool granted, std::string_view what) const {
    if (granted) return;
    server_.refusal(conn_->source, "not permitted",
                    "refused client '" + account_.name + "': it may not " + std::string(what));
    throw Error(ErrorCode::kDenied, "client '" + account_.name + "' may not " + std::string(what) +
                                        ": the server's configuration does not allow it");
  }

  // Refuses a request about a tree the client may not read (kDenied), or
  // that this session does not follow (kWrongTree: a partial replica).
  // On the event loop: a reload changes the account's trees there.
  void follows(std::string_view tree, std::string_view what) const {
    server::requireReadable(account_, tree);
    scope_.require(tree, account_.name, what);
  }
  // The same for the keys of a push or a check-out: the whole call is
  // refused when the client may not read one of their trees; one outside
  // the session's trees is refused on its own (inScope, on the writer).
  template <class Keys, class KeyOf>
  void mayRead(Keys keys, KeyOf keyOf) const {
    for (auto k : keys) server::requireReadable(account_, keyOf(k).getTree().cStr());
  }
  void inScope(std::string_view tree, std::string_view what) const {
    scope_.require(tree, account_.name, what);
  }

  // A write of this request in the shared transaction. A refusal fails
  // only this request; its Error reaches the client.
  kj::Promise<void> write(std::shared_ptr<std::optional<Error>> failure,
                          kj::Function<void(WriteTxn&)> fn) {
    auto run = kj::heap<kj::Function<void(WriteTxn&)>>(kj::mv(fn));
    auto& call = *run;
    return server_
        .commit([this, &call, failure](WriteTxn& txn) {
          failure->reset();
          try {
            txn.setOrigin(account_.name);
            call(txn);
          } catch (const Error& e) {
            if (isStorageFailure(e)) throw;
            failure->emplace(e);
          }
        })
        .then([failure]() {
          if (*failure) kj::throwFatalException(protocol::toException(**failure));
        })
        .attach(kj::mv(run));
  }

  // One key, one change, one outcome (release, lifecycle).
  template <class Context, class F>
  kj::Promise<void> single(Context& context, std::string_view what, F fn) {
    return translated([&] {
      need(account_.write, what);
      auto key = protocol::keyOf(context.getParams().getKey());
      follows(key.tree, what);
      auto ans = std::make_shared<Answer>();
      auto failure = std::make_shared<std::optional<Error>>();
      return write(failure,
                   [key, ans, fn](WriteTxn& txn) { answer(txn, *ans, [&] { fn(txn, key); }); })
          .then([context, ans]() mutable { ans->fill(context.getResults().initOutcome()); });
    });
  }

  void store(WriteTxn& txn, sync::Push::Reader item) {
    auto key = protocol::keyOf(item.getKey());
    inScope(key.tree, "push records");
    if (item.isCreate()) {
      server::acceptCreate(txn, key, item.getCreate(), account_.name);
      return;
    }
    auto in = item.getCheckIn();
    server::checkIn(txn, key,
                    server::CheckIn{account_.name, in.getFencing(), in.getValue(), in.getRemoved(),
                                    in.getKeepBorrow()});
  }

  SyncServer::Impl& server_;
  std::shared_ptr<server::ConnectionState> conn_;  // its calls may outlive the connection
  // Shared with the connection's state: a reload changes the permissions,
  // which count from the next call. Only the name is read on the writer
  // thread, and it never changes.
  std::shared_ptr<ClientAccount> held_;
  const ClientAccount& account_;
  server::TreeScope scope_;  // the trees this session follows
  bool subscribed_ = false;  // one live subscription per session
  // One snapshot stream at a time: it holds a file open. The stream
  // clears it when it ends.
  std::shared_ptr<bool> snapshotOpen_ = std::make_shared<bool>(false);
};

}  // namespace

kj::Own<sync::Session::Server> newSession(SyncServer::Impl& server,
                                          std::shared_ptr<server::ConnectionState> conn,
                                          std::shared_ptr<ClientAccount> account,
                                          server::TreeScope scope) {
  return kj::heap<SessionImpl>(server, std::move(conn), std::move(account), std::move(scope));
}

}  // namespace hills
