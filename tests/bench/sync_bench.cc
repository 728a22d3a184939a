// Sync benchmark: hills-server and its clients as separate processes on
// 127.0.0.1, measured against a raw Cap'n Proto RPC round trip and SQLite
// durable commits in the same run; the session figures are measured again
// over TLS (a server with a self-signed certificate, clients that check its
// fingerprint), and printed as ratios to plain TCP. A program, not a test: it
// prints a table and `RATIO` lines.
//
//   sync_bench [--records N] [--seconds S] [--clients K] [--samples N]
//              [--log-records N] [--only sessions|initial|log]
//
// The program runs itself in other roles (--role=...) for the processes it
// needs: an echo server, an event listener and check-in clients.
#include <capnp/rpc-twoparty.h>
#include <kj/async-io.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "bench_util.h"
#include "certificates.h"
#include "echo.capnp.h"
#include "hills/client.h"
#include "hills/inspect.h"
#include "hills/server.h"
#include "plm_fixtures.h"
#include "server_process.h"
#include "temp_dir.h"

using hills::bench::Clock;
using namespace std::chrono_literals;

namespace {

std::map<std::string, std::string> args;

std::string arg(const std::string& name, const std::string& fallback) {
  auto it = args.find(name);
  return it == args.end() ? fallback : it->second;
}

std::int64_t nowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch())
      .count();
}

double percentile(std::vector<double> v, double p) {
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
    if (::pipe(fds) != 0 || ::pipe(ins) != 0) throw std::runtime_error("pipe");
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
hills::ClientOptions clientOptions(const std::string& name, const std::string& server, bool durable,
                                   const std::string& fingerprint = "") {
  hills::ClientOptions o;
  o.name = name;
  o.token = name + "-token";
  o.server = server;
  o.plaintext = fingerprint.empty();
  o.tls.fingerprint = fingerprint;
  o.database = hills::test::plmOptions();
  o.database.durable = durable;
  o.minBackoff = 20ms;
  o.maxBackoff = 200ms;
  o.callTimeout = 60s;
  return o;
}

// Plain TCP, or TLS with `tls`. `more`: further members of the
// configuration, as JSON ("\"logRetentionS\": 0").
std::string writeConfig(const std::string& path, int clients,
                        const std::optional<hills::test::TestCertificate>& tls = std::nullopt,
                        const std::string& more = {}) {
  std::ofstream out(path);
  out << R"({"clients": [{"name": "A", "token": "A-token", "write": true},)"
      << R"({"name": "B", "token": "B-token", "write": true},)"
      << R"({"name": "fresh", "token": "fresh-token"})";
  for (int i = 0; i < clients; ++i) {
    out << R"(, {"name": "bench-)" << i << R"(", "token": "bench-)" << i
        << R"(-token", "write": true})";
  }
  out << "], " << hills::test::transportMember(tls) << (more.empty() ? "" : ", " + more) << "}";
  return path;
}

// ---- roles ----

class EchoImpl final : public Echo::Server {
 protected:
  kj::Promise<void> ping(PingContext context) override {
    context.getResults().setN(context.getParams().getN());
    return kj::READY_NOW;
  }
};

// Serves Echo on 127.0.0.1 and prints its port; ends when stdin closes.
int runEcho() {
  auto io = kj::setupAsyncIo();
  capnp::TwoPartyServer server(kj::heap<EchoImpl>());
  auto address = io.provider->getNetwork().parseAddress("127.0.0.1", 0).wait(io.waitScope);
  auto listener = address->listen();
  std::printf("%u\n", listener->getPort());
  std::fflush(stdout);
  auto serving = server.listen(*listener);
  // Ends when the parent closes stdin.
  auto input = io.lowLevelProvider->wrapInputFd(0);
  char c;
  while (input->tryRead(&c, 1, 1).wait(io.waitScope) == 1) {
  }
  return 0;
}

