// What the sync server counts for monitoring (SyncServer::metrics()), and
// the stream wrapper that counts the bytes of its connections.
#pragma once

#include <kj/async-io.h>

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>

#include "hills/server.h"

namespace hills::server {

// Why a hello or a connection did not become a session.
enum class Refused : std::size_t {
  kCredentials,              // unknown client, or a wrong token
  kProtocol,                 // another protocol version
  kWrongServer,              // the client is pinned to another server
  kSchema,                   // its schemas do not fit the stored ones
  kHelloPending,             // a second hello while one waits for its answer
  kMaxConnections,           // closed at accept: maxConnections
  kMaxConnectionsPerSource,  // closed at accept: maxConnectionsPerSource
  kHelloTimeout,             // no valid hello within helloTimeout
  kTrees,                    // it asked for trees it may not read, or that do not exist
};
inline constexpr std::size_t kRefusedReasons = 9;

// The label of each reason, in the enum's order.
inline constexpr std::array<const char*, kRefusedReasons> kRefusedNames = {
    "credentials",
    "protocol",
    "wrong_server",
    "schema",
    "hello_pending",
    "max_connections",
    "max_connections_per_source",
    "hello_timeout",
    "trees"};

// The server's counters that no other member keeps. Event loop only.
struct Counters {
  Counters();

  std::uint64_t sessionsOpened = 0;
  std::array<std::uint64_t, kRefusedReasons> refused{};
  std::uint64_t closedByReload = 0;
  std::uint64_t commitFailures = 0;
  MetricHistogram requestsPerCommit;
  MetricHistogram commitSeconds;
  std::uint64_t bytesReceived = 0;
  std::uint64_t bytesSent = 0;
  std::uint64_t reloads = 0;
  std::uint64_t reloadFailures = 0;

  void refuse(Refused reason) { ++refused[static_cast<std::size_t>(reason)]; }
};

// A connection's stream that adds the bytes read from and written to it to
// two counters, which must outlive it. Everything else goes to the stream
// it wraps.
class CountingStream final : public kj::AsyncIoStream {
 public:
  CountingStream(kj::Own<kj::AsyncIoStream> inner, std::uint64_t& received, std::uint64_t& sent)
      : inner_(kj::mv(inner)), received_(received), sent_(sent) {}

  kj::Promise<std::size_t> tryRead(void* buffer, std::size_t minBytes,
                                   std::size_t maxBytes) override;
  kj::Promise<void> write(const void* buffer, std::size_t size) override;
  kj::Promise<void> write(kj::ArrayPtr<const kj::ArrayPtr<const kj::byte>> pieces) override;
  kj::Promise<void> whenWriteDisconnected() override { return inner_->whenWriteDisconnected(); }
  void shutdownWrite() override { inner_->shutdownWrite(); }
  void abortRead() override { inner_->abortRead(); }
  void getsockopt(int level, int option, void* value, uint* length) override {
    inner_->getsockopt(level, option, value, length);
  }
  void setsockopt(int level, int option, const void* value, uint length) override {
    inner_->setsockopt(level, option, value, length);
  }
  void getsockname(struct sockaddr* addr, uint* length) override {
    inner_->getsockname(addr, length);
  }
  void getpeername(struct sockaddr* addr, uint* length) override {
    inner_->getpeername(addr, length);
  }
  kj::Maybe<int> getFd() const override { return inner_->getFd(); }

 private:
  kj::Own<kj::AsyncIoStream> inner_;
  std::uint64_t& received_;
  std::uint64_t& sent_;
};

// Seconds between two points of std::chrono::steady_clock.
inline double secondsBetween(std::chrono::steady_clock::time_point from,
                             std::chrono::steady_clock::time_point to) {
  return std::chrono::duration<double>(to - from).count();
}

}  // namespace hills::server
