#include <catch2/catch.hpp>

#include <atomic>
#include <thread>

#include "sync_fixtures.h"
#include "tools_fixtures.h"

using namespace hills::test;
using namespace std::chrono_literals;

TEST_CASE("backup copies a database that opens and verifies", "[tools][backup]") {
  TempDir dir;
  makePlmDatabase(dir.sub("db"), 50);
  auto r = runHills({"backup", dir.sub("db"), dir.sub("copy")});
  INFO(r.err);
  REQUIRE(r.status == 0);
  CHECK(r.out.find("backup of " + dir.sub("db")) != std::string::npos);
  auto v = runHills({"verify", dir.sub("copy")});
  CHECK(v.status == 0);
  hills::Database copy(dir.sub("copy"), toolOptions());
  CHECK(partCount(copy) == 51);
  // A second backup into the same place is refused.
  auto again = runHills({"backup", dir.sub("db"), dir.sub("copy")});
  CHECK(again.status == 1);
  CHECK(again.err.find(dir.sub("copy")) != std::string::npos);
}

TEST_CASE("backup of a server's database while it writes serves a second server",
          "[tools][backup]") {
  TempDir dir;
  auto config = writeServerConfig(dir.sub("config.json"));
  ServerProcess server(dir.sub("server"), config);
  hills::Client a(dir.sub("a"), clientOptions("A", server.address()));
  REQUIRE(a.waitConnected(10s));
  REQUIRE(hasIds(a));
  for (int i = 0; i < 50; ++i) createPart(a, i);
  REQUIRE(a.sync(10s));
  // The server keeps writing while the copy is taken.
  std::atomic<bool> stop{false};
  std::thread writer([&] {
    for (int i = 100; !stop && i < 2000; ++i) {
      createPart(a, i);
      std::this_thread::sleep_for(1ms);
    }
  });
  auto r = runHills({"backup", dir.sub("server"), dir.sub("copy")});
  stop = true;
  writer.join();
  INFO(r.err);
  REQUIRE(r.status == 0);
  auto v = runHills({"verify", dir.sub("copy")});
  INFO(v.out);
  CHECK(v.status == 0);

  ServerProcess second(dir.sub("copy"), config);
  hills::Client b(dir.sub("b"), clientOptions("B", second.address()));
  REQUIRE(b.waitConnected(10s));
  REQUIRE(b.sync(10s));
  CHECK(partCount(b.db()) >= 50);
}