// A client that prints "<id> <ns>" for each record client A creates.
int runListener() {
  hills::test::TempDir dir;
  hills::Client client(dir.sub("listener"),
                       clientOptions("B", arg("server", ""), false, arg("fingerprint", "")));
  std::atomic<bool> ready{false};  // records A made before are not measured
  auto sub = client.db().subscribe(hills::EventFilter{{"parts"}, {hills::EventKind::kCreated}},
                                   [&](const hills::Event& e) {
                                     if (e.origin != "A" || !ready) return;
                                     std::printf("%" PRIu64 " %" PRId64 "\n", e.key.id, nowNs());
                                     std::fflush(stdout);
                                   });
  if (!client.waitConnected(30s) || !client.sync(60s)) return 1;
  ready = true;
  std::printf("ready\n");
  std::fflush(stdout);
  char c;
  while (::read(0, &c, 1) > 0) {
  }
  return 0;
}

// One of the check-in clients: borrows its own record, then checks it in
// (acknowledged) as often as it can for --seconds once "go" arrives on stdin.
int runCheckIn() {
  hills::test::TempDir dir;
  std::string name = arg("name", "bench-0");
  hills::Client client(
      dir.sub(name),
      clientOptions(name, arg("server", ""), arg("durable", "0") == "1", arg("fingerprint", "")));
  if (!client.waitConnected(30s)) return 1;
  if (!hills::test::eventually([&] { return client.status().idsLeft["parts"] > 0; }, 30s)) return 1;
  auto key = client.db().write(
      [](hills::WriteTxn& txn) { return txn.tree<plm::Part>().create(hills::test::makePart(1)); });
  if (!client.sync(30s)) return 1;
  client.checkOut(key);
  std::printf("ready\n");
  std::fflush(stdout);
  char c;
  if (::read(0, &c, 1) != 1) return 1;
  auto seconds = std::chrono::duration<double>(std::stod(arg("seconds", "3")));
  auto end = Clock::now() + std::chrono::duration_cast<Clock::duration>(seconds);
  std::uint64_t count = 0;
  auto start = Clock::now();
  while (Clock::now() < end) {
    // The edit and its check-in in one transaction.
    client.db().write([&](hills::WriteTxn& txn) {
      auto parts = txn.tree<plm::Part>();
      auto p = *parts.get(key);
      p.leadTimeDays = static_cast<std::uint32_t>(count);
      parts.update(key, p);
      client.checkIn(txn, key, true);
    });
    if (!client.flush(30s)) return 1;  // acknowledged: durable on the server
    ++count;
  }
  double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  std::printf("%" PRIu64 " %.6f\n", count, elapsed);
  std::fflush(stdout);
  return 0;
}

// ---- measurements ----

double rawRoundTripNs(std::vector<double>& samples, int calls) {
  Child echo({"--role=echo"});
  unsigned port = static_cast<unsigned>(std::stoul(echo.line()));
  {
    auto io = kj::setupAsyncIo();
    auto& ws = io.waitScope;
    auto stream =
        io.provider->getNetwork().parseAddress("127.0.0.1", port).wait(ws)->connect().wait(ws);
    capnp::TwoPartyClient client(*stream);
    auto cap = client.bootstrap().castAs<Echo>();
    for (int i = 0; i < calls + 100; ++i) {
      auto start = Clock::now();
      auto req = cap.pingRequest();
      req.setN(static_cast<std::uint64_t>(i));
      req.send().wait(ws);
      if (i >= 100) {
        samples.push_back(std::chrono::duration<double, std::nano>(Clock::now() - start).count());
      }
    }
  }
  echo.wait();
  return percentile(samples, 0.5);
}

