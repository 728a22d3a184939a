// The fault suite: writers in processes of their own write through a real
// hills-server while the server is killed, the writers are killed, their
// connections are cut and their disks fill up. Each scenario ends with
// FaultRig::settle: every acknowledged write on the server with identical
// bytes, no id used twice, every replica equal to the server.
// HILLS_FAULT_ROUNDS sets how many faults (scripts/faults.sh).
#include <catch2/catch.hpp>
#include <chrono>
#include <fstream>
#include <string>
#include <thread>

#include "cutting_proxy.h"
#include "fault_rig.h"
#include "temp_dir.h"
#include "tmpfs.h"

using namespace hills::test;
using namespace std::chrono_literals;

namespace {

void pause(std::chrono::milliseconds d) { std::this_thread::sleep_for(d); }

bool fileContains(const std::string& path, const std::string& what) {
  std::ifstream in(path);
  std::string text(std::istreambuf_iterator<char>(in), {});
  return text.find(what) != std::string::npos;
}

}  // namespace

TEST_CASE("every acknowledged write survives the server killed again and again in a write storm",
          "[faults][server-kill]") {
  FaultRig rig({"A", "B", "C"});
  rig.startServer();
  rig.startWriters();

  const int kills = faultRounds(8);
  for (int k = 0; k < kills; ++k) {
    pause(rig.between(100ms, 700ms));
    rig.killServer();
    pause(rig.between(0ms, 300ms));  // down a moment: the writers write offline
    rig.startServer();
  }
  // The writers get through to the last server.
  REQUIRE(rig.moreAcknowledged(15, 30s));
  rig.settle("server kill -9 in a write storm", static_cast<std::uint64_t>(kills));
}

TEST_CASE("every acknowledged write survives writers killed, with offline periods between",
          "[faults][client-kill]") {
  FaultRig rig({"A", "B", "C"});
  rig.startServer();
  rig.startWriters();

  const int kills = faultRounds(8);
  for (int k = 0; k < kills; ++k) {
    pause(rig.between(100ms, 500ms));
    std::size_t victim = rig.random() % rig.writers.size();
    rig.killWriter(victim);
    if (k % 3 == 2) {
      // An offline period: the server goes away while the others write on,
      // and the victim comes back to a replica it left mid-write.
      REQUIRE(rig.server->kill(SIGTERM) == 0);
      rig.server.reset();
      rig.startWriter(victim);
      pause(rig.between(300ms, 1000ms));
      rig.startServer();
    } else {
      pause(rig.between(0ms, 300ms));
      rig.startWriter(victim);
    }
  }
  REQUIRE(rig.moreAcknowledged(15, 30s));
  rig.settle("writers kill -9, offline periods included", static_cast<std::uint64_t>(kills));
}

TEST_CASE("every acknowledged write survives connections cut at random bytes by a proxy",
          "[faults][proxy]") {
  FaultRig rig({"A", "B", "C"});
  rig.startServer();
  CuttingProxy proxy(rig.port(), faultSeed());
  const std::string through = "127.0.0.1:" + std::to_string(proxy.port());
  rig.startWriters(through);

  const auto cuts = static_cast<std::uint64_t>(faultRounds(20));
  const auto bound = std::chrono::seconds(30 + 2 * cuts);
  CHECK(eventually([&] { return proxy.cuts() >= cuts; }, bound));
  INFO("connections " << proxy.connections() << ", cuts " << proxy.cuts());
  // Writes still get through the proxy (between its cuts).
  REQUIRE(rig.moreAcknowledged(15, 30s));
  rig.settle("connections cut at random by a proxy", proxy.cuts());
}

TEST_CASE("a full disk under the server and under a client loses no acknowledged write",
          "[faults][disk]") {
  TempDir disks;
  Tmpfs serverDisk(disks.sub("server"), "8m");
  Tmpfs clientDisk(disks.sub("client"), "4m");
  const bool mounted = serverDisk.mounted() && clientDisk.mounted();
  if (!mounted) {
    WARN("tmpfs cannot be mounted here: the server's disk is not filled, the client's map is "
         "capped at 4 MiB instead (Options::maxMapSize)");
  }
  FaultRig rig({"A", "B", "C"}, mounted ? serverDisk.path() + "/db" : std::string());
  for (auto& w : rig.writers) w.size = 4000;
  auto& c = rig.writers[2];
  if (mounted) {
    c.replica = clientDisk.path() + "/C";
  } else {
    c.maxMap = 4u << 20;
  }
  rig.startServer();
  rig.startWriters();

  // Both disks fill, the server's (which keeps a change log besides) before
  // C's: C's own writes are then refused.
  const std::string cLog = rig.dir.sub("C.log");
  REQUIRE(eventually([&] { return fileContains(cLog, "write refused"); }, 120s));
  std::uint64_t faults = 1;
  if (mounted) {
    REQUIRE(eventually([&] { return serverDisk.freeBytes() < (256u << 10); }, 120s));
    pause(2s);  // writes against a full disk
    // The server said why it refused them, and is still there.
    CHECK_THAT(rig.server->log(), Catch::Contains("a commit failed"));
    CHECK(rig.server->alive());
    // Killed while full, it starts again on the full disk.
    rig.killServer();
    rig.startServer();
    pause(1s);
    faults += 2;
    // Room again: the writers go on where they stopped.
    REQUIRE(serverDisk.resize("256m"));
    REQUIRE(clientDisk.resize("256m"));
    REQUIRE(rig.moreAcknowledged(15, 60s));
  }
  rig.settle("a full disk under the server and a client", faults);
}
