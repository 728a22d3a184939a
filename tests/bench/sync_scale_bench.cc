// The sync benchmark's cases for many clients and for what replicas sync:
// propagation held to its floor (a raw round trip plus a raw LMDB durable
// commit), acknowledged check-ins from replicas that sync the server's
// batches once, and 1,000 subscribed replicas on one server. Run by
// sync_bench (sync_bench.cc) in the same run as its other cases.
#include <lmdb.h>
#include <sys/resource.h>

#include <climits>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <thread>
#include <unordered_map>

#include <capnp/rpc-twoparty.h>

#include "hills/streams.h"
#include "hills/sync.capnp.h"
#include "sync_bench_util.h"
#include "temp_dir.h"

namespace hills::bench {

using namespace std::chrono_literals;

namespace {

// Single small puts committed with LMDB's default sync, in a plain
// environment in `dir`: the nanoseconds of each commit (begin to commit).
// The floor's shape: one 64-byte value in the main table, its key one of
// 1,000, so the file stops growing. `serverShape`: what a server's commit
// of one change writes instead, a record and its log entry, each in a
// table of its own under a key past the last, so the file grows.
std::vector<double> lmdbDurableCommits(const std::string& dir, int samples,
                                       bool serverShape = false) {
  std::filesystem::create_directories(dir);
  MDB_env* env = nullptr;
  auto check = [](int rc, const char* what) {
    if (rc != MDB_SUCCESS) throw std::runtime_error(std::string(what) + ": " + mdb_strerror(rc));
  };
  check(mdb_env_create(&env), "mdb_env_create");
  check(mdb_env_set_mapsize(env, std::size_t{64} << 20), "mdb_env_set_mapsize");
  check(mdb_env_set_maxdbs(env, 2), "mdb_env_set_maxdbs");
  check(mdb_env_open(env, dir.c_str(), 0, 0644), "mdb_env_open");
  MDB_dbi main, records, log;
  MDB_txn* txn;
  check(mdb_txn_begin(env, nullptr, 0, &txn), "mdb_txn_begin");
  check(mdb_dbi_open(txn, nullptr, 0, &main), "mdb_dbi_open");
  check(mdb_dbi_open(txn, "records", MDB_CREATE, &records), "mdb_dbi_open");
  check(mdb_dbi_open(txn, "log", MDB_CREATE, &log), "mdb_dbi_open");
  check(mdb_txn_commit(txn), "mdb_txn_commit");
  std::vector<double> out;
  char value[336] = {};  // a part's stored value is about this size
  for (int i = 0; i < samples + 20; ++i) {
    auto start = Clock::now();
    check(mdb_txn_begin(env, nullptr, 0, &txn), "mdb_txn_begin");
    if (serverShape) {
      std::uint64_t k = __builtin_bswap64(static_cast<std::uint64_t>(i) + 1);  // sorts last
      MDB_val key{sizeof(k), &k}, record{sizeof(value), value}, entry{sizeof(value) + 64, nullptr};
      check(mdb_put(txn, records, &key, &record, MDB_APPEND), "mdb_put");
      check(mdb_put(txn, log, &key, &entry, MDB_APPEND | MDB_RESERVE), "mdb_put");
      std::memset(entry.mv_data, 0, entry.mv_size);
    } else {
      std::uint64_t k = static_cast<std::uint64_t>(i % 1000);
      MDB_val key{sizeof(k), &k}, val{64, value};
      check(mdb_put(txn, main, &key, &val, 0), "mdb_put");
    }
    check(mdb_txn_commit(txn), "mdb_txn_commit");
    if (i >= 20) out.push_back(std::chrono::duration<double, std::nano>(Clock::now() - start).count());
  }
  mdb_env_close(env);
  return out;
}

// Raises this process's limit on open descriptors to its hard limit (the
// processes it starts inherit it).
void raiseFileLimit() {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &limit);
  }
}

double median(std::vector<double> v) { return percentile(std::move(v), 0.5); }

}  // namespace