double sqliteDurableCommitsPerSecond(const std::string& path, double seconds) {
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

// The tables of a database another process serves, as LMDB counts them.
std::map<std::string, hills::TableStat> tablesOf(const std::string& path) {
  hills::Options o;
  o.readOnly = true;
  hills::Database db(path, o);
  std::map<std::string, hills::TableStat> out;
  db.read([&](const hills::ReadTxn& txn) {
    for (auto& t : hills::tableStats(txn)) out[t.name] = t;
  });
  return out;
}

// Seconds `mdb_copy` takes to copy the database in `path`.
double mdbCopySeconds(const std::string& path, const std::string& to) {
  std::filesystem::create_directories(to);
  auto start = Clock::now();
  std::string command = "mdb_copy '" + path + "' '" + to + "'";
  if (std::system(command.c_str()) != 0) throw std::runtime_error(command + " failed");
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// Writes `count` parts into a server's database (not durable: a
// benchmark's set-up), then renames every one `updates` times.
void writeServerParts(const std::string& path, std::uint64_t count, int updates) {
  auto o = hills::serverDatabaseOptions();
  o.trees = hills::treeTypes<plm::Part, plm::Bom, plm::StockItem>();
  o.durable = false;
  hills::Database db(path, o);
  const std::uint64_t batch = 100000;
  std::vector<hills::Key<plm::Part>> keys;
  for (std::uint64_t done = 0; done < count; done += batch) {
    db.write([&](hills::WriteTxn& txn) {
      auto parts = txn.tree<plm::Part>();
      for (std::uint64_t i = done; i < std::min(count, done + batch); ++i) {
        keys.push_back(parts.create(hills::test::makePart(static_cast<int>(i))));
      }
    });
  }
  for (int round = 0; round < updates; ++round) {
    for (std::uint64_t done = 0; done < count; done += batch) {
      db.write([&](hills::WriteTxn& txn) {
        auto parts = txn.tree<plm::Part>();
        for (std::uint64_t i = done; i < std::min(count, done + batch); ++i) {
          auto part = hills::test::makePart(static_cast<int>(i));
          part.name += " r" + std::to_string(round);
          parts.update(keys[i], part);
        }
      });
    }
  }
}

// What one server's sessions give: check-out round trips, propagation from
// one client to another, acknowledged check-ins per second.
struct SessionFigures {
  std::vector<double> checkOuts;    // ns
  std::vector<double> propagation;  // ns
  double checkIns = 0;              // per second, `clients` at once
  double checkInsDurable = 0;       // the same with durable replicas (when asked)
};

// Runs a server of its own (plain TCP, or TLS when `fingerprint` names its
// certificate) and measures its sessions.
SessionFigures measureSessions(const hills::test::TempDir& dir, const std::string& fingerprint,
                               const std::string& config, int samples, int clients, double seconds,
                               bool durableToo) {
  std::string suffix = fingerprint.empty() ? "" : "-tls";
  SessionFigures out;
  hills::test::ServerProcess server(dir.sub("server" + suffix), config);
  hills::Client a(dir.sub("a" + suffix), clientOptions("A", server.address(), true, fingerprint));
  if (!a.waitConnected(30s)) throw std::runtime_error("client A did not connect");
  hills::test::eventually([&] { return a.status().idsLeft["parts"] > 0; }, 30s);

  // Check-out round trips (granted, and the borrow applied here).
  std::vector<hills::Key<plm::Part>> keys = a.db().write([&](hills::WriteTxn& txn) {
    std::vector<hills::Key<plm::Part>> made;
    for (int i = 0; i < samples; ++i)
      made.push_back(txn.tree<plm::Part>().create(hills::test::makePart(i)));
    return made;
  });
  if (!a.sync(60s)) throw std::runtime_error("client A did not sync");
  for (auto& key : keys) {
    auto start = Clock::now();
    a.checkOut(key);
    out.checkOuts.push_back(std::chrono::duration<double, std::nano>(Clock::now() - start).count());
  }

  // Propagation: A's commit of a new record to B's event, B in its own
  // process (both read the same monotonic clock).
  Child listener(
      {"--role=listener", "--server=" + server.address(), "--fingerprint=" + fingerprint});
  if (listener.line() != "ready") throw std::runtime_error("listener did not start");
  for (int i = 0; i < samples; ++i) {
    auto key = a.db().write([&](hills::WriteTxn& txn) {
      return txn.tree<plm::Part>().create(hills::test::makePart(i));
    });
    std::int64_t committed = nowNs();
    std::string line = listener.line();
    std::uint64_t id;
    std::int64_t seen;
    if (std::sscanf(line.c_str(), "%" SCNu64 " %" SCNd64, &id, &seen) != 2 || id != key.id) {
      throw std::runtime_error("listener said '" + line + "'");
    }
    out.propagation.push_back(static_cast<double>(seen - committed));
  }
  listener.wait();

  // Acknowledged check-ins, `clients` processes at once. Each check-in is
  // durable on the server before it is acknowledged; the clients' own
  // replicas are measured without and with fsync.
  auto checkInRate = [&](bool durable) {
    std::vector<std::unique_ptr<Child>> children;
    for (int i = 0; i < clients; ++i) {
      children.push_back(std::make_unique<Child>(std::vector<std::string>{
          "--role=checkin", "--name=bench-" + std::to_string(i), "--server=" + server.address(),
          "--seconds=" + std::to_string(seconds), std::string("--durable=") + (durable ? "1" : "0"),
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
  };
  out.checkIns = checkInRate(false);
  if (durableToo) out.checkInsDurable = checkInRate(true);
  server.kill(SIGTERM);
  // How well the server grouped concurrent writes into commits.
  std::string log = server.log();
  auto at = log.rfind(" write requests in ");
  if (at != std::string::npos) {
    auto from = log.rfind(' ', at - 1) + 1;
    std::printf("  server%s: %s\n", suffix.c_str(),
                log.substr(from, log.find('\n', at) - from).c_str());
  }
  return out;
}

int runBench() {
  const std::uint64_t records = std::stoull(arg("records", "1000000"));
  const double seconds = std::stod(arg("seconds", "3"));
  const int clients = std::stoi(arg("clients", "10"));
  const int samples = std::stoi(arg("samples", "1000"));
  const std::string only = arg("only", "");  // "sessions", "initial" or "log": one part
  hills::test::TempDir dir;
  auto config = writeConfig(dir.sub("server.json"), clients);
  hills::bench::Report report;

  std::printf("sync benchmark: %" PRIu64
              " records for the initial sync, %d check-in clients for "
              "%.1f s, %d samples\n\n",
              records, clients, seconds, samples);

  // 1. The limit: a raw Cap'n Proto RPC round trip on 127.0.0.1.
  std::vector<double> raw;
  double rawRtt = rawRoundTripNs(raw, samples * 5);
  report.add("rpc", "raw capnp round trip (p50)", rawRtt);
  report.add("rpc", "raw capnp round trip (p99)", percentile(raw, 0.99));

  if (only.empty() || only == "sessions") {
    SessionFigures plain = measureSessions(dir, "", config, samples, clients, seconds, true);
    double checkOut = percentile(plain.checkOuts, 0.5);
    double propagation = percentile(plain.propagation, 0.5);
    report.add("borrow", "check-out round trip (p50)", checkOut);
    report.add("propagate", "A's commit to B's event (p50)", propagation);
    report.add("propagate", "A's commit to B's event (p99)", percentile(plain.propagation, 0.99));
    report.ratio("propagation_p50_vs_raw_rtt", propagation / rawRtt, "<= 4");
    report.ratio("propagation_p99_vs_raw_rtt", percentile(plain.propagation, 0.99) / rawRtt,
                 "<= 8");
    report.ratio("checkout_p50_vs_raw_rtt", checkOut / rawRtt, "(reported)");
    std::string k = std::to_string(clients);
    report.add("check-in", k + " clients, acknowledged check-ins", 1e9 / plain.checkIns);
    report.add("check-in", k + " clients with durable replicas, acknowledged",
               1e9 / plain.checkInsDurable);
    double sqlite = sqliteDurableCommitsPerSecond(dir.sub("sqlite.db"), seconds);
    report.add("check-in", "SQLite WAL FULL single-row commits", 1e9 / sqlite);
    report.ratio("checkins_" + k + "_clients_vs_sqlite_durable", plain.checkIns / sqlite, ">= 5");
    report.ratio("checkins_" + k + "_durable_replicas_vs_sqlite_durable",
                 plain.checkInsDurable / sqlite, "(reported)");

    // 6. The same over TLS, in the same run: what encryption costs.
    auto certificate = hills::test::selfSigned(dir.path(), "server-tls");
    auto tlsConfig = writeConfig(dir.sub("server-tls.json"), clients, certificate);
    SessionFigures tls =
        measureSessions(dir, certificate.fingerprint, tlsConfig, samples, clients, seconds, false);
    report.add("tls", "check-out round trip over TLS (p50)", percentile(tls.checkOuts, 0.5));
    report.add("tls", "A's commit to B's event over TLS (p50)", percentile(tls.propagation, 0.5));
    report.add("tls", k + " clients, acknowledged check-ins over TLS", 1e9 / tls.checkIns);
    report.ratio("tls_vs_plain_checkout_p50", percentile(tls.checkOuts, 0.5) / checkOut,
                 "(reported)");
    report.ratio("tls_vs_plain_propagation_p50", percentile(tls.propagation, 0.5) / propagation,
                 "(reported)");
    report.ratio("tls_vs_plain_checkins_" + k + "_clients", tls.checkIns / plain.checkIns,
                 "(reported)");
  }

  // 5. Initial sync of `records` records into a fresh client.
  if (only.empty() || only == "initial") {
    std::string serverDb = dir.sub("big");
    writeServerParts(serverDb, records, 0);
    hills::test::ServerProcess server(serverDb, config);
    auto start = Clock::now();
    hills::Client fresh(dir.sub("fresh"), clientOptions("fresh", server.address(), true));
    if (!hills::test::eventually(
            [&] {
              auto s = fresh.status();
              return s.lastApplied >= records && s.lastApplied >= s.serverSequence;
            },
            600s)) {
      throw std::runtime_error("the fresh client did not catch up");
    }
    double secondsTaken = std::chrono::duration<double>(Clock::now() - start).count();
    double perSecond = static_cast<double>(records) / secondsTaken;
    report.add("initial", "initial sync into a fresh client (per record)", 1e9 / perSecond);
    report.ratio("initial_sync_records_per_second", perSecond, ">= 300000");
    // The same database copied by LMDB's own tool, in the same run. It
    // holds the server's change log too (one entry per record here).
    double copy = mdbCopySeconds(serverDb, dir.sub("big-copy"));
    report.add("initial", "mdb_copy of the server's database (per record)",
               copy * 1e9 / static_cast<double>(records));
    report.ratio("bootstrap_from_snapshot_vs_mdb_copy", secondsTaken / copy, "<= 3");
    server.kill(SIGTERM);
    std::string log = server.log();
    if (auto at = log.find("has read the snapshot"); at != std::string::npos) {
      std::printf("  server: %s\n", log.substr(at, log.find('\n', at) - at).c_str());
    }
  }

  // 6. Log compaction: every record of `logRecords` updated 10 times, then
  // a server with no retention compacts its log; its size is held against
  // the live records'.
  if (only.empty() || only == "log") {
    const std::uint64_t logRecords = std::stoull(arg("log-records", "100000"));
    std::string serverDb = dir.sub("compact");
    writeServerParts(serverDb, logRecords, 10);
    auto before = tablesOf(serverDb);
    auto compactConfig = writeConfig(dir.sub("compact.json"), 0, std::nullopt, R"("logRetentionS": 0)");
    hills::test::ServerProcess server(serverDb, compactConfig);
    auto start = Clock::now();
    if (!hills::test::eventually(
            [&] { return tablesOf(serverDb)["_log"].entries <= logRecords; }, 900s)) {
      throw std::runtime_error("the server did not compact its log");
    }
    double took = std::chrono::duration<double, std::nano>(Clock::now() - start).count();
    auto after = tablesOf(serverDb);
    auto live = static_cast<double>(after["parts"].bytes);
    std::printf("  log: %" PRIu64 " entries, %" PRIu64 " bytes before; %" PRIu64 " entries, %" PRIu64
                " bytes after; live records %" PRIu64 " bytes; compaction tables %" PRIu64
                " bytes\n",
                before["_log"].entries, before["_log"].bytes, after["_log"].entries,
                after["_log"].bytes, after["parts"].bytes,
                after["_logHeads"].bytes + after["_superseded"].bytes);
    report.add("log", "compaction, per entry dropped",
               took / static_cast<double>(before["_log"].entries - after["_log"].entries));
    report.ratio("log_bytes_vs_live_before_compaction",
                 static_cast<double>(before["_log"].bytes) / live, "(reported)");
    report.ratio("log_bytes_vs_live_after_compaction", static_cast<double>(after["_log"].bytes) / live,
                 "<= 2");
    report.ratio("compaction_tables_vs_live",
                 static_cast<double>(after["_logHeads"].bytes + after["_superseded"].bytes) / live,
                 "(reported)");
    server.kill(SIGTERM);
  }
  report.printTable();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a.rfind("--", 0) != 0) continue;
    auto eq = a.find('=');
    if (eq != std::string::npos) {
      args[a.substr(2, eq - 2)] = a.substr(eq + 1);
    } else if (i + 1 < argc) {
      args[a.substr(2)] = argv[++i];
    }
  }
  try {
    std::string role = arg("role", "bench");
    if (role == "echo") return runEcho();
    if (role == "listener") return runListener();
    if (role == "checkin") return runCheckIn();
    return runBench();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "sync_bench: %s\n", e.what());
    return 1;
  }
}
