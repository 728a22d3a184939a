// SyncServer::reload: a configuration read again (SIGHUP) applied to a
// running server, without dropping the sessions that remain allowed.
#include "server_impl.h"

namespace hills {

namespace {

// The limits a reload may change, by their names in the file.
std::vector<std::pair<const char*, std::uint64_t>> limitsOf(const ServerConfig& c) {
  auto ms = [](std::chrono::milliseconds d) { return static_cast<std::uint64_t>(d.count()); };
  return {
      {"idBlock", c.idBlock},
      {"batchChanges", c.batchChanges},
      {"maxConnections", c.maxConnections},
      {"helloTimeoutMs", ms(c.helloTimeout)},
      {"maxConnectionsPerSource", c.maxConnectionsPerSource},
      {"maxHelloFailures", c.maxHelloFailures},
      {"helloDelayMs", ms(c.helloDelay)},
      {"helloDelayMaxMs", ms(c.helloDelayMax)},
      {"maxBytesInFlight", c.maxBytesInFlight},
      {"acceptRetryMs", ms(c.acceptRetry)},
      {"logBurst", c.logBurst},
      {"logWindowMs", ms(c.logWindow)},
  };
}

// What a configuration changes that only a restart applies: (name, what
// runs, what the file says). The running value stays in `next`.
std::vector<std::string> keepRestartOnly(const ServerConfig& running, ServerConfig& next) {
  std::vector<std::string> kept;
  if (next.httpListen != running.httpListen) {
    kept.push_back("httpListen ('" + running.httpListen + "', the file says '" + next.httpListen +
                   "')");
    next.httpListen = running.httpListen;
  }
  // The TLS context is made at start: a new certificate (renewed on disk)
  // is taken at the next restart.
  auto transport = [](const ServerConfig& c) {
    return c.tls ? "tls " + c.tls->certificateFile + " " + c.tls->keyFile + " " +
                       std::to_string(std::hash<std::string>{}(c.tls->certificate + c.tls->key))
                 : std::string(c.plaintext ? "plaintext" : "none");
  };
  if (transport(next) != transport(running)) {
    kept.push_back("tls/plaintext (the certificate, its key or the choice of plain text)");
    next.tls = running.tls;
    next.plaintext = running.plaintext;
  }
  // The discovery socket is made at start, with what it advertises.
  if (!(next.discovery == running.discovery)) {
    auto describe = [](const ServerDiscovery& d) {
      return d.name.empty() ? std::string("off")
                            : "'" + d.name + "' on " + d.where.toString() +
                                  (d.advertise.empty() ? "" : ", advertising " + d.advertise) +
                                  (d.interface.empty() ? "" : ", interface " + d.interface);
    };
    kept.push_back("discovery (" + describe(running.discovery) + ", the file says " +
                   describe(next.discovery) + ")");
    next.discovery = running.discovery;
  }
  if (next.compactLog != running.compactLog) {
    kept.push_back(std::string("compactLog (") + (running.compactLog ? "true" : "false") +
                   ", the file says " + (next.compactLog ? "true" : "false") + ")");
    next.compactLog = running.compactLog;
  }
  return kept;
}

const ClientAccount* accountIn(const ServerConfig& config, const std::string& name) {
  for (const auto& a : config.clients) {
    if (a.name == name) return &a;
  }
  return nullptr;
}

std::string permissions(const ClientAccount& a) {
  std::string out =
      std::string(a.read ? " read" : "") + (a.write ? " write" : "") + (a.admin ? " admin" : "");
  return out.empty() ? "nothing" : out.substr(1);
}

// Why a session of `account` may not go on under `next`; empty when it may.
std::string whyClosed(const ClientAccount& account, const ServerConfig& next) {
  const ClientAccount* now = accountIn(next, account.name);
  if (now == nullptr) return "client '" + account.name + "' is no longer in the configuration";
  if (now->token != account.token) return "the token of client '" + account.name + "' changed";
  // A subscription is a read that lasts the whole session.
  if (account.read && !now->read) return "client '" + account.name + "' may no longer read";
  // Fewer trees: its session may follow one it may no longer read.
  for (const auto& tree : now->trees.empty() ? std::vector<std::string>{} : account.trees) {
    if (!server::mayRead(*now, tree)) {
      return "client '" + account.name + "' may no longer read tree '" + tree + "'";
    }
  }
  if (account.trees.empty() && !now->trees.empty()) {
    return "client '" + account.name + "' may now read some trees only";
  }
  return {};
}

// "A, B" of the names in `of` that `other` lacks.
std::string namesMissing(const ServerConfig& of, const ServerConfig& other) {
  std::string out;
  for (const auto& a : of.clients) {
    if (accountIn(other, a.name) == nullptr) out += (out.empty() ? "" : ", ") + a.name;
  }
  return out;
}

}  // namespace

void SyncServer::reload(ServerConfig config) { impl_->reload(std::move(config)); }

void SyncServer::reloadFailed(std::string_view why) {
  ++impl_->counters.reloadFailures;
  impl_->log("the configuration was not reloaded; the one in force stays: " + std::string(why));
}

void SyncServer::Impl::reload(ServerConfig next) {
  for (const auto& kept : keepRestartOnly(config, next)) {
    log("reload: " + kept + " needs a restart; it keeps its running value until then");
  }
  for (const auto& [id, conn] : connections) {
    const server::ConnectionState& state = *conn->state;
    std::string why;
    for (const auto& account : state.sessions) {
      why = whyClosed(*account, next);
      if (!why.empty()) break;
    }
    if (!why.empty()) {
      closeForReload(state, why);
      continue;
    }
    for (const auto& account : state.sessions) {
      const ClientAccount& now = *accountIn(next, account->name);
      account->trees = now.trees;  // more of them: whyClosed() let the session go on
      if (permissions(*account) == permissions(now)) continue;
      log("client '" + account->name + "' (" + state.peer + ") may now " + permissions(now) +
          " (was " + permissions(*account) + "), from its next call");
      account->read = now.read;
      account->write = now.write;
      account->admin = now.admin;
    }
  }
  std::string changes;
  auto before = limitsOf(config), after = limitsOf(next);
  for (std::size_t i = 0; i < before.size(); ++i) {
    if (before[i].second == after[i].second) continue;
    changes += std::string("; ") + before[i].first + " " + std::to_string(before[i].second) +
               " -> " + std::to_string(after[i].second);
  }
  std::string added = namesMissing(next, config), removed = namesMissing(config, next);
  if (!added.empty()) changes += "; clients added: " + added;
  if (!removed.empty()) changes += "; clients removed: " + removed;
  config = std::move(next);
  sources.configure(server::toKj(config.helloDelay), server::toKj(config.helloDelayMax),
                    server::failureMemory(config));
  logLimit_.configure(config.logBurst, server::toKj(config.logWindow));
  ++counters.reloads;
  log("configuration reloaded: " + std::to_string(config.clients.size()) + " clients" +
      (changes.empty() ? "; no limit changed" : changes));
}

void SyncServer::Impl::closeForReload(const server::ConnectionState& conn, const std::string& why) {
  ++counters.closedByReload;
  log(why + ": closing its session (" + conn.peer + ")");
  close(conn.id);
}

}  // namespace hills
