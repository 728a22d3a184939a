// What the sync benchmark's cases share: its arguments, child processes
// running the program in another role, client options, the server's
// configuration, and the measurements several cases hold hills against.
#pragma once

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <sstream>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "bench_util.h"
#include "certificates.h"
#include "hills/client.h"
#include "plm_fixtures.h"
#include "server_process.h"

namespace hills::bench {

// The program's arguments, "--name=value" or "--name value".
inline std::map<std::string, std::string> args;

inline std::string arg(const std::string& name, const std::string& fallback) {
  auto it = args.find(name);
  return it == args.end() ? fallback : it->second;
}

// The monotonic clock in nanoseconds: the same for every process of the run.
inline std::int64_t nowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch())
      .count();
}

inline double percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<std::size_t>(p * static_cast<double>(v.size())))];
}

// A child process running this program in another role, its stdin and
// stdout piped: it ends when its stdin closes.
struct Child {
  pid_t pid = -1;
  FILE* out = nullptr;
  int in = -1;

  explicit Child(std::vector<std::string> roleArgs) {
    int fds[2], ins[2];
    // Close-on-exec: a later child must not hold this one's stdin open.
    if (::pipe2(fds, O_CLOEXEC) != 0 || ::pipe2(ins, O_CLOEXEC) != 0) {
      throw std::runtime_error("pipe");
    }
    pid = ::fork();
    if (pid == 0) {
      ::dup2(fds[1], 1);
      ::dup2(ins[0], 0);
      ::close(fds[0]);
      ::close(ins[1]);
      std::vector<char*> argv;
      static std::string self = "/proc/self/exe";
      argv.push_back(self.data());
      for (auto& a : roleArgs) argv.push_back(a.data());
      argv.push_back(nullptr);
      ::execv("/proc/self/exe", argv.data());
      ::_exit(127);
    }
    ::close(fds[1]);
    ::close(ins[0]);
    in = ins[1];
    out = ::fdopen(fds[0], "r");
  }
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;
  void send(char c) {
    if (::write(in, &c, 1) != 1) throw std::runtime_error("a child's stdin is closed");
  }
  // The next line the child printed (without the newline); empty at its end.
  std::string line() {
    char buf[512];
    if (!std::fgets(buf, sizeof(buf), out)) return {};
    std::string s(buf);
    if (!s.empty() && s.back() == '\n') s.pop_back();
    return s;
  }
  // Closes its stdin (which ends it) and waits for it.
  void wait() {
    if (in >= 0) ::close(in);
    in = -1;
    int status;
    ::waitpid(pid, &status, 0);
    std::fclose(out);
  }
};

// Over TLS when `fingerprint` (the server's certificate) is given.
inline ClientOptions clientOptions(const std::string& name, const std::string& server,
                                   bool durable, const std::string& fingerprint = "") {
  using namespace std::chrono_literals;
  ClientOptions o;
  o.name = name;
  o.token = name + "-token";
  o.server = server;
  o.plaintext = fingerprint.empty();
  o.tls.fingerprint = fingerprint;
  o.database = test::plmOptions();
  o.database.durable = durable;
  o.minBackoff = 20ms;
  o.maxBackoff = 200ms;
  o.callTimeout = 60s;
  return o;
}

// Clients A and B (write), fresh (read), bench-0... (write) and sub-0...
// (`readers` of them, read). Plain TCP, or TLS with `tls`. `more`: further
// members of the configuration, as JSON ("\"logRetentionS\": 0").
inline std::string writeConfig(const std::string& path, int clients,
                               const std::optional<test::TestCertificate>& tls = std::nullopt,
                               const std::string& more = {}, int readers = 0) {
  std::ofstream out(path);
  out << R"({"clients": [{"name": "A", "token": "A-token", "write": true},)"
      << R"({"name": "B", "token": "B-token", "write": true},)"
      << R"({"name": "fresh", "token": "fresh-token"})";
  for (int i = 0; i < clients; ++i) {
    out << R"(, {"name": "bench-)" << i << R"(", "token": "bench-)" << i
        << R"(-token", "write": true})";
  }
  for (int i = 0; i < readers; ++i) {
    out << R"(, {"name": "sub-)" << i << R"(", "token": "sub-)" << i << R"(-token"})";
  }
  out << "], " << test::transportMember(tls) << (more.empty() ? "" : ", " + more) << "}";
  return path;
}

// SQLite WAL synchronous=FULL single-row UPDATE commits per second, for
// `seconds`, in a new database at `path`.
inline double sqliteDurableCommitsPerSecond(const std::string& path, double seconds) {
  sqlite3* db = nullptr;
  if (sqlite3_open(path.c_str(), &db) != SQLITE_OK) throw std::runtime_error("sqlite open");
  auto sq = [&](const char* sql) {
    if (sqlite3_exec(db, sql, nullptr, nullptr, nullptr) != SQLITE_OK) {
      throw std::runtime_error(std::string("sqlite: ") + sqlite3_errmsg(db));
    }
  };
  sq("PRAGMA journal_mode=WAL");
  sq("PRAGMA synchronous=FULL");
  sq("CREATE TABLE parts (id INTEGER PRIMARY KEY, lead INTEGER, name TEXT)");
  sq("INSERT INTO parts VALUES (1, 0, 'part 1')");
  sqlite3_stmt* st;
  sqlite3_prepare_v2(db, "UPDATE parts SET lead = ? WHERE id = 1", -1, &st, nullptr);
  std::uint64_t count = 0;
  auto start = Clock::now();
  auto end =
      start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  while (Clock::now() < end) {
    sqlite3_bind_int64(st, 1, static_cast<sqlite3_int64>(count));
    sqlite3_step(st);
    sqlite3_reset(st);
    ++count;
  }
  double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  sqlite3_finalize(st);
  sqlite3_close(db);
  return static_cast<double>(count) / elapsed;
}

