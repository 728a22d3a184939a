#include "fault_rig.h"

#include <catch2/catch.hpp>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "contents.h"
#include "hills/client.h"
#include "sync_fixtures.h"

namespace hills::test {
namespace {

using namespace std::chrono_literals;

long fromEnvironment(const char* name, long otherwise) {
  const char* value = std::getenv(name);
  return value && *value ? std::stol(value) : otherwise;
}

// One line of a writer's acknowledgement file (see fault_client.cc).
struct Ack {
  bool acknowledged = false;  // "ack"; otherwise "refused"
  std::uint64_t id = 0;
  std::uint32_t revision = 0;
  long n = 0;
  std::uint64_t hash = 0;
};

// The whole lines of an acknowledgement file; a torn last line (the writer
// was killed in the middle of it) is left out.
std::vector<Ack> readAcks(const std::string& path) {
  std::ifstream in(path);
  std::string text(std::istreambuf_iterator<char>(in), {});
  std::vector<Ack> out;
  std::size_t at = 0;
  for (auto end = text.find('\n'); end != std::string::npos; end = text.find('\n', at)) {
    std::istringstream line(text.substr(at, end - at));
    at = end + 1;
    std::string verdict;
    Ack ack;
    if (line >> verdict >> ack.id >> ack.revision >> ack.n >> ack.hash &&
        (verdict == "ack" || verdict == "refused")) {
      ack.acknowledged = verdict == "ack";
      out.push_back(ack);
    }
  }
  return out;
}

// The name of every part on the server, by id.
std::map<std::uint64_t, std::string> partNamesById(const hills::Database& db) {
  std::map<std::uint64_t, std::string> out;
  db.read([&](const hills::ReadTxn& txn) {
    txn.tree<plm::Part>().forEach([&](Key<plm::Part> key, RecordTraits<plm::Part>::Reader p) {
      out[key.id] = p.getName().cStr();
    });
  });
  return out;
}

}  // namespace

int faultRounds(int shortForm) {
  return static_cast<int>(fromEnvironment("HILLS_FAULT_ROUNDS", shortForm));
}

std::uint32_t faultSeed() {
  return static_cast<std::uint32_t>(fromEnvironment("HILLS_FAULT_SEED", 20240612));
}

FaultRig::FaultRig(const std::vector<std::string>& names, std::string serverDb)
    : config_(writeServerConfig(dir.sub("server.json"))),
      serverDb_(serverDb.empty() ? dir.sub("server") : std::move(serverDb)) {
  long base = 0;
  for (auto& name : names) {
    Writer w;
    w.name = name;
    w.replica = dir.sub(name);
    w.acks = dir.sub(name + ".acks");
    w.next = base;
    base += 100'000'000;
    writers.push_back(w);
  }
}

FaultRig::~FaultRig() {
  for (std::size_t i = 0; i < writers.size(); ++i) {
    if (writing(i)) killWriter(i);
  }
}

void FaultRig::startServer(std::optional<rlim_t> maxFiles) {
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  for (;;) {
    try {
      server.emplace(serverDb_, config_, port_,
                     maxFiles ? ProcessLimits{*maxFiles, *maxFiles} : ProcessLimits{});
      port_ = server->port();
      return;
    } catch (const std::runtime_error&) {
      // The port of a killed server may take a moment to be free again.
      if (port_ == 0 || std::chrono::steady_clock::now() >= deadline) throw;
      std::this_thread::sleep_for(50ms);
    }
  }
}

void FaultRig::killServer() {
  server->kill(SIGKILL);
  server.reset();
}

std::string FaultRig::serverLogTail() const {
  std::ifstream in(serverDb_ + ".server.log");
  std::string text(std::istreambuf_iterator<char>(in), {});
  return text.size() > 4000 ? "..." + text.substr(text.size() - 4000) : text;
}

void FaultRig::startWriter(std::size_t i, const std::string& serverAddress) {
  Writer& w = writers[i];
  w.server = serverAddress.empty() ? address() : serverAddress;
  w.pid = spawnProcess(HILLS_FAULT_CLIENT_BIN,
                       {"--replica=" + w.replica, "--name=" + w.name, "--server=" + w.server,
                        "--acks=" + w.acks, "--first=" + std::to_string(w.next),
                        "--size=" + std::to_string(w.size), "--max-map=" + std::to_string(w.maxMap),
                        "--seconds=900"},
                       dir.sub(w.name + ".log"));
  w.next += 1'000'000;
}

void FaultRig::startWriters(const std::string& serverAddress) {
  for (std::size_t i = 0; i < writers.size(); ++i) startWriter(i, serverAddress);
  REQUIRE(moreAcknowledged(15, 30s));
}

void FaultRig::killWriter(std::size_t i) {
  stopProcess(writers[i].pid, SIGKILL);
  writers[i].pid = -1;
}

std::uint64_t FaultRig::acknowledged() const {
  std::uint64_t n = 0;
  for (auto& w : writers) {
    for (auto& ack : readAcks(w.acks)) n += ack.acknowledged ? 1 : 0;
  }
  return n;
}

bool FaultRig::moreAcknowledged(std::uint64_t more, std::chrono::milliseconds timeout) {
  const auto target = acknowledged() + more;
  return eventually([&] { return acknowledged() >= target; }, timeout);
}

std::chrono::milliseconds FaultRig::between(std::chrono::milliseconds min,
                                            std::chrono::milliseconds max) {
  std::uniform_int_distribution<long> pick(min.count(), max.count());
  return std::chrono::milliseconds(pick(random));
}

std::vector<RecordHashes> FaultRig::syncReplicas() {
  std::vector<std::unique_ptr<hills::Client>> clients;
  for (auto& w : writers) {
    clients.push_back(std::make_unique<hills::Client>(w.replica, clientOptions(w.name, address())));
  }
  // Twice round, so that each has what the others pushed.
  for (int round = 0; round < 2; ++round) {
    for (auto& c : clients) {
      REQUIRE(c->waitConnected(20s));
      REQUIRE(c->sync(60s));
    }
  }
  std::vector<RecordHashes> replicas;
  for (auto& c : clients) {
    CHECK(c->status().outbox == 0);
    replicas.push_back(recordHashes(c->db()));
  }
  return replicas;
}

void FaultRig::tally(FaultTally& tally, const hills::Database& serverDb,
                     const std::vector<RecordHashes>& replicas) const {
  const RecordHashes stored = recordHashes(serverDb);
  std::map<std::uint64_t, long> writeOfId;
  for (auto& w : writers) {
    for (auto& ack : readAcks(w.acks)) {
      auto [known, fresh] = writeOfId.emplace(ack.id, ack.n);
      if (!fresh && known->second != ack.n) ++tally.duplicates;
      if (!ack.acknowledged) {
        ++tally.refused;
        continue;
      }
      ++tally.acknowledged;
      auto at = stored.find({ack.id, ack.revision});
      if (at == stored.end()) {
        ++tally.lost;
      } else if (at->second != ack.hash) {
        ++tally.diverged;
      }
    }
  }
  std::map<std::string, int> idsOfName;
  for (auto& [id, name] : partNamesById(serverDb)) {
    if (++idsOfName[name] > 1) ++tally.duplicates;
  }
  for (auto& replica : replicas) tally.diverged += differences(replica, stored);
  tally.stored = stored.size();
}

FaultTally FaultRig::settle(const std::string& scenario, std::uint64_t kills) {
  for (std::size_t i = 0; i < writers.size(); ++i) {
    if (writing(i)) killWriter(i);
  }
  INFO("the end of the server's log:\n" << serverLogTail());
  CHECK((server && server->alive()));
  if (!server || !server->alive()) startServer();

  // Every replica pushes what it still holds and catches up.
  const auto replicas = syncReplicas();
  CHECK(server->kill(SIGTERM) == 0);
  server.reset();
  FaultTally tally;
  tally.kills = kills;
  {
    hills::Database serverDb(serverDb_, serverSideOptions());
    this->tally(tally, serverDb, replicas);
  }
  report(scenario, tally);
  CHECK(tally.acknowledged > 0);
  CHECK(tally.lost == 0);
  CHECK(tally.diverged == 0);
  CHECK(tally.duplicates == 0);
  return tally;
}

void report(const std::string& scenario, const FaultTally& tally) {
  char line[512];
  std::snprintf(line, sizeof(line),
                "fault suite: %s: kills survived %llu, writes acknowledged %llu, lost %llu, "
                "diverged %llu, duplicate ids %llu (refused %llu, server records %llu, seed %u)\n",
                scenario.c_str(), static_cast<unsigned long long>(tally.kills),
                static_cast<unsigned long long>(tally.acknowledged),
                static_cast<unsigned long long>(tally.lost),
                static_cast<unsigned long long>(tally.diverged),
                static_cast<unsigned long long>(tally.duplicates),
                static_cast<unsigned long long>(tally.refused),
                static_cast<unsigned long long>(tally.stored), faultSeed());
  std::fputs(line, stdout);
  std::fflush(stdout);
  if (const char* file = std::getenv("HILLS_FAULTS_REPORT"); file && *file) {
    std::ofstream(file, std::ios::app) << line;
  }
}

}  // namespace hills::test
