// Sync benchmark: hills-server and its clients as separate processes on
// 127.0.0.1, measured against a raw Cap'n Proto RPC round trip and SQLite
// durable commits in the same run; the session figures are measured again
// over TLS (a server with a self-signed certificate, clients that check its
// fingerprint), and printed as ratios to plain TCP. A program, not a test: it
// prints a table and `RATIO` lines.
//
//   sync_bench [--records N] [--seconds S] [--clients K] [--samples N]
//              [--log-records N] [--subscribers N] [--hosts H]
//              [--scale-changes N] [--subscriber-durable 0|1]
//              [--only sessions|fetch|checkins|scale|initial|log]
//
// The program runs itself in other roles (--role=...) for the processes it
// needs: an echo server, an event listener, check-in clients and hosts of
// many subscribed replicas. The cases "checkins" and "scale" are in
// sync_scale_bench.cc.
#include <capnp/rpc-twoparty.h>
#include <kj/async-io.h>
#include <unistd.h>

#include <atomic>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "certificates.h"
#include "echo.capnp.h"
#include "hills/client.h"
#include "hills/inspect.h"
#include "hills/server.h"
#include "plm_fixtures.h"
#include "server_process.h"
#include "sync_bench_util.h"
#include "temp_dir.h"

using hills::bench::Clock;
using namespace std::chrono_literals;

