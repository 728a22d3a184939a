// hills-server: serves a hills database to its clients on the LAN.
#include <kj/async-io.h>
#include <kj/async-unix.h>
#include <kj/main.h>
#include <signal.h>
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <iostream>
#include <optional>

#include "hills/server.h"

namespace {

void logLine(std::string_view line) {
  auto now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  char stamp[32];
  std::strftime(stamp, sizeof(stamp), "%Y-%m-%d %H:%M:%S", std::localtime(&now));
  std::cerr << stamp << " hills-server: " << line << std::endl;
}

// Descriptors kept for what is not a connection: the database's files, the
// log, the listening socket, the event loop's and the writer thread's.
constexpr std::size_t kSpareDescriptors = 32;

// Raises the soft limit on open descriptors to the hard one, and keeps
// maxConnections below what it allows: a server out of descriptors can
// accept no one, not even to refuse them.
void fitToDescriptors(hills::ServerConfig& config) {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) {
    logLine("cannot read the limit on open descriptors; maxConnections stays " +
            std::to_string(config.maxConnections));
    return;
  }
  rlim_t was = limit.rlim_cur;
  if (limit.rlim_cur < limit.rlim_max) {
    rlimit raised = limit;
    raised.rlim_cur = limit.rlim_max;
    if (::setrlimit(RLIMIT_NOFILE, &raised) == 0) limit = raised;
  }
  std::string line = "open descriptors: at most " + std::to_string(limit.rlim_cur) +
                     (was != limit.rlim_cur ? " (raised from " + std::to_string(was) + ")" : "");
  std::size_t usable = limit.rlim_cur > 2 * kSpareDescriptors
                           ? static_cast<std::size_t>(limit.rlim_cur) - kSpareDescriptors
                           : static_cast<std::size_t>(limit.rlim_cur) / 2;
  if (usable == 0) usable = 1;
  if (config.maxConnections > usable) {
    line += "; maxConnections " + std::to_string(usable) + " instead of the " +
            std::to_string(config.maxConnections) + " configured, to keep " +
            std::to_string(limit.rlim_cur - usable) + " for the database, the log and the listener";
    config.maxConnections = usable;
  } else {
    line += "; maxConnections " + std::to_string(config.maxConnections);
  }
  logLine(line);
}

class ServerMain {
 public:
  explicit ServerMain(kj::ProcessContext& context) : context_(context) {}

  kj::MainFunc getMain() {
    return kj::MainBuilder(context_, "hills-server 0.1",
                           "Serves the hills database in <dir> to the clients listed in the "
                           "configuration, over Cap'n Proto RPC. Prints the address it listens "
                           "on; stops cleanly on SIGINT or SIGTERM; reads the configuration "
                           "again on SIGHUP.")
        .addOptionWithArg({"db"}, KJ_BIND_METHOD(*this, setDb), "<dir>",
                          "Database directory (created when absent).")
        .addOptionWithArg({"listen"}, KJ_BIND_METHOD(*this, setListen), "<host:port>",
                          "Address to listen on; port 0 picks a free port. "
                          "Default: 127.0.0.1:7420.")
        .addOptionWithArg({"config"}, KJ_BIND_METHOD(*this, setConfig), "<file>",
                          "JSON configuration: the clients, their tokens and permissions "
                          "(read, write, admin), and either tls (certificate and key files) "
                          "or \"plaintext\": true.")
        .callAfterParsing(KJ_BIND_METHOD(*this, run))
        .build();
  }

 private:
  kj::MainBuilder::Validity setDb(kj::StringPtr value) {
    db_ = value.cStr();
    return true;
  }
  kj::MainBuilder::Validity setListen(kj::StringPtr value) {
    listen_ = value.cStr();
    return true;
  }
  kj::MainBuilder::Validity setConfig(kj::StringPtr value) {
    config_ = value.cStr();
    return true;
  }

  kj::MainBuilder::Validity run() {
    if (db_.empty()) return "--db <dir> is required";
    if (config_.empty()) return "--config <file> is required";
    try {
      serve();
    } catch (const hills::Error& e) {
      context_.exitError(kj::str("hills-server: ", e.what()));
    }
    return true;
  }