void reportPropagationFloor(Report& report, const std::string& dir, int samples, double rawRtt,
                            double propagationP50, double propagationP99) {
  auto commits = lmdbDurableCommits(dir + "/small", samples);
  double commit = percentile(commits, 0.5);
  double floor = rawRtt + commit;
  report.add("floor", "raw LMDB durable commit, one small put (p50)", commit);
  report.add("floor", "raw LMDB durable commit, one small put (p99)", percentile(commits, 0.99));
  report.add("floor", "raw round trip + raw durable commit (p50s)", floor);
  // Whether a commit of what the server writes for a change costs more
  // than the floor's: more pages, in two tables, a growing file.
  double shaped = percentile(lmdbDurableCommits(dir + "/server-shape", samples, true), 0.5);
  report.add("floor", "raw LMDB durable commit, a record and a log entry appended (p50)", shaped);
  report.ratio("raw_commit_server_shape_vs_small_put", shaped / commit, "(reported)");
  report.ratio("propagation_p50_vs_floor", propagationP50 / floor, "<= 1.5");
  report.ratio("propagation_p99_vs_floor", propagationP99 / floor, "(reported)");
}

void runCheckInsCase(Report& report, const std::string& dir, int clients, double seconds) {
  const int rounds = std::stoi(arg("checkin-rounds", "3"));
  auto config = writeConfig(dir + "/checkins.json", clients);
  std::vector<double> light, full, sqlite, lightPerCommit, fullPerCommit;
  // The three take turns, so none always runs on a cold or busy machine.
  for (int r = 0; r < rounds; ++r) {
    std::string round = std::to_string(r);
    {
      test::ServerProcess server(dir + "/checkins-data-" + round, config);
      light.push_back(checkInRate(server.address(), clients, seconds, ReplicaSync::kAppliedData));
      lightPerCommit.push_back(stopAndCountRequestsPerCommit(server, "server (batches synced once)"));
    }
    {
      test::ServerProcess server(dir + "/checkins-full-" + round, config);
      full.push_back(checkInRate(server.address(), clients, seconds, ReplicaSync::kFull));
      fullPerCommit.push_back(stopAndCountRequestsPerCommit(server, "server (every commit synced)"));
    }
    sqlite.push_back(sqliteDurableCommitsPerSecond(dir + "/checkins-" + round + ".sqlite", seconds));
  }
  std::string k = std::to_string(clients);
  report.add("check-in", k + " clients, durable replicas, batches synced once", 1e9 / median(light));
  report.add("check-in", k + " clients, durable replicas, every commit synced", 1e9 / median(full));
  report.add("check-in", "SQLite WAL FULL single-row commits", 1e9 / median(sqlite));
  report.ratio("checkins_" + k + "_batches_synced_once_vs_sqlite_durable",
               median(light) / median(sqlite), "(reported)");
  report.ratio("checkins_" + k + "_every_commit_synced_vs_sqlite_durable",
               median(full) / median(sqlite), "(reported)");
  report.ratio("checkins_batches_synced_once_vs_every_commit_synced", median(light) / median(full),
               "(reported)");
  report.ratio("server_requests_per_commit_batches_synced_once", median(lightPerCommit),
               "(reported)");
  report.ratio("server_requests_per_commit_every_commit_synced", median(fullPerCommit),
               "(reported)");
}

