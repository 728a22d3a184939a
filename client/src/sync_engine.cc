// The client's sync engine: one session with the server at a time, on the
// sync thread.
#include <capnp/schema-loader.h>

#include <algorithm>
#include <map>
#include <optional>

#include "client_impl.h"
#include "hills/streams.h"
#include "hills/schema.h"
#include "quarantine.h"
#include "tls.h"

namespace hills {

namespace {

class ListenerImpl final : public sync::Listener::Server {
 public:
  explicit ListenerImpl(SyncEngine& engine) : engine_(engine) {}

  kj::Promise<void> changes(ChangesContext context) override {
    // After a failed batch nothing more is applied from this session: the
    // next session starts again at the stored cursor.
    if (failed_) kj::throwFatalException(KJ_EXCEPTION(DISCONNECTED, "the session has failed"));
    auto params = context.getParams();
    try {
      engine_.apply(params.getChanges(), params.getAfter(), params.getLast(), params.getThrough());
    } catch (const Error& e) {
      // A change this replica cannot take (a tree it has not heard of yet):
      // a new session brings the server's schemas and starts again there.
      failed_ = true;
      engine_.drop(std::string("applying the server's changes failed: ") + e.what());
      kj::throwFatalException(protocol::toException(e));
    }
    return kj::READY_NOW;
  }

