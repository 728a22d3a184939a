// A TCP proxy on 127.0.0.1 that forwards bytes to a server and cuts each
// connection at a random byte offset, mid-message included. Its choices
// come from a seed: connection k is cut after the same number of bytes in
// every run with that seed.
#pragma once

#include <atomic>
#include <cstdint>
#include <random>
#include <thread>

namespace hills::test {

class CuttingProxy {
 public:
  // Listens on a free port of 127.0.0.1 and forwards to `targetPort`. Each
  // connection is cut (both sides closed) once `cutAfter(k)` bytes went
  // through it, counting both directions.
  CuttingProxy(unsigned targetPort, std::uint32_t seed);
  ~CuttingProxy();
  CuttingProxy(const CuttingProxy&) = delete;
  CuttingProxy& operator=(const CuttingProxy&) = delete;

  unsigned port() const { return port_; }

  // Connections cut so far (closed by the proxy, not by either end).
  std::uint64_t cuts() const { return cuts_; }
  // Connections accepted so far.
  std::uint64_t connections() const { return connections_; }

  // Where connection `k` is cut: log-uniform between 1 byte and 1 MiB, so
  // that hellos, pushes and catch-ups are all cut somewhere.
  static std::uint64_t cutAfter(std::uint32_t seed, std::uint64_t k);

 private:
  void run();

  unsigned targetPort_;
  std::uint32_t seed_;
  int listener_ = -1;
  unsigned port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<std::uint64_t> cuts_{0};
  std::atomic<std::uint64_t> connections_{0};
  std::thread thread_;
};

}  // namespace hills::test