namespace {

// One change at a time from A, reaching every subscriber the `hosts` hold:
// from A's commit to the first and to the last subscriber, and the CPU the
// server and the hosts spend per change meanwhile.
struct Reach {
  std::vector<double> first, all;  // ns
  double serverCpuMs = 0, hostsCpuMs = 0;
};

Reach measureReach(Client& a, std::vector<std::unique_ptr<Child>>& hosts, pid_t server,
                   int changes) {
  auto hostsCpu = [&] {
    double total = 0;
    for (auto& c : hosts) total += cpuSeconds(c->pid);
    return total;
  };
  Reach out;
  const double serverBefore = cpuSeconds(server), hostsBefore = hostsCpu();
  for (int i = 0; i < changes; ++i) {
    auto key = a.db().write(
        [&](WriteTxn& txn) { return txn.tree<plm::Part>().create(test::makePart(i)); });
    std::int64_t committed = nowNs();
    std::int64_t last = committed, earliest = INT64_MAX;
    for (auto& c : hosts) {
      std::string line = c->line();
      std::uint64_t id = 0;
      std::int64_t seenFirst = 0, seenLast = 0;
      if (std::sscanf(line.c_str(), "%" SCNu64 " %" SCNd64 " %" SCNd64, &id, &seenFirst,
                      &seenLast) != 3 ||
          id != key.id) {
        throw std::runtime_error("a subscriber host said '" + line + "'");
      }
      last = std::max(last, seenLast);
      earliest = std::min(earliest, seenFirst);
    }
    out.all.push_back(static_cast<double>(last - committed));
    out.first.push_back(static_cast<double>(earliest - committed));
  }
  const double perChange = static_cast<double>(std::max(changes, 1));
  out.serverCpuMs = (cpuSeconds(server) - serverBefore) * 1e3 / perChange;
  out.hostsCpuMs = (hostsCpu() - hostsBefore) * 1e3 / perChange;
  return out;
}

// `hosts` processes in `role`, holding `subscribers` subscribers between
// them; returns once each said it is ready.
std::vector<std::unique_ptr<Child>> startHosts(const std::string& role, const std::string& server,
                                               int subscribers, int hosts,
                                               const std::string& durable) {
  std::vector<std::unique_ptr<Child>> children;
  for (int h = 0, first = 0; h < hosts; ++h) {
    int count = subscribers / hosts + (h < subscribers % hosts ? 1 : 0);
    children.push_back(std::make_unique<Child>(std::vector<std::string>{
        "--role=" + role, "--server=" + server, "--first=" + std::to_string(first),
        "--count=" + std::to_string(count), "--subscriber-durable=" + durable}));
    first += count;
  }
  for (auto& c : children) {
    if (auto line = c->line(); line != "ready") {
      throw std::runtime_error("a subscriber host said '" + line + "'");
    }
  }
  return children;
}

void reportReach(Report& report, const std::string& group, const std::string& what,
                 const Reach& reach) {
  report.add(group, "one change to the first of " + what + " (p50)", percentile(reach.first, 0.5));
  report.add(group, "one change to all " + what + " (p50)", percentile(reach.all, 0.5));
  report.add(group, "one change to all " + what + " (p99)", percentile(reach.all, 0.99));
  report.add(group, "one change to all " + what + " (max)", percentile(reach.all, 1.0));
}

}  // namespace

