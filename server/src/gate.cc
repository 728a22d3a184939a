// The Gate a sync connection starts with: the hello, its checks and its
// answer, which opens a Session (session.cc).
#include <capnp/schema-loader.h>

#include "hills/schema.h"
#include "server_impl.h"

namespace hills {

namespace {

using server::translated;

bool sameToken(std::string_view expected, std::string_view given) {
  // Compared in full whatever differs, so timing tells nothing.
  unsigned char diff = expected.size() != given.size();
  for (std::size_t i = 0; i < given.size(); ++i) {
    diff |= static_cast<unsigned char>(expected[i % (expected.size() ? expected.size() : 1)] ^
                                       given[i]);
  }
  return diff == 0 && !expected.empty();
}

class GateImpl final : public sync::Gate::Server {
 public:
  GateImpl(SyncServer::Impl& server, std::shared_ptr<server::ConnectionState> conn)
      : server_(server), conn_(std::move(conn)) {}

  // A hello is checked when it comes, and answered when its source may be
  // answered (server::Sources): failed hellos slow down the next ones from
  // the same address, whatever the connection.
  kj::Promise<void> hello(HelloContext context) override {
    return translated([&] {
      if (conn_->helloPending) {
        server_.counters.refuse(server::Refused::kHelloPending);
        server_.refusal(conn_->source, "refused hello",
                        "refused a hello from " + conn_->peer +
                            ": another one waits for its answer");
        throw Error(ErrorCode::kDenied, "a connection says one hello at a time");
      }
      auto hello = context.getParams().getHello();
      std::string name = hello.getClient();
      const ClientAccount* account = accountOf(name);
      bool known = account != nullptr && sameToken(account->token, hello.getToken().cStr());
      kj::TimePoint now = server_.timer.now();
      kj::TimePoint at = server_.sources.answerAt(conn_->source, now);
      if (!known) {
        // The log says which; the caller learns no more than that one of
        // the two is wrong.
        server_.counters.refuse(server::Refused::kCredentials);
        server_.refusal(conn_->source, "refused hello",
                        "refused a hello from " + conn_->peer + ": " +
                            (account == nullptr ? "the server knows no client '" + name + "'"
                                                : "the token of client '" + name + "' is wrong"));
        failed(at);
      }
      conn_->helloPending = true;
      auto answer = [this, context, known]() mutable {
        conn_->helloPending = false;
        return translated([&] {
          auto hello = context.getParams().getHello();
          std::string name = hello.getClient();
          // Looked up again: a reload may have changed the clients while
          // the answer waited.
          const ClientAccount* account = accountOf(name);
          if (!known || account == nullptr ||
              !sameToken(account->token, hello.getToken().cStr())) {
            if (known) server_.counters.refuse(server::Refused::kCredentials);
            throw Error(ErrorCode::kDenied,
                        "the server knows no client '" + name + "' with that token");
          }
          return welcome(context, *account);
        });
      };
      if (at <= now) return answer();
      return server_.timer.atTime(at).then(kj::mv(answer));
    });
  }

 private:
  const ClientAccount* accountOf(const std::string& name) const {
    for (const auto& a : server_.config.clients) {
      if (a.name == name) return &a;
    }
    return nullptr;
  }

  // Counts a failed hello answered at `at`; after maxHelloFailures the
  // connection is closed when its next answer would be due.
  void failed(kj::TimePoint at) {
    kj::Duration delay = server_.sources.failed(conn_->source, at);
    if (++conn_->helloFailures < server_.config.maxHelloFailures) return;
    server_.refusal(conn_->source, "too many failed hellos",
                    "closing the connection from " + conn_->peer + " after " +
                        std::to_string(conn_->helloFailures) +
                        " failed hellos (maxHelloFailures)");
    std::uint64_t id = conn_->id;
    // The server, not this gate: the connection may be gone by then.
    auto& server = server_;
    server.tasks.add(server.timer.atTime(at + delay).then([&server, id] { server.close(id); }));
  }