namespace {

using namespace hills::bench;

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
  hills::Client client(dir.sub(name), checkInOptions(name, arg("server", ""), arg("sync", "none"),
                                                      arg("fingerprint", "")));
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

// Whether the server serving `path` has read its whole change log for
// compaction.
bool logIndexed(const std::string& path) {
  hills::Options o;
  o.readOnly = true;
  hills::Database db(path, o);
  return db.read([](const hills::ReadTxn& txn) { return hills::logCompactionPending(txn) == 0; });
}

// Seconds `mdb_copy` takes to copy the database in `path`: the median of
// three copies, each into a fresh directory under `to`. It writes with
// O_DIRECT, and how long the disk takes to take that varies from one copy
// to the next by up to 3x here.
double mdbCopySeconds(const std::string& path, const std::string& to) {
  std::vector<double> seconds;
  for (int i = 0; i < 3; ++i) {
    std::string into = to + "/" + std::to_string(i);
    std::filesystem::create_directories(into);
    auto start = Clock::now();
    std::string command = "mdb_copy '" + path + "' '" + into + "'";
    if (std::system(command.c_str()) != 0) throw std::runtime_error(command + " failed");
    seconds.push_back(std::chrono::duration<double>(Clock::now() - start).count());
    std::filesystem::remove_all(into);
  }
  std::printf("  mdb_copy: %.3f / %.3f / %.3f s\n", seconds[0], seconds[1], seconds[2]);
  return percentile(seconds, 0.5);
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
  // The set-up's pages on the disk before anything is timed: their
  // writeback would otherwise share the disk with what is measured.
  ::sync();
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

  // Check-out round trips (granted, and the borrow applied here), of
  // records made in one transaction: ids for all of them first.
  if (samples > 0) a.reserveIds<plm::Part>(static_cast<std::uint64_t>(samples));
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
  out.checkIns = checkInRate(server.address(), clients, seconds, ReplicaSync::kNone, fingerprint);
  if (durableToo) {
    out.checkInsDurable =
        checkInRate(server.address(), clients, seconds, ReplicaSync::kFull, fingerprint);
  }
  // How well the server grouped concurrent writes into commits.
  stopAndCountRequestsPerCommit(server, "server" + suffix);
  return out;
}

// A partial replica reading `count` boms it does not replicate from the
// server: one fetch call a record, then one call for all of them, taking
// turns `rounds` times. Each answer is stored in the replica's read cache
// (a durable commit a call, or a batch). Median nanoseconds a record of each.
std::pair<double, double> fetchNsPerRecord(const hills::test::TempDir& dir,
                                           const std::string& config, int count, int rounds) {
  hills::test::ServerProcess server(dir.sub("server-fetch"), config);
  hills::Client a(dir.sub("a-fetch"), clientOptions("A", server.address(), true, ""));
  if (!a.waitConnected(30s)) throw std::runtime_error("client A did not connect");
  a.reserveIds<plm::Bom>(static_cast<std::uint64_t>(count));
  std::vector<hills::OpaqueKey> keys = a.db().write([&](hills::WriteTxn& txn) {
    std::vector<hills::OpaqueKey> made;
    for (int i = 0; i < count; ++i) {
      plm::Bom bom{};
      bom.notes = "bom " + std::to_string(i);
      made.push_back(hills::opaque(txn.tree<plm::Bom>().create(bom)));
    }
    return made;
  });
  if (!a.sync(60s)) throw std::runtime_error("client A did not sync");
  auto options = clientOptions("fresh", server.address(), true, "");
  options.replicate = {"parts"};
  hills::Client reader(dir.sub("fresh-fetch"), options);
  if (!reader.sync(60s)) throw std::runtime_error("the partial replica did not sync");
  std::vector<double> single, batch;
  for (int round = 0; round < rounds; ++round) {
    auto start = Clock::now();
    for (const auto& key : keys) {
      if (!reader.fetch(key)) throw std::runtime_error("a bom was not fetched");
    }
    single.push_back(std::chrono::duration<double, std::nano>(Clock::now() - start).count() /
                     count);
    start = Clock::now();
    auto records = reader.fetch(keys);
    batch.push_back(std::chrono::duration<double, std::nano>(Clock::now() - start).count() /
                    count);
    for (const auto& r : records) {
      if (!r) throw std::runtime_error("a bom was not fetched in the batch");
    }
  }
  return {percentile(single, 0.5), percentile(batch, 0.5)};
}

int runBench() {
  const std::uint64_t records = std::stoull(arg("records", "1000000"));
  const double seconds = std::stod(arg("seconds", "3"));
  const int clients = std::stoi(arg("clients", "10"));
  const int samples = std::stoi(arg("samples", "1000"));
  const std::string only = arg("only", "");  // one case (see the top of the file)
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
    reportPropagationFloor(report, dir.sub("floor"), samples, rawRtt, propagation,
                           percentile(plain.propagation, 0.99));
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

  // 7. A partial replica following references into a tree it does not hold.
  if ((only.empty() || only == "fetch") && samples > 0) {
    auto [single, batch] = fetchNsPerRecord(dir, config, samples, 3);
    std::string n = std::to_string(samples);
    report.add("fetch", n + " boms not replicated, a call each (per record)", single);
    report.add("fetch", n + " boms not replicated, in one call (per record)", batch);
    report.ratio("fetch_one_call_vs_a_call_each", batch / single, "(reported)");
    report.ratio("fetch_a_call_each_vs_raw_rtt", single / rawRtt, "(reported)");
  }

  if (only.empty() || only == "checkins") runCheckInsCase(report, dir.path(), clients, seconds);
  if (only.empty() || only == "scale") runScaleCase(report, dir.path());

  // 5. Initial sync of `records` records into a fresh client.
  if (only.empty() || only == "initial") {
    std::string serverDb = dir.sub("big");
    writeServerParts(serverDb, records, 0);
    hills::test::ServerProcess server(serverDb, config);
    // The server indexes a log it did not write for its compaction, in
    // durable steps, when it starts: a server that wrote its log itself has
    // done so as it went. The bootstrap is timed once that has ended.
    auto indexed = [&] {
      if (logIndexed(serverDb)) return true;
      std::this_thread::sleep_for(100ms);  // each look opens the database
      return false;
    };
    auto indexing = Clock::now();
    if (!hills::test::eventually(indexed, 600s)) {
      throw std::runtime_error("the server did not index its change log");
    }
    // From the server's start: its first step waits 1 s, and each look
    // here 0.1 s.
    std::printf("  server: had indexed its log of %llu entries %.1f s after it started\n",
                static_cast<unsigned long long>(records),
                std::chrono::duration<double>(Clock::now() - indexing).count());
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
    // What each side holds: the replica writes its trees, the copy the
    // server's whole file.
    auto replica = fresh.db().read([](const hills::ReadTxn& txn) { return hills::tableStats(txn); });
    auto served = tablesOf(serverDb);
    auto show = [](const char* label, const hills::TableStat& t) {
      if (t.pages > 1) {
        std::printf("  %s %s: %llu entries, %.1f MiB\n", label, t.name.c_str(),
                    static_cast<unsigned long long>(t.entries), static_cast<double>(t.bytes) / 1048576.0);
      }
    };
    for (const auto& [name, t] : served) show("server", t);
    for (const auto& t : replica) show("replica", t);
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
      hills::bench::args[a.substr(2, eq - 2)] = a.substr(eq + 1);
    } else if (i + 1 < argc) {
      hills::bench::args[a.substr(2)] = argv[++i];
    }
  }
  try {
    std::string role = arg("role", "bench");
    if (role == "echo") return runEcho();
    if (role == "listener") return runListener();
    if (role == "checkin") return runCheckIn();
    if (role == "subscribers") return runSubscriberHost();
    if (role == "sessions") return runSessionHost();
    return runBench();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "sync_bench: %s\n", e.what());
    return 1;
  }
}