void runScaleCase(Report& report, const std::string& dir) {
  const int subscribers = std::stoi(arg("subscribers", "1000"));
  const int hosts = std::max(1, std::min(subscribers, std::stoi(arg("hosts", "10"))));
  const int changes = std::stoi(arg("scale-changes", "100"));
  const std::string durable = arg("subscriber-durable", "0");
  raiseFileLimit();
  std::string limit = std::to_string(subscribers + 64);
  auto config =
      writeConfig(dir + "/scale.json", 0, std::nullopt,
                  R"("maxConnections": )" + limit + R"(, "maxConnectionsPerSource": )" + limit,
                  subscribers);
  test::ServerProcess server(dir + "/scale-server", config);
  Client a(dir + "/scale-a", clientOptions("A", server.address(), true));
  if (!a.waitConnected(30s) ||
      !test::eventually([&] { return a.status().idsLeft["parts"] > 0; }, 30s)) {
    throw std::runtime_error("client A did not connect");
  }
  std::this_thread::sleep_for(1s);
  const auto rssBefore = statusBytes(server.pid(), "VmRSS");
  const auto anonBefore = statusBytes(server.pid(), "RssAnon");
  const std::string n = std::to_string(subscribers);

  // The subscribers: real replicas, `hosts` processes holding them.
  auto setupStart = Clock::now();
  auto replicas = startHosts("subscribers", server.address(), subscribers, hosts, durable);
  double setup = std::chrono::duration<double>(Clock::now() - setupStart).count();
  std::this_thread::sleep_for(2s);  // idle sessions
  const auto rssAfter = statusBytes(server.pid(), "VmRSS");
  const auto anonAfter = statusBytes(server.pid(), "RssAnon");
  const double perClient = (static_cast<double>(rssAfter) - static_cast<double>(rssBefore)) /
                           static_cast<double>(subscribers);
  const double anonPerClient = (static_cast<double>(anonAfter) - static_cast<double>(anonBefore)) /
                               static_cast<double>(subscribers);
  std::printf("  scale: %d replicas in %d processes (durable: %s) subscribed in %.1f s; server "
              "VmRSS %.1f -> %.1f MiB (RssAnon %.1f -> %.1f MiB)\n",
              subscribers, hosts, durable == "1" ? "yes" : "no", setup,
              static_cast<double>(rssBefore) / 1048576.0, static_cast<double>(rssAfter) / 1048576.0,
              static_cast<double>(anonBefore) / 1048576.0,
              static_cast<double>(anonAfter) / 1048576.0);
  Reach replicaReach = measureReach(a, replicas, server.pid(), changes);
  std::printf("  scale: CPU per change: server %.1f ms, the %d hosts %.1f ms (%.0f us a replica); "
              "server VmRSS %.1f MiB, at its peak %.1f MiB\n",
              replicaReach.serverCpuMs, hosts, replicaReach.hostsCpuMs,
              replicaReach.hostsCpuMs * 1e3 / subscribers,
              static_cast<double>(statusBytes(server.pid(), "VmRSS")) / 1048576.0,
              static_cast<double>(statusBytes(server.pid(), "VmHWM")) / 1048576.0);
  for (auto& c : replicas) c->wait();
  replicas.clear();

  // The same sessions held by subscribers that store nothing (one event
  // loop a host): what is left is the server's own fan-out, which is all
  // of it on a LAN where every replica has a machine of its own.
  auto sessions = startHosts("sessions", server.address(), subscribers, hosts, durable);
  Reach sessionReach = measureReach(a, sessions, server.pid(), changes);
  std::printf("  scale: CPU per change with subscribers that store nothing: server %.1f ms "
              "(%.0f us a session), the %d hosts %.1f ms\n",
              sessionReach.serverCpuMs, sessionReach.serverCpuMs * 1e3 / subscribers, hosts,
              sessionReach.hostsCpuMs);
  for (auto& c : sessions) c->wait();

  reportReach(report, "scale", n + " replicas", replicaReach);
  reportReach(report, "fan-out", n + " sessions storing nothing", sessionReach);
  report.ratio("scale_reach_all_p99_ms", percentile(replicaReach.all, 0.99) / 1e6, "<= 100");
  report.ratio("fanout_reach_all_p99_ms", percentile(sessionReach.all, 0.99) / 1e6, "(reported)");
  report.ratio("server_cpu_per_session_per_change_us",
               sessionReach.serverCpuMs * 1e3 / subscribers, "(reported)");
  report.ratio("server_rss_per_idle_client_kib", perClient / 1024, "<= 64");
  report.ratio("server_rss_anon_per_idle_client_kib", anonPerClient / 1024, "(reported)");
  stopAndCountRequestsPerCommit(server, "scale server");
}

namespace {

// Notes when each of A's records reached each of a host's `count`
// subscribers, and prints "<id> <first ns> <last ns>" once all have it.
// Thread-safe.
class Arrivals {
 public:
  explicit Arrivals(int count) : count_(count) {}

  void arrived(std::uint64_t id) {
    std::int64_t now = nowNs();
    std::lock_guard lock(mutex_);
    Seen& s = seen_[id];
    s.earliest = std::min(s.earliest, now);
    s.latest = std::max(s.latest, now);
    if (++s.subscribers == count_) {
      std::printf("%" PRIu64 " %" PRId64 " %" PRId64 "\n", id, s.earliest, s.latest);
      std::fflush(stdout);
      seen_.erase(id);
    }
  }