  void serve() {
    hills::ServerConfig config = hills::loadServerConfig(config_);
    fitToDescriptors(config);
    hills::Database db(db_, hills::serverDatabaseOptions());

    kj::UnixEventPort::captureSignal(SIGINT);
    kj::UnixEventPort::captureSignal(SIGTERM);
    kj::UnixEventPort::captureSignal(SIGHUP);
    auto io = kj::setupAsyncIo();
    kj::Own<kj::NetworkAddress> address;
    kj::Own<kj::ConnectionReceiver> receiver;
    try {
      address = io.provider->getNetwork().parseAddress(listen_, 7420).wait(io.waitScope);
      receiver = address->listen();
    } catch (const kj::Exception& e) {
      throw hills::Error(hills::ErrorCode::kIo,
                         "cannot listen on " + listen_ + ": " + e.getDescription().cStr());
    }
    kj::Own<kj::ConnectionReceiver> httpReceiver;
    if (!config.httpListen.empty()) httpReceiver = listenHttp(io, config.httpListen);
    std::string host = listen_.substr(0, listen_.rfind(':'));
    // The fingerprint is what an administrator gives clients to pin.
    std::string transport = config.tls
                                ? "TLS certificate " + hills::certificateFingerprint(*config.tls)
                                : std::string("plain TCP");
    std::printf("hills-server listening on %s:%u (database %s, server %s, %s)\n", host.c_str(),
                receiver->getPort(), db_.c_str(), db.uuid().c_str(), transport.c_str());
    std::fflush(stdout);
    if (config.tls) {
      logLine("TLS with the certificate " + config.tls->certificateFile + " (" +
              hills::certificateFingerprint(*config.tls) + ")");
    } else {
      logLine("WARNING: serving plain TCP, unencrypted: tokens and records cross the network "
              "in clear (\"plaintext\": true in " + config_ + "); use tls on any network "
              "you do not trust");
    }

    bool discover = !config.discovery.name.empty();
    hills::SyncServer server(db, std::move(config), io.provider->getTimer(), logLine);
    // listen() retries a failed accept by itself; this is for the unforeseen.
    auto serving = server.listen(*receiver).eagerlyEvaluate([](kj::Exception&& e) {
      logLine("stopped accepting connections: " + std::string(e.getDescription().cStr()));
    });
    kj::Promise<void> httpServing = nullptr;
    if (httpReceiver) {
      httpServing = server.serveHttp(*httpReceiver).eagerlyEvaluate([](kj::Exception&& e) {
        logLine("the HTTP endpoint stopped: " + std::string(e.getDescription().cStr()));
      });
    }
    kj::Promise<void> discoveryServing = nullptr;
    if (discover) {
      // A group that cannot be joined stops the start: the administrator
      // asked for discovery, and clients would look for this server in vain.
      auto syncPort = static_cast<std::uint16_t>(receiver->getPort());
      discoveryServing =
          server.serveDiscovery(*io.lowLevelProvider, host, syncPort)
              .eagerlyEvaluate([](kj::Exception&& e) {
                logLine("discovery stopped: " + std::string(e.getDescription().cStr()));
              });
    }
    auto& port = io.unixEventPort;
    for (;;) {
      auto signal = port.onSignal(SIGINT)
                        .exclusiveJoin(port.onSignal(SIGTERM))
                        .exclusiveJoin(port.onSignal(SIGHUP))
                        .wait(io.waitScope);
      if (signal.si_signo != SIGHUP) {
        logLine(signal.si_signo == SIGINT ? "SIGINT: stopping" : "SIGTERM: stopping");
        break;
      }
      reload(server);
    }
    // Every answered request was committed durably before its answer:
    // closing the connections loses nothing.
    server.shutdown();
    logLine("stopped");
  }

  // Listens for the HTTP endpoint (/metrics, /health) at `address`.
  static kj::Own<kj::ConnectionReceiver> listenHttp(kj::AsyncIoContext& io,
                                                    const std::string& address) {
    try {
      auto receiver = io.provider->getNetwork().parseAddress(address).wait(io.waitScope)->listen();
      std::string host = address.substr(0, address.rfind(':'));
      logLine("HTTP endpoint (/metrics, /health) listening on " + host + ":" +
              std::to_string(receiver->getPort()));
      return receiver;
    } catch (const kj::Exception& e) {
      throw hills::Error(hills::ErrorCode::kIo, "cannot listen on httpListen " + address + ": " +
                                                    e.getDescription().cStr());
    }
  }

  // SIGHUP: the configuration file read again and applied; one that cannot
  // be read leaves the running one in force.
  void reload(hills::SyncServer& server) {
    logLine("SIGHUP: reading the configuration " + config_ + " again");
    hills::ServerConfig next;
    try {
      next = hills::loadServerConfig(config_);
    } catch (const hills::Error& e) {
      server.reloadFailed(e.what());
      return;
    }
    fitToDescriptors(next);
    server.reload(std::move(next));
  }

  kj::ProcessContext& context_;
  std::string db_;
  std::string listen_ = "127.0.0.1:7420";
  std::string config_;
};

}  // namespace

KJ_MAIN(ServerMain)