  kj::Promise<void> welcome(HelloContext& context, const ClientAccount& account) {
    auto hello = context.getParams().getHello();
    const std::string& name = account.name;
    if (hello.getProtocol() < sync::OLDEST_PROTOCOL || hello.getProtocol() > sync::PROTOCOL_VERSION) {
      server_.counters.refuse(server::Refused::kProtocol);
      throw Error(ErrorCode::kProtocol,
                  "client '" + name + "' speaks protocol " + std::to_string(hello.getProtocol()) +
                      "; this server speaks " + std::to_string(sync::OLDEST_PROTOCOL) + " to " +
                      std::to_string(sync::PROTOCOL_VERSION));
    }
    std::string uuid = server_.db.uuid();
    std::string pinned = hello.getPinnedServer();
    if (!pinned.empty() && pinned != uuid) {
      server_.counters.refuse(server::Refused::kWrongServer);
      server_.refusal(conn_->source, "wrong server",
                      "refused client '" + name + "': it belongs to server " + pinned);
      throw Error(ErrorCode::kWrongServer,
                  "this server is " + uuid + ", not the server " + pinned + " the client knows");
    }
    if (account.write && hello.getSchemas().size() > 0) {
      // The trees its records live in; a newer schema replaces the stored one.
      capnp::SchemaLoader loader;
      std::vector<TreeType> types;
      for (auto schema : hello.getSchemas()) {
        // A tree the client may not read is none of its business to declare.
        if (server::mayRead(account, schema.getTree().cStr())) {
          types.push_back(readTreeSchema(schema, loader));
        }
      }
      try {
        server_.db.declareTrees(types);
      } catch (const Error& e) {
        server_.counters.refuse(server::Refused::kSchema);
        server_.refusal(conn_->source, "schema refused",
                        "refused client '" + name + "': " + e.what());
        throw;
      }
    }
    server::TreeScope scope;
    try {
      scope = server::TreeScope::ofHello(server_.db, account, hello.getTrees());
    } catch (const Error& e) {
      server_.counters.refuse(server::Refused::kTrees);
      server_.refusal(conn_->source, "trees refused", "refused client '" + name + "': " + e.what());
      throw;
    }
    conn_->authenticated = true;
    conn_->client = name;
    auto held = std::make_shared<ClientAccount>(account);
    conn_->sessions.push_back(held);
    ++server_.counters.sessionsOpened;
    server_.log("client '" + name + "' connected from " + conn_->peer + " (" +
                (account.read ? "read" : "") + (account.write ? " write" : "") +
                (account.admin ? " admin" : "") + ")" +
                (scope.all() ? std::string() : ", following " + scope.describe()));
    auto results = context.getResults();
    results.setSession(newSession(server_, conn_, std::move(held), std::move(scope)));
    auto info = results.initServer();
    info.setUuid(uuid);
    info.setProtocol(sync::PROTOCOL_VERSION);
    info.setLastSequence(server_.lastSequence);
    auto perms = info.initPermissions();
    perms.setRead(account.read);
    perms.setWrite(account.write);
    perms.setAdmin(account.admin);
    auto trees = server_.db.trees();
    // Only what the client may read: the others' schemas are not its business.
    std::erase_if(trees, [&](const TreeInfo& t) { return !server::mayRead(account, t.name); });
    auto schemas = info.initSchemas(static_cast<unsigned>(trees.size()));
    for (unsigned i = 0; i < trees.size(); ++i) {
      writeTreeSchema(
          TreeType{trees[i].name, trees[i].versioned, server_.db.storedSchema(trees[i].name)},
          schemas[i]);
    }
    return kj::READY_NOW;
  }

  SyncServer::Impl& server_;
  std::shared_ptr<server::ConnectionState> conn_;  // a delayed hello may outlive the connection
};

}  // namespace

capnp::Capability::Client newGate(SyncServer::Impl& server,
                                  std::shared_ptr<server::ConnectionState> conn) {
  return kj::heap<GateImpl>(server, std::move(conn));
}

}  // namespace hills
