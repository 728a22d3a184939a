// A real hills-server process on 127.0.0.1 for integration tests: started
// with a configuration of test clients, stopped with SIGTERM (or killed).
#pragma once

#include <poll.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "certificates.h"
#include "child_process.h"

namespace hills::test {

// The "tls" or "plaintext" member of a test server's configuration: TLS
// with `certificate` (certificates.h), plain TCP when it is absent.
inline std::string transportMember(const std::optional<TestCertificate>& certificate) {
  if (!certificate) return R"("plaintext": true)";
  return R"("tls": {"certificateFile": ")" + certificate->certificateFile + R"(", "keyFile": ")" +
         certificate->keyFile + R"("})";
}

// Writes a server configuration: A, B and C may write, reader only reads,
// admin may break borrows. Tokens are "<name>-token". Plain TCP, unless
// `tls` gives the server a certificate. `more`: further members of the
// configuration, as JSON ("\"logRetentionS\": 0").
inline std::string writeServerConfig(const std::string& path,
                                     const std::optional<TestCertificate>& tls = std::nullopt,
                                     const std::string& more = {}) {
  std::ofstream out(path);
  out << R"({"clients": [
    {"name": "A", "token": "A-token", "write": true},
    {"name": "B", "token": "B-token", "write": true},
    {"name": "C", "token": "C-token", "write": true},
    {"name": "reader", "token": "reader-token"},
    {"name": "admin", "token": "admin-token", "write": true, "admin": true}
  ], "idBlock": 4096, "helloTimeoutMs": 1000, )"
      << transportMember(tls) << (more.empty() ? "" : ", " + more) << "}";
  return path;
}

// Writes a configuration whose accounts are limited to trees: A writes
// everything; "floor" (a pick-and-place machine) may read and write parts
// and stock only; "shelf" may read and write every tree. Plain TCP.
inline std::string writeTreeLimitedConfig(const std::string& path) {
  std::ofstream out(path);
  out << R"({"clients": [
    {"name": "A", "token": "A-token", "write": true},
    {"name": "floor", "token": "floor-token", "write": true, "trees": ["parts", "stock"]},
    {"name": "shelf", "token": "shelf-token", "write": true}
  ], "plaintext": true, "helloTimeoutMs": 1000})";
  return path;
}

class ServerProcess {
 public:
  // Starts hills-server on `db` and waits (at most 10 s) for the line that
  // gives its port. `port` 0 picks a free one; `limits` are set in the
  // child before it runs the server.
  ServerProcess(const std::string& db, const std::string& config, unsigned port = 0,
                ProcessLimits limits = {}) {
    int out[2];
    if (::pipe(out) != 0) throw std::runtime_error("pipe failed");
    logPath_ = db + ".server.log";
    pid_ = spawnProcess(HILLS_SERVER_BIN,
                        {"--db=" + db, "--listen=127.0.0.1:" + std::to_string(port),
                         "--config=" + config},
                        logPath_, out[1], limits);
    ::close(out[1]);
    std::string line;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (line.find('\n') == std::string::npos) {
      pollfd p{out[0], POLLIN, 0};
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0 || ::poll(&p, 1, static_cast<int>(left.count())) <= 0) break;
      char buf[256];
      ssize_t n = ::read(out[0], buf, sizeof(buf));
      if (n <= 0) break;
      line.append(buf, static_cast<std::size_t>(n));
    }
    ::close(out[0]);
    auto at = line.find("listening on 127.0.0.1:");
    if (at == std::string::npos) {
      kill(SIGKILL);
      throw std::runtime_error("hills-server did not start: '" + line + "'\n" + log());
    }
    port_ = static_cast<unsigned>(std::stoul(line.substr(at + 23)));
  }
  ~ServerProcess() {
    if (pid_ > 0) kill(SIGKILL);
  }
  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;

  unsigned port() const { return port_; }
  pid_t pid() const { return pid_; }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }

  // Sends `signal` and waits for the process (at most 10 s, then SIGKILL).
  // Returns its exit status as waitpid gives it.
  int kill(int signal = SIGTERM) {
    if (pid_ <= 0) return -1;
    int status = stopProcess(pid_, signal);
    pid_ = -1;
    return status;
  }

  // Whether the process is still running.
  bool alive() const { return pid_ > 0 && running(pid_); }

  // What the server logged so far.
  std::string log() const {
    std::ifstream in(logPath_);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }

 private:
  pid_t pid_ = -1;
  unsigned port_ = 0;
  std::string logPath_;
};

// How many times `what` occurs in `text` (a server's log).
inline std::size_t occurrences(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

// Polls `condition` every 5 ms for at most `timeout`.
template <class F>
bool eventually(F&& condition, std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!condition()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    ::usleep(5000);
  }
  return true;
}

}  // namespace hills::test
