// A SyncServer in this process, on a thread of its own with its own kj
// event loop, serving sync on 127.0.0.1 and its HTTP endpoint on another
// port: tests reach its C++ API (metrics(), reload()) through run(), and
// real clients connect to it as to hills-server.
#pragma once

#include <kj/async-io.h>

#include <functional>
#include <initializer_list>
#include <future>
#include <mutex>
#include <string>
#include <thread>
#include <utility>

#include "hills/server.h"

namespace hills::test {

// A configuration for plain TCP on 127.0.0.1 whose clients are `writers`
// (read and write) and `readers` (read only), each with the token
// "<name>-token".
inline ServerConfig plainConfig(std::initializer_list<const char*> writers,
                                std::initializer_list<const char*> readers = {}) {
  ServerConfig config;
  config.plaintext = true;
  for (const char* name : writers) {
    config.clients.push_back({name, std::string(name) + "-token", true, true, false, {}});
  }
  for (const char* name : readers) {
    config.clients.push_back({name, std::string(name) + "-token", true, false, false, {}});
  }
  return config;
}

struct ServerThreadSettings {
  bool acceptSync = true;  // false: the sync port is open but never accepted on
};

class ServerThread {
 public:
  using Settings = ServerThreadSettings;

  // Opens the server database in `dir` and starts serving; throws what
  // starting threw.
  ServerThread(std::string dir, ServerConfig config, Settings settings = {})
      : thread_([this, dir = std::move(dir), config = std::move(config), settings]() mutable {
          serve(dir, std::move(config), settings);
        }) {
    try {
      started_.get_future().get();
    } catch (...) {
      thread_.join();
      throw;
    }
  }
  ~ServerThread() {
    executor_->executeSync([this] { stop_->fulfill(); });
    thread_.join();
  }
  ServerThread(const ServerThread&) = delete;
  ServerThread& operator=(const ServerThread&) = delete;

  unsigned port() const { return port_; }
  unsigned httpPort() const { return httpPort_; }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }

  // Runs fn(server) on the server's thread and returns what it returns.
  template <class F>
  auto run(F&& fn) {
    return executor_->executeSync([&] { return fn(*server_); });
  }

  ServerMetrics metrics() {
    return run([](SyncServer& s) { return s.metrics(); });
  }

  // What the server logged so far.
  std::string log() {
    std::lock_guard lock(mutex_);
    return log_;
  }

 private:
  void serve(const std::string& dir, ServerConfig config, Settings settings) {
    bool started = false;
    try {
      auto io = kj::setupAsyncIo();
      Database db(dir, serverDatabaseOptions());
      SyncServer server(db, std::move(config), io.provider->getTimer(),
                        [this](std::string_view line) {
                          std::lock_guard lock(mutex_);
                          log_.append(line).append("\n");
                        });
      auto& network = io.provider->getNetwork();
      auto receiver = network.parseAddress("127.0.0.1", 0).wait(io.waitScope)->listen();
      auto httpReceiver = network.parseAddress("127.0.0.1", 0).wait(io.waitScope)->listen();
      auto stop = kj::newPromiseAndFulfiller<void>();
      kj::Promise<void> serving = nullptr;
      if (settings.acceptSync) serving = server.listen(*receiver).eagerlyEvaluate(nullptr);
      auto http = server.serveHttp(*httpReceiver).eagerlyEvaluate(nullptr);
      port_ = receiver->getPort();
      httpPort_ = httpReceiver->getPort();
      server_ = &server;
      executor_ = &kj::getCurrentThreadExecutor();
      stop_ = kj::mv(stop.fulfiller);
      started_.set_value();
      started = true;
      stop.promise.wait(io.waitScope);
      server.shutdown();
    } catch (...) {
      if (!started) started_.set_exception(std::current_exception());
    }
  }

  std::promise<void> started_;
  std::mutex mutex_;
  std::string log_;
  unsigned port_ = 0, httpPort_ = 0;
  SyncServer* server_ = nullptr;
  const kj::Executor* executor_ = nullptr;
  kj::Own<kj::PromiseFulfiller<void>> stop_;
  std::thread thread_;  // last: starts once the rest is ready
};

}  // namespace hills::test
