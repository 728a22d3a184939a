// The fault suite's rig: a real hills-server and writer processes
// (fault-client) on 127.0.0.1, the faults the scenarios inflict on them,
// and the check every scenario ends with.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "contents.h"
#include "server_process.h"
#include "temp_dir.h"

namespace hills::test {

// How many faults a scenario inflicts: HILLS_FAULT_ROUNDS from the
// environment (scripts/faults.sh sets it), `shortForm` otherwise.
int faultRounds(int shortForm);

// The seed of a scenario's random choices: HILLS_FAULT_SEED from the
// environment, or 20240612; printed with the scenario's figures.
std::uint32_t faultSeed();

// What a scenario's check found.
struct FaultTally {
  std::uint64_t kills = 0;         // faults survived: kills, cuts, attacks, as the scenario counts
  std::uint64_t acknowledged = 0;  // writes the server acknowledged to a writer
  std::uint64_t refused = 0;       // writes the server refused (kept as conflict copies)
  std::uint64_t lost = 0;          // acknowledged and not on the server
  std::uint64_t diverged = 0;      // acknowledged with other bytes, or differing on a replica
  std::uint64_t duplicates = 0;    // ids used for two writes, writes stored under two ids
  std::uint64_t stored = 0;        // parts on the server
};

// Prints a scenario's figures on one line, and appends it to
// $HILLS_FAULTS_REPORT when set.
void report(const std::string& scenario, const FaultTally& tally);

// One writer: its replica and acknowledgement file, and its process while
// it runs.
struct Writer {
  std::string name;  // A, B or C of writeServerConfig
  std::string replica;
  std::string acks;
  std::string server;  // where it connects: the server, or a proxy before it
  long next = 0;       // the first part number of its next process
  std::size_t size = 40;     // of each part's description
  std::size_t maxMap = 0;    // Options::maxMapSize of its replica (0: none)
  pid_t pid = -1;
};

class FaultRig {
 public:
  // A server (not started yet) and the writers `names` in a fresh directory.
  // `serverDb`: the server's database directory (default: in the rig's
  // directory), for a database on a disk of its own.
  explicit FaultRig(const std::vector<std::string>& names, std::string serverDb = {});
  ~FaultRig();
  FaultRig(const FaultRig&) = delete;
  FaultRig& operator=(const FaultRig&) = delete;

  TempDir dir;
  std::mt19937 random{faultSeed()};
  std::vector<Writer> writers;
  std::optional<ServerProcess> server;

  // Starts the server on the port it had (any port the first time); a port
  // still held by the killed process is tried again for up to 10 s.
  void startServer(std::optional<rlim_t> maxFiles = std::nullopt);
  // kill -9 of the server.
  void killServer();
  // The end of the server's log (of every run on its database), for a
  // failed check to show.
  std::string serverLogTail() const;
  // The port the server listens on (0 before its first start).
  unsigned port() const { return port_; }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }

  // Starts writer `i`'s process against `server` (default: the server).
  void startWriter(std::size_t i, const std::string& server = {});
  // Starts every writer against `server` (default: the server) and waits
  // (at most 30 s) for their first 15 acknowledged writes.
  void startWriters(const std::string& server = {});
  // kill -9 of writer `i`'s process.
  void killWriter(std::size_t i);
  bool writing(std::size_t i) const { return writers[i].pid > 0; }

  // Writes acknowledged so far, as the writers' files say.
  std::uint64_t acknowledged() const;
  // Waits (at most `timeout`) until the writers acknowledged `more` writes
  // beyond what they had; false at the timeout.
  bool moreAcknowledged(std::uint64_t more, std::chrono::milliseconds timeout);

  // The check a scenario ends with: the writers are killed, the server runs
  // undisturbed, every replica syncs with it directly; then every
  // acknowledged write must be on the server with identical bytes, no id
  // used twice, every replica equal to the server. Prints the figures under
  // `scenario` (and appends them to $HILLS_FAULTS_REPORT when set).
  FaultTally settle(const std::string& scenario, std::uint64_t kills);

  // A random duration in [min, max].
  std::chrono::milliseconds between(std::chrono::milliseconds min, std::chrono::milliseconds max);

 private:
  // Opens every writer's replica against the server, syncs them, and
  // returns what each holds.
  std::vector<RecordHashes> syncReplicas();
  // Counts what the acknowledgement files, the server and the replicas say.
  void tally(FaultTally& tally, const hills::Database& serverDb,
             const std::vector<RecordHashes>& replicas) const;

  std::string config_;
  std::string serverDb_;
  unsigned port_ = 0;
};

}  // namespace hills::test