// How the check-in clients' replicas store what they apply.
enum class ReplicaSync {
  kNone,         // database.durable false: no fsync at all
  kFull,         // durable, every commit synced twice (appliedChanges kFull)
  kAppliedData,  // durable, the server's batches synced once (the default)
};

// Acknowledged check-ins per second of `clients` check-in processes (the
// "checkin" role) against the server at `server`, all started together and
// running for `seconds`.
inline double checkInRate(const std::string& server, int clients, double seconds,
                          ReplicaSync sync, const std::string& fingerprint = "") {
  std::vector<std::unique_ptr<Child>> children;
  const char* mode = sync == ReplicaSync::kNone ? "none" : sync == ReplicaSync::kFull ? "full" : "data";
  for (int i = 0; i < clients; ++i) {
    children.push_back(std::make_unique<Child>(std::vector<std::string>{
        "--role=checkin", "--name=bench-" + std::to_string(i), "--server=" + server,
        "--seconds=" + std::to_string(seconds), std::string("--sync=") + mode,
        "--fingerprint=" + fingerprint}));
  }
  for (auto& c : children) {
    if (c->line() != "ready") throw std::runtime_error("a check-in client did not start");
  }
  for (auto& c : children) c->send('g');  // all start together
  double total = 0;
  for (auto& c : children) {
    std::string line = c->line();
    std::uint64_t count = 0;
    double elapsed = 1;
    if (std::sscanf(line.c_str(), "%" SCNu64 " %lf", &count, &elapsed) != 2) {
      throw std::runtime_error("a check-in client said '" + line + "'");
    }
    total += static_cast<double>(count) / elapsed;
    c->wait();
  }
  return total;
}

// The replica options of a check-in client in `mode` (none, full, data).
inline ClientOptions checkInOptions(const std::string& name, const std::string& server,
                                    const std::string& mode, const std::string& fingerprint) {
  auto o = clientOptions(name, server, mode != "none", fingerprint);
  o.appliedChanges = mode == "data" ? CommitSync::kData : CommitSync::kFull;
  return o;
}

// Stops `server` and returns how many write requests its durable commits
// carried on average (from its last log line about them; 0 when absent),
// printing that line.
inline double stopAndCountRequestsPerCommit(test::ServerProcess& server, const std::string& label) {
  server.kill(SIGTERM);
  std::string log = server.log();
  auto at = log.rfind(" write requests in ");
  if (at == std::string::npos) return 0;
  auto from = log.rfind(' ', at - 1) + 1;
  std::string line = log.substr(from, log.find('\n', at) - from);
  std::printf("  %s: %s\n", label.c_str(), line.c_str());
  unsigned long long requests = 0, commits = 0;
  if (std::sscanf(line.c_str(), "%llu write requests in %llu", &requests, &commits) != 2 ||
      commits == 0) {
    return 0;
  }
  return static_cast<double>(requests) / static_cast<double>(commits);
}

// A size field of /proc/PID/status ("VmRSS", "RssAnon") in bytes; 0 when
// unreadable.
inline std::uint64_t statusBytes(pid_t pid, const std::string& field) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(field + ":", 0) == 0) return std::stoull(line.substr(field.size() + 1)) * 1024;
  }
  return 0;
}

// The CPU time process `pid` has used so far (user and system), in seconds;
// 0 when unreadable.
inline double cpuSeconds(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto close = text.rfind(')');  // the command name may hold spaces
  if (close == std::string::npos) return 0;
  std::istringstream fields(text.substr(close + 2));
  std::string field;
  double ticks = 0;
  for (int i = 3; i <= 15 && fields >> field; ++i) {
    if (i == 14 || i == 15) ticks += std::stod(field);  // utime, stime
  }
  return ticks / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

// The cases of sync_scale_bench.cc, run by sync_bench.

// The floor propagation is held to (a raw capnp round trip, `rawRtt`, plus
// a raw LMDB durable commit measured here in `dir`), beside the measured
// propagation p50 and p99 (ns).
void reportPropagationFloor(Report& report, const std::string& dir, int samples, double rawRtt,
                            double propagationP50, double propagationP99);

// Case "checkins": `clients` check-in processes with replicas that sync the
// server's batches once, with fully synced ones, against SQLite WAL FULL.
void runCheckInsCase(Report& report, const std::string& dir, int clients, double seconds);

// Case "scale": --subscribers replicas in --hosts processes, one change
// reaching all of them, and the server's memory per idle session.
void runScaleCase(Report& report, const std::string& dir);

// Role "subscribers": holds --count replicas and reports when every one of
// them has seen each of A's records ("<id> <first ns> <last ns>").
int runSubscriberHost();

// Role "sessions": holds --count sessions subscribed on one event loop,
// storing nothing, and reports as runSubscriberHost does.
int runSessionHost();

}  // namespace hills::bench
