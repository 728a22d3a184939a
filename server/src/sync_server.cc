// The sync server's connections, commit queue and subscriptions.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>

#include "server_impl.h"

namespace hills {

namespace server {

kj::Promise<kj::Maybe<capnp::MessageReaderAndFds>> GuardedStream::tryReadMessage(
    kj::ArrayPtr<kj::AutoCloseFd> fdSpace, capnp::ReaderOptions,
    kj::ArrayPtr<capnp::word> scratch) {
  capnp::ReaderOptions limits;
  limits.traversalLimitInWords = conn_.authenticated ? kSessionWords : kHelloWords;
  limits.nestingLimit = static_cast<int>(conn_.authenticated ? kSessionNesting : kHelloNesting);
  return inner_.tryReadMessage(fdSpace, limits, scratch)
      .catch_([this](kj::Exception&& e) -> kj::Promise<kj::Maybe<capnp::MessageReaderAndFds>> {
        if (conn_.failure.empty()) conn_.failure = e.getDescription().cStr();
        return kj::mv(e);
      });
}

namespace {

struct Peer {
  std::string host;  // the source per-source limits count
  std::string name;  // host and port
};

Peer peerOf(kj::AsyncIoStream& stream) {
  sockaddr_storage addr{};
  uint length = sizeof(addr);
  try {
    stream.getpeername(reinterpret_cast<sockaddr*>(&addr), &length);
  } catch (const kj::Exception&) {
    return {"unknown peer", "unknown peer"};
  }
  char host[INET6_ADDRSTRLEN] = "?";
  unsigned port = 0;
  if (addr.ss_family == AF_INET) {
    auto* in = reinterpret_cast<sockaddr_in*>(&addr);
    inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
    port = ntohs(in->sin_port);
  } else if (addr.ss_family == AF_INET6) {
    auto* in = reinterpret_cast<sockaddr_in6*>(&addr);
    inet_ntop(AF_INET6, &in->sin6_addr, host, sizeof(host));
    port = ntohs(in->sin6_port);
  }
  return {host, std::string(host) + ":" + std::to_string(port)};
}

}  // namespace

}  // namespace server

SyncServer::Impl::Impl(Database& database, ServerConfig cfg, kj::Timer& t,
                       std::function<void(std::string_view)> logger)
    : db(database),
      config(std::move(cfg)),
      timer(t),
      log(std::move(logger)),
      sources(server::toKj(config.helloDelay), server::toKj(config.helloDelayMax),
              server::failureMemory(config)),
      writer_(database),
      logLimit_(log, config.logBurst, server::toKj(config.logWindow)) {
  checkTransport(config, "the server's configuration");
  if (config.tls) {
    tlsIdentity_ = kj::heap<kj::TlsKeypair>(
        kj::TlsKeypair{kj::TlsPrivateKey(kj::StringPtr(config.tls->key.c_str())),
                       kj::TlsCertificate(kj::StringPtr(config.tls->certificate.c_str()))});
    kj::TlsContext::Options options;
    options.defaultKeypair = *tlsIdentity_;
    options.timer = timer;
    options.acceptTimeout = server::toKj(config.helloTimeout);
    tls = kj::heap<kj::TlsContext>(options);
  }
  lastSequence = db.read([&](const ReadTxn& txn) {
    try {
      // Both throw kInvalidArgument for a database without the authority's
      // tables or a change log.
      txn.table(protocol::kBorrowTable);
      txn.changes(UINT64_MAX - 1, [](wire::Change::Reader) { return false; });
    } catch (const Error& e) {
      throw Error(ErrorCode::kInvalidArgument,
                  "the database " + db.path() +
                      " was not opened as a sync server's (serverDatabaseOptions()): " + e.what());
    }
    return txn.lastSequence();
  });
  if (config.compactLog) tasks.add(compactLater());
}

void SyncServer::Impl::taskFailed(kj::Exception&& exception) {
  refusal("server", "internal task failed",
          "internal task failed: " + std::string(exception.getDescription().cStr()));
}

void SyncServer::Impl::refusal(std::string_view source, std::string_view kind,
                               std::string_view text) {
  logLimit_.line(timer.now(), source, kind, text);
  if (logFlushScheduled_) return;
  // Summaries of what was left out are due when a window ends, whether or
  // not more lines come.
  logFlushScheduled_ = true;
  auto flushLater = [this](auto& self) -> kj::Promise<void> {
    return timer.afterDelay(logLimit_.window()).then([this, self]() -> kj::Promise<void> {
      if (logLimit_.flush(timer.now())) return self(self);
      logFlushScheduled_ = false;
      return kj::READY_NOW;
    });
  };
  tasks.add(flushLater(flushLater));
}

void SyncServer::Impl::close(std::uint64_t id) {
  tasks.add(kj::evalLater([this, id] {
    auto it = connections.find(id);
    if (it == connections.end()) return;
    sources.closed(it->second->state->source, timer.now());
    connections.erase(it);
  }));
}

kj::Promise<void> SyncServer::Impl::commit(kj::Function<void(WriteTxn&)> fn, bool request) {
  auto paf = kj::newPromiseAndFulfiller<void>();
  queue_.push_back(Work{kj::mv(fn), kj::mv(paf.fulfiller), request});
  if (!flushScheduled_ && !writing_) {
    // Every request already readable joins the batch: the flush runs once
    // nothing else is left to do in this turn of the event loop.
    flushScheduled_ = true;
    tasks.add(kj::evalLast([this] { flush(); }));
  }
  return kj::mv(paf.promise);
}

void SyncServer::Impl::flush() {
  flushScheduled_ = false;
  if (writing_ || queue_.empty()) return;
  writing_ = true;
  commitStarted = std::chrono::steady_clock::now();
  auto batch = kj::heap<std::vector<Work>>(std::move(queue_));
  queue_.clear();
  std::vector<kj::Function<void(WriteTxn&)>> fns;
  for (auto& work : *batch) fns.push_back(kj::mv(work.run));
  auto& ref = *batch;
  // While the writer thread waits for the disk, new requests queue up here
  // and form the next batch.
  tasks.add(writer_.run(std::move(fns))
                .then(
                    [this, &ref](std::uint64_t last) {
                      lastSequence = last;
                      committed(std::move(ref), nullptr);
                    },
                    [this, &ref](kj::Exception&& e) { committed(std::move(ref), kj::mv(e)); })
                .attach(kj::mv(batch)));
}

void SyncServer::Impl::committed(std::vector<Work> batch, kj::Maybe<kj::Exception> failure) {
  writing_ = false;
  counters.commitSeconds.observe(
      server::secondsBetween(*commitStarted, std::chrono::steady_clock::now()));
  commitStarted.reset();
  KJ_IF_MAYBE (e, failure) {
    ++counters.commitFailures;
    lastCommitFailure = e->getDescription().cStr();
    refusal("server", "commit failed",
            "a commit failed: " + std::string(e->getDescription().cStr()));
    for (auto& work : batch) work.done->reject(kj::cp(*e));
  } else {
    ++commits;
    auto carried = static_cast<std::uint64_t>(
        std::count_if(batch.begin(), batch.end(), [](const Work& w) { return w.request; }));
    requests += carried;
    counters.requestsPerCommit.observe(static_cast<double>(carried));
    lastCommitFailure.clear();
    for (auto& work : batch) work.done->fulfill();
    // The answers go out first (their continuations run before a later
    // event): a client whose push this commit stored reads the answer,
    // then the change fed back to it, and settles its outbox in the
    // commit that applies the change.
    tasks.add(kj::evalLater([this] {
      try {
        pumpAll();
      } catch (const std::exception& e) {
        // The next commit feeds the subscribers again; the queue must not wait.
        refusal("server", "feeding subscribers failed",
                "feeding subscribers failed: " + std::string(e.what()));
      }
    }));
  }
  if (!queue_.empty()) flush();
}

std::shared_ptr<server::Subscriber> SyncServer::Impl::subscribe(sync::Listener::Client listener,
                                                                std::string client,
                                                                server::TreeScope scope,
                                                                std::uint64_t after) {
  auto sub = std::make_shared<server::Subscriber>(server::Subscriber{
      .listener = kj::mv(listener),
      .client = std::move(client),
      .scope = std::move(scope),
      .sent = after,
      .applied = after,
      .answered = nullptr,
  });
  subscribers_.push_back(sub);
  pump(sub);
  return sub;
}

void SyncServer::Impl::unsubscribe(const std::shared_ptr<server::Subscriber>& sub) {
  sub->dead = true;
  sub->answered = nullptr;
  std::erase(subscribers_, sub);
}

void SyncServer::Impl::pumpAll() {
  auto subs = subscribers_;  // pump() may drop one
  for (auto& sub : subs) pump(sub);
}

void SyncServer::Impl::pump(const std::shared_ptr<server::Subscriber>& sub) {
  // Two batches in flight: the client applies one while the next travels.
  constexpr unsigned kWindow = 2;
  while (!sub->dead && sub->inFlight < kWindow && sub->sent < lastSequence) {
    std::optional<capnp::Request<sync::Listener::ChangesParams, sync::Listener::ChangesResults>>
        request;
    std::uint64_t from = sub->sent;
    server::Filled filled;
    db.read([&](const ReadTxn& txn) {
      filled = server::fillChanges(
          txn, from, std::min<std::uint64_t>(config.batchChanges, lastSequence - from), sub->scope,
          [&](const server::Filled& f) {
            request.emplace(sub->listener.changesRequest(f.messageSize()));
            return request->initChanges(static_cast<unsigned>(f.count));
          });
    });
    // Compaction leaves gaps, and a partial session's batch leaves out other
    // trees: the batch covers the log up to `through` all the same.
    sub->sent = filled.through > from ? filled.through : lastSequence;
    request->setAfter(from);
    request->setLast(lastSequence);
    request->setThrough(sub->sent);
    ++sub->inFlight;
    auto sent = request->send();
    // Letting an answer go sends its Finish to the replica. Let go only
    // now, the previous batch's Finish travels right behind this batch and
    // the replica reads both at one wake-up instead of waking for it alone.
    sub->answered = nullptr;
    tasks.add(sent.then(
        [this, sub, upTo = sub->sent](capnp::Response<sync::Listener::ChangesResults>&& answer) {
          --sub->inFlight;
          sub->applied = std::max(sub->applied, upTo);
          if (sub->dead) return;  // its Finish goes now
          sub->answered = kj::mv(answer);
          pump(sub);
        },
        [this, sub](kj::Exception&& e) {
          if (!sub->dead) {
            refusal(sub->client, "stopped taking changes",
                    "client '" + sub->client +
                        "' stopped taking changes: " + e.getDescription().cStr());
            unsubscribe(sub);
          }
        }));
  }
}

void SyncServer::Impl::accept(kj::Own<kj::AsyncIoStream> stream) {
  stream =
      kj::heap<server::CountingStream>(kj::mv(stream), counters.bytesReceived, counters.bytesSent);
  auto peer = server::peerOf(*stream);
  // Limits first, on the raw connection: a stranger's handshakes cost
  // nothing beyond them.
  std::size_t already = connections.size() + handshakes_;
  if (already >= config.maxConnections) {
    counters.refuse(server::Refused::kMaxConnections);
    refusal(peer.host, "too many connections",
            "refused a connection from " + peer.name + ": " + std::to_string(already) +
                " connections are open already (maxConnections)");
    return;  // closed as `stream` goes
  }
  if (std::size_t fromSource = sources.connections(peer.host);
      fromSource >= config.maxConnectionsPerSource) {
    counters.refuse(server::Refused::kMaxConnectionsPerSource);
    refusal(peer.host, "too many connections from one source",
            "refused a connection from " + peer.name + ": " + std::to_string(fromSource) +
                " connections from " + peer.host +
                " are open already (maxConnectionsPerSource)");
    return;
  }
  auto state = std::make_shared<server::ConnectionState>(peer.name, peer.host);
  state->id = nextConnection_++;
  sources.opened(state->source);
  // The handshake and the hello share one deadline.
  kj::TimePoint deadline = timer.now() + server::toKj(config.helloTimeout);
  if (tls.get() == nullptr) {
    open(kj::mv(stream), kj::mv(state), deadline);
    return;
  }
  ++handshakes_;
  // kj-tls bounds the handshake by helloTimeout (its acceptTimeout).
  tasks.add(tls->wrapServer(kj::mv(stream))
                .then(
                    [this, state, deadline](kj::Own<kj::AsyncIoStream> secured) {
                      --handshakes_;
                      if (!shuttingDown) open(kj::mv(secured), state, deadline);
                    },
                    [this, state](kj::Exception&& e) {
                      --handshakes_;
                      if (shuttingDown) return;
                      sources.closed(state->source, timer.now());
                      refusal(state->source, "TLS handshake failed",
                              "closed the connection from " + state->peer +
                                  ": the TLS handshake failed: " + e.getDescription().cStr());
                    }));
}

void SyncServer::Impl::open(kj::Own<kj::AsyncIoStream> stream,
                            std::shared_ptr<server::ConnectionState> state,
                            kj::TimePoint deadline) {
  std::uint64_t id = state->id;
  auto conn = kj::heap<server::Connection>(kj::mv(stream), state);
  server::Connection* c = conn.get();
  auto rpc = capnp::makeRpcServer(c->network, newGate(*this, state));
  // The RPC system reads no further message of a connection while more
  // than this is in calls not yet answered: what a session can make the
  // server hold is bounded.
  rpc.setFlowLimit(std::max<std::uint64_t>(config.maxBytesInFlight / sizeof(capnp::word), 1));
  c->rpc = kj::mv(rpc);
  connections.emplace(id, kj::mv(conn));
  tasks.add(c->network.onDisconnect().then([this, id] { closed(id); },
                                           [this, id](kj::Exception&&) { closed(id); }));
  // A connection that says no valid hello in time is closed.
  tasks.add(timer.atTime(deadline).then([this, id] {
    auto it = connections.find(id);
    if (it == connections.end() || it->second->state->authenticated) return;
    const server::ConnectionState& state = *it->second->state;
    counters.refuse(server::Refused::kHelloTimeout);
    refusal(state.source, "no hello in time",
            "closed the connection from " + state.peer + ": no valid hello within " +
                std::to_string(config.helloTimeout.count()) + " ms");
    sources.closed(state.source, timer.now());
    connections.erase(it);
  }));
}

kj::Promise<void> SyncServer::Impl::acceptFailed(kj::Exception&& exception) {
  acceptFailing = true;
  refusal("server", "accept failed",
          "accepting connections failed, trying again in " +
              std::to_string(config.acceptRetry.count()) +
              " ms: " + exception.getDescription().cStr());
  return timer.afterDelay(server::toKj(config.acceptRetry));
}

void SyncServer::Impl::closed(std::uint64_t id) {
  if (shuttingDown) return;
  auto it = connections.find(id);
  if (it == connections.end()) return;  // closed here already
  const server::ConnectionState* c = it->second->state.get();
  if (!c->failure.empty()) {
    refusal(c->source, "closed the connection",
            "closed the connection from " + c->peer +
                (c->client.empty() ? std::string() : " (client '" + c->client + "')") + ": " +
                c->failure);
  } else if (!c->client.empty()) {
    log("client '" + c->client + "' disconnected (" + c->peer + ")");
  }
  // Destroyed in a later turn: the network is still unwinding this one.
  close(id);
}

SyncServer::SyncServer(Database& db, ServerConfig config, kj::Timer& timer,
                       std::function<void(std::string_view)> log)
    : impl_(std::make_unique<Impl>(db, std::move(config), timer, std::move(log))) {}

SyncServer::~SyncServer() = default;

kj::Promise<void> SyncServer::listen(kj::ConnectionReceiver& receiver) {
  // A failed accept (EMFILE, ENFILE, ENOBUFS...) ends nothing: the
  // sessions go on, and accepting resumes shortly, as soon as the
  // descriptors or buffers it needs are free again.
  // evalNow: kj's accept() tries at once, so its failure may be thrown
  // rather than come as a rejected promise.
  impl_->listening = true;
  return kj::evalNow([&receiver] { return receiver.accept(); }).then(
      [this, &receiver](kj::Own<kj::AsyncIoStream>&& stream) {
        impl_->acceptFailing = false;
        impl_->accept(kj::mv(stream));
        return listen(receiver);
      },
      [this, &receiver](kj::Exception&& e) {
        return impl_->acceptFailed(kj::mv(e)).then([this, &receiver] { return listen(receiver); });
      });
}

std::size_t SyncServer::connections() const {
  return impl_->connections.size() + impl_->handshaking();
}

void SyncServer::Impl::shutdown() {
  shuttingDown = true;
  log(std::to_string(requests) + " write requests in " + std::to_string(commits) +
      " durable commits");
  for (auto& sub : subscribers_) sub->dead = true;
  subscribers_.clear();
  connections.clear();
}

void SyncServer::shutdown() { impl_->shutdown(); }

}  // namespace hills