 private:
  struct Seen {
    int subscribers = 0;
    std::int64_t earliest = INT64_MAX;
    std::int64_t latest = 0;
  };
  const int count_;
  std::mutex mutex_;
  std::unordered_map<std::uint64_t, Seen> seen_;
};

// Waits until this process's stdin closes: the benchmark's sign to end.
void untilStdinCloses() {
  char c;
  while (::read(0, &c, 1) > 0) {
  }
}

// A subscriber that keeps nothing: it notes A's records and answers at once.
class NotingListener final : public sync::Listener::Server {
 public:
  explicit NotingListener(Arrivals& arrivals) : arrivals_(arrivals) {}

  kj::Promise<void> changes(ChangesContext context) override {
    for (auto change : context.getParams().getChanges()) {
      if (change.getOrigin() == "A") arrivals_.arrived(change.getId());
    }
    return kj::READY_NOW;
  }

 private:
  Arrivals& arrivals_;
};

}  // namespace

int runSubscriberHost() {
  const int first = std::stoi(arg("first", "0"));
  const int count = std::stoi(arg("count", "1"));
  const bool durable = arg("subscriber-durable", "0") == "1";
  test::TempDir dir;
  Arrivals arrivals(count);
  std::vector<std::unique_ptr<Client>> clients;
  std::vector<Subscription> subscriptions;
  for (int i = 0; i < count; ++i) {
    std::string name = "sub-" + std::to_string(first + i);
    auto o = clientOptions(name, arg("server", ""), durable);
    o.database.initialMapSize = std::size_t{1} << 20;  // grows when it must
    o.database.maxReaders = 8;
    clients.push_back(std::make_unique<Client>(dir.sub(name), o));
    subscriptions.push_back(clients.back()->db().subscribe(
        EventFilter{{"parts"}, {EventKind::kCreated}}, [&](const Event& e) {
          if (e.origin == "A") arrivals.arrived(e.key.id);
        }));
  }
  for (auto& c : clients) {
    if (!c->waitConnected(300s) || !c->sync(300s)) {
      std::printf("replica %s did not sync: %s\n", c->db().path().c_str(),
                  c->status().lastError.c_str());
      return 1;
    }
  }
  std::printf("ready\n");
  std::fflush(stdout);
  untilStdinCloses();
  subscriptions.clear();
  return 0;
}

int runSessionHost() {
  const int first = std::stoi(arg("first", "0"));
  const int count = std::stoi(arg("count", "1"));
  Arrivals arrivals(count);
  auto io = kj::setupAsyncIo();
  auto address =
      io.provider->getNetwork().parseAddress(arg("server", "")).wait(io.waitScope);
  struct Held {
    kj::Own<kj::AsyncIoStream> stream;
    kj::Own<capnp::TwoPartyClient> rpc;
    sync::Subscription::Client subscription = nullptr;
  };
  std::vector<Held> held;
  for (int i = 0; i < count; ++i) {
    std::string name = "sub-" + std::to_string(first + i);
    Held h;
    // Read as a replica reads.
    h.stream = protocol::bufferReads(address->connect().wait(io.waitScope));
    h.rpc = kj::heap<capnp::TwoPartyClient>(*h.stream);
    auto request = h.rpc->bootstrap().castAs<sync::Gate>().helloRequest();
    auto hello = request.initHello();
    hello.setClient(name);
    hello.setToken(name + "-token");
    hello.setProtocol(sync::PROTOCOL_VERSION);
    auto answer = request.send().wait(io.waitScope);
    auto subscribe = answer.getSession().subscribeRequest();
    subscribe.setAfter(answer.getServer().getLastSequence());
    subscribe.setListener(kj::heap<NotingListener>(arrivals));
    h.subscription = subscribe.send().wait(io.waitScope).getSubscription();
    held.push_back(kj::mv(h));
  }
  std::printf("ready\n");
  std::fflush(stdout);
  // The event loop runs until stdin closes.
  auto in = io.lowLevelProvider->wrapInputFd(0);
  char c;
  while (in->tryRead(&c, 1, 1).wait(io.waitScope) > 0) {
  }
  return 0;
}

}  // namespace hills::bench