 private:
  SyncEngine& engine_;
  bool failed_ = false;
};

// Refusals that another attempt with the same name, token and replica
// would meet again: the client waits for connectTo().
bool permanent(ErrorCode code) {
  return code == ErrorCode::kDenied || code == ErrorCode::kWrongServer ||
         code == ErrorCode::kSchemaMismatch || code == ErrorCode::kProtocol ||
         code == ErrorCode::kUnknownTree;
}

}  // namespace

// What the client reads from its server at most in one message: batches of
// the change log are far smaller (the server caps them), but one record may
// be large.
capnp::ReaderOptions serverLimits() {
  capnp::ReaderOptions o;
  o.traversalLimitInWords = std::uint64_t{32} << 20;  // 256 MiB
  return o;
}

struct SyncEngine::Session {
  explicit Session(kj::Own<kj::AsyncIoStream> s)
      : stream(protocol::bufferReads(kj::mv(s))),
        network(*stream, capnp::rpc::twoparty::Side::CLIENT, serverLimits()),
        rpc(capnp::makeRpcClient(network)),
        gate(bootstrap()) {}
  sync::Gate::Client bootstrap() {
    capnp::MallocMessageBuilder vat(8);
    vat.initRoot<capnp::rpc::twoparty::VatId>().setSide(capnp::rpc::twoparty::Side::SERVER);
    return rpc.bootstrap(vat.getRoot<capnp::rpc::twoparty::VatId>()).castAs<sync::Gate>();
  }
  // Reads buffered; writes not gathered (protocol::WriteBatcher): a
  // replica writes one answer per batch it applies, and its requests
  // (snapshot parts asked for ahead) must leave at once.
  kj::Own<kj::AsyncIoStream> stream;
  capnp::TwoPartyVatNetwork network;
  capnp::RpcSystem<capnp::rpc::twoparty::VatId> rpc;
  sync::Gate::Client gate;
  kj::Maybe<sync::Session::Client> session;
  kj::Maybe<sync::Subscription::Client> subscription;
};

SyncEngine::SyncEngine(Client::Impl& client, kj::AsyncIoContext& io)
    : client_(client), io_(io), backoff_(client.options.minBackoff) {}

SyncEngine::~SyncEngine() = default;

void SyncEngine::setConnected(bool connected, const std::string& error) {
  {
    std::lock_guard lock(client_.mutex);
    client_.state.connected = connected;
    if (!error.empty()) client_.state.lastError = error;
  }
  client_.changed.notify_all();
}

sync::Session::Client& SyncEngine::session() {
  KJ_IF_MAYBE (s, session_) {
    KJ_IF_MAYBE (session, (*s)->session) {
      return *session;
    }
  }
  throw Error(ErrorCode::kOffline, "client '" + client_.options.name +
                                       "' is not connected to its server " +
                                       client_.target().first);
}

kj::Promise<void> SyncEngine::run() {
  // Named copies, not a structured binding: lambdas capture them.
  auto target = client_.target();
  std::string server = target.first, token = target.second;
  if (server.empty()) return idle().then([this]() { return run(); });
  return locate(server)
      .then([this, token](std::string address) { return connectOnce(address, token); })
      .then([this]() { ended(nullptr); }, [this](kj::Exception&& e) { ended(&e); })
      .then([this]() {
        session_ = nullptr;
        // Answers the session got and had no turn left to settle: settled
        // now, so the outbox does not hold them while offline.
        try {
          settleAnswers();
        } catch (const std::exception&) {
          // Left for the next session's first batch, or the Client's close.
        } catch (const kj::Exception&) {
        }
        client_.rearmWake();
        bool refused;
        {
          std::lock_guard lock(client_.mutex);
          refused = client_.state.refusedBy.has_value();
        }
        if (refused) return idle().then([this]() { return run(); });
        auto wait = backoff_;
        backoff_ = std::min(backoff_ * 2, client_.options.maxBackoff);
        return io_.provider->getTimer()
            .afterDelay(protocol::toKj(wait))
            .exclusiveJoin(idle())
            .then([this]() { return run(); });
      });
}

void SyncEngine::ended(const kj::Exception* failure) {
  if (failure == nullptr) {
    setConnected(false, "the server closed the connection");
    return;
  }
  Error error = protocol::toError(*failure);
  // Only what the server (or this replica) said in so many words is final;
  // a lost connection or a timeout is tried again.
  if (permanent(error.code()) && protocol::carriesError(*failure)) {
    std::lock_guard lock(client_.mutex);
    client_.state.refusedBy = error.code();
  }
  setConnected(false, error.what());
}

kj::Promise<void> SyncEngine::idle() {
  auto paf = kj::newPromiseAndFulfiller<void>();
  resume_ = kj::mv(paf.fulfiller);
  return kj::mv(paf.promise);
}

void SyncEngine::restart() {
  backoff_ = client_.options.minBackoff;
  if (resume_) resume_->fulfill();
  if (session_ != nullptr) drop("connecting to another server");
}

void SyncEngine::drop(const std::string& why) {
  setConnected(false, why);
  if (dropped_) dropped_->reject(KJ_EXCEPTION(DISCONNECTED, why.c_str()));
}

kj::Promise<void> SyncEngine::connectOnce(std::string server, std::string token) {
  std::string pinned =
      client_.db.read([&](const ReadTxn& txn) { return client_.replica->pinnedFingerprint(txn); });
  return timed(client::connectServer(*io_.provider, client_.options, server, pinned)
                   .then([this, token, server](client::ServerConnection connection) {
                     auto s = kj::heap<Session>(kj::mv(connection.stream));
                     auto request = s->gate.helloRequest();
                     protocol::translated([&] {
                       auto hello = request.initHello();
                       hello.setClient(client_.options.name);
                       hello.setToken(token);
                       hello.setProtocol(sync::PROTOCOL_VERSION);
                       const auto& follow = client_.options.replicate;
                       auto trees = hello.initTrees(static_cast<unsigned>(follow.size()));
                       for (unsigned i = 0; i < follow.size(); ++i) trees.set(i, follow[i]);
                       hello.setPinnedServer(client_.db.read([&](const ReadTxn& txn) {
                         return client_.replica->pinnedServer(txn);
                       }));
                       std::vector<TreeInfo> mine;
                       for (auto& t : client_.db.trees()) {
                         if (t.compiled) mine.push_back(t);
                       }
                       auto schemas = hello.initSchemas(static_cast<unsigned>(mine.size()));
                       for (unsigned i = 0; i < mine.size(); ++i) {
                         writeTreeSchema(TreeType{mine[i].name, mine[i].versioned,
                                                  client_.db.storedSchema(mine[i].name)},
                                         schemas[i]);
                       }
                     });
                     return request.send().then(
                         [this, s = kj::mv(s), connection = kj::mv(connection)](
                             capnp::Response<sync::Gate::HelloResults>&& answer) mutable {
                           return welcomed(kj::mv(s), connection, answer);
                         },
                         [this, server](kj::Exception&& e) -> kj::Own<Session> {
                           kj::throwFatalException(
                               client::explainHelloFailure(kj::mv(e), client_.options, server));
                         });
                   }))
      .then([this](kj::Own<Session> s) { return startSession(kj::mv(s)); });
}

kj::Own<SyncEngine::Session> SyncEngine::welcomed(kj::Own<Session> s,
                                                 const client::ServerConnection& connection,
                                                 sync::Gate::HelloResults::Reader answer) {
  return protocol::translated([&] {
    auto info = answer.getServer();
    std::string uuid = info.getUuid();
    // A server that is not ours never gets to send a change.
    client_.db.write([&](WriteTxn& txn) {
      client_.replica->pin(txn, uuid, connection.certificate, connection.fingerprint);
    });
    capnp::SchemaLoader loader;
    std::vector<TreeType> types;
    for (auto schema : info.getSchemas()) types.push_back(readTreeSchema(schema, loader));
    client_.db.declareTrees(types);
    s->session = answer.getSession();
    mayWrite_ = info.getPermissions().getWrite();
    {
      std::lock_guard lock(client_.mutex);
      client_.state.serverUuid = uuid;
      client_.state.serverSequence = std::max(client_.state.serverSequence, info.getLastSequence());
    }
    return kj::mv(s);
  });
}

kj::Promise<void> SyncEngine::startSession(kj::Own<Session> s) {
  auto disconnected = s->network.onDisconnect();
  auto paf = kj::newPromiseAndFulfiller<void>();
  dropped_ = kj::mv(paf.fulfiller);
  Session& ref = *s;
  session_ = kj::mv(s);
  // Claims first: until the server has answered them, this replica neither
  // follows the log (another client's record could land on an id it
  // claimed) nor pushes (a record on a refused id must move first).
  auto work = settleClaims()
                  .then([this] { return bootstrap(); })
                  .then([this] { return addTrees(); })
                  .then([this, &ref]() {
                    std::uint64_t cursor = client_.db.read(
                        [&](const ReadTxn& txn) { return client_.replica->cursor(txn); });
                    auto request = session().subscribeRequest();
                    request.setAfter(cursor);
                    request.setListener(kj::heap<ListenerImpl>(*this));
                    return timed(request.send().then([this, &ref](auto&& response) {
                      ref.subscription = response.getSubscription();
                      {
                        std::lock_guard lock(client_.mutex);
                        if (everConnected_) ++client_.state.reconnects;
                        everConnected_ = true;
                        client_.state.lastError.clear();
                      }
                      backoff_ = client_.options.minBackoff;
                      return topUp();
                    }));
                  })
                  .then([this]() {
                    // Connected once ids are in hand: a client that waited for the
                    // connection can create records at once.
                    setConnected(true);
                    return pushLoop();
                  });
  return work.exclusiveJoin(kj::mv(disconnected)).exclusiveJoin(kj::mv(paf.promise));
}

void SyncEngine::apply(capnp::List<wire::Change>::Reader changes, std::uint64_t after,
                       std::uint64_t last, std::uint64_t through) {
  if (changes.size() == 0 && through <= after) return;
  // A partial session's batch covers entries of other trees too.
  std::uint64_t newest =
      std::max(changes.size() == 0 ? 0 : changes[changes.size() - 1].getSequence(), through);
  // A change that cannot be applied here (it does not decode, an indexer
  // refuses it) must not stop the log: the attempt is given up and the
  // batch applied again with that change quarantined, so the rest applies
  // and the cursor still counts every change.
  std::map<std::uint64_t, Error> refused;
  std::size_t settled = 0;
  for (std::size_t attempt = 0;; ++attempt) {
    std::optional<std::pair<std::uint64_t, Error>> failed;
    try {
      client_.db.write([&](WriteTxn& txn) {
        failed.reset();
        // Lost in a crash, the batch is pulled again: its cursor goes with it.
        txn.setCommitSync(client_.options.appliedChanges);
        // The log is applied in order, without a gap: a batch must continue
        // where the stored cursor stands (entries at or below it were
        // applied). Numbers may be missing inside it, where the server's
        // compaction dropped superseded entries.
        std::uint64_t cursor = client_.replica->cursor(txn);
        if (after > cursor) {
          throw Error(ErrorCode::kProtocol, "the server sent its changes after " +
                                                std::to_string(after) +
                                                " to a replica that has applied them up to " +
                                                std::to_string(cursor) + " only");
        }
        // The answers to this replica's pushes, whose changes these are as
        // a rule; settled first, so a refused create's conflict copy holds
        // the record as this replica pushed it.
        settled = client_.replica->settleAnswered(txn);
        std::uint64_t previous = after;
        bool quarantining = !refused.empty() || txn.table(client::kQuarantine).size() != 0;
        auto snapshots = client_.replica->treeSnapshots(txn);
        for (auto change : changes) {
          std::uint64_t sequence = change.getSequence();
          if (sequence <= previous) {
            throw Error(ErrorCode::kProtocol, "the server sent change " +
                                                  std::to_string(sequence) + " after change " +
                                                  std::to_string(previous));
          }
          previous = sequence;
          if (sequence <= cursor) continue;
          if (auto s = snapshots.find(change.getTree().cStr());
              s != snapshots.end() && sequence <= s->second) {
            cursor = sequence;  // a tree added since: its snapshot holds this
            continue;
          }
          OpaqueKey record{change.getTree(), change.getId(), change.getRevision()};
          std::optional<Error> behind;
          if (quarantining) behind = client::behindBrokenBorrow(txn, record, sequence);
          if (auto it = refused.find(sequence); it != refused.end()) {
            client::quarantine(txn, change, it->second);
          } else if (behind) {
            client::quarantine(txn, change, *behind);
          } else {
            try {
              txn.tree(change.getTree().cStr()).applyChange(change, change.getOrigin().cStr());
            } catch (const Error& e) {
              if (client::quarantinable(e.code()) && attempt < changes.size()) {
                failed.emplace(sequence, e);
              }
              throw;
            }
            if (client_.replica->settleReturned(txn, change)) ++settled;
            if (quarantining) {
              client::dropOvertaken(txn, record, sequence,
                                    static_cast<std::uint16_t>(change.getKind()));
            }
          }
          cursor = sequence;
        }
        client_.replica->setCursor(txn, std::max(cursor, through));
      });
      break;
    } catch (const Error&) {
      if (!failed) throw;
      refused.emplace(failed->first, failed->second);
    }
  }
  {
    std::lock_guard lock(client_.mutex);
    client_.state.lastApplied = newest;
    client_.state.serverSequence = std::max(client_.state.serverSequence, last);
    if (!refused.empty()) {
      auto& [sequence, why] = *refused.rbegin();
      client_.state.lastError = "the server's change " + std::to_string(sequence) +
                                " could not be applied here and waits in the quarantine: " +
                                why.what();
    }
  }
  client_.changed.notify_all();
  answersSettled(settled);
}

kj::Promise<std::pair<BorrowInfo, std::uint64_t>> SyncEngine::checkOut(OpaqueKey key) {
  auto request = session().checkOutRequest();
  protocol::setKey(request.initKeys(1)[0], key);
  return timed(request.send().then([](auto&& response) {
    return protocol::translated([&] {
      auto outcome = response.getOutcomes()[0];
      protocol::check(outcome);
      return std::pair(protocol::borrowOf(response.getBorrows()[0]), outcome.getSequence());
    });
  }));
}

kj::Promise<std::uint64_t> SyncEngine::release(OpaqueKey key) {
  auto request = session().releaseRequest();
  protocol::setKey(request.initKey(), key);
  return timed(request.send().then([](auto&& response) {
    return protocol::translated([&] {
      protocol::check(response.getOutcome());
      return response.getOutcome().getSequence();
    });
  }));
}

kj::Promise<std::pair<std::uint32_t, std::uint64_t>> SyncEngine::newRevision(OpaqueKey key) {
  auto request = session().newRevisionRequest();
  protocol::setKey(request.initKey(), key);
  return timed(request.send().then([](auto&& response) {
    return protocol::translated([&] {
      protocol::check(response.getOutcome());
      return std::pair(response.getRevision(), response.getOutcome().getSequence());
    });
  }));
}

kj::Promise<std::uint64_t> SyncEngine::setLifecycle(OpaqueKey key, std::uint32_t lifecycle) {
  auto request = session().setLifecycleRequest();
  protocol::setKey(request.initKey(), key);
  request.setLifecycle(lifecycle);
  return timed(request.send().then([](auto&& response) {
    return protocol::translated([&] {
      protocol::check(response.getOutcome());
      return response.getOutcome().getSequence();
    });
  }));
}

kj::Promise<std::pair<BorrowInfo, std::uint64_t>> SyncEngine::breakBorrow(OpaqueKey key) {
  auto request = session().breakBorrowRequest();
  protocol::setKey(request.initKey(), key);
  return timed(request.send().then([](auto&& response) {
    return protocol::translated([&] {
      protocol::check(response.getOutcome());
      return std::pair(protocol::borrowOf(response.getBorrow()),
                       response.getOutcome().getSequence());
    });
  }));
}

kj::Promise<std::uint64_t> SyncEngine::lastSequence() {
  auto request = session().lastSequenceRequest();
  return timed(request.send().then([](auto&& response) { return response.getLast(); }));
}

}  // namespace hills
