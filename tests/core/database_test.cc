#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <thread>

#include "plm_fixtures.h"
#include "temp_dir.h"

using hills::ErrorCode;
using hills::Key;
using hills::test::makePart;
using hills::test::plmOptions;
using hills::test::TempDir;

TEST_CASE("the map grows by itself under a write loop that starts from 1 MiB",
          "[core][database][growth]") {
  TempDir dir;
  hills::Options o = plmOptions();
  o.initialMapSize = 1 << 20;
  hills::Database db(dir.path(), o);
  std::vector<Key<plm::Part>> keys;
  for (int batch = 0; batch < 40; ++batch) {
    auto created = db.write([&](hills::WriteTxn& txn) {
      std::vector<Key<plm::Part>> out;
      for (int i = 0; i < 500; ++i) out.push_back(txn.tree<plm::Part>().create(makePart(i, 200)));
      return out;
    });
    keys.insert(keys.end(), created.begin(), created.end());
  }
  // One transaction bigger than the map at its start.
  auto big = db.write([&](hills::WriteTxn& txn) {
    std::vector<Key<plm::Part>> out;
    for (int i = 0; i < 20000; ++i) out.push_back(txn.tree<plm::Part>().create(makePart(i, 300)));
    return out;
  });
  keys.insert(keys.end(), big.begin(), big.end());
  auto stats = db.stats();
  CHECK(stats.mapGrowths >= 4);
  CHECK(stats.mapSize > (std::size_t{8} << 20));
  db.read([&](const hills::ReadTxn& txn) {
    auto parts = txn.tree<plm::Part>();
    CHECK(parts.size() == keys.size());
    std::size_t missing = 0;
    for (auto k : keys) missing += parts.contains(k) ? 0 : 1;
    CHECK(missing == 0);
  });
  std::sort(keys.begin(), keys.end());
  CHECK(std::adjacent_find(keys.begin(), keys.end()) == keys.end());
}

TEST_CASE("a write beyond the configured maximum map size fails and keeps nothing",
          "[core][database][growth]") {
  TempDir dir;
  hills::Options o = plmOptions();
  o.initialMapSize = 1 << 20;
  o.maxMapSize = 2 << 20;
  hills::Database db(dir.path(), o);
  try {
    db.write([&](hills::WriteTxn& txn) {
      for (int i = 0; i < 50000; ++i) txn.tree<plm::Part>().create(makePart(i, 300));
    });
    FAIL("the write fit");
  } catch (const hills::Error& e) {
    CHECK(e.code() == ErrorCode::kMapFull);
  }
  db.read([&](const hills::ReadTxn& txn) { CHECK(txn.tree<plm::Part>().size() == 0); });
  db.write([&](hills::WriteTxn& txn) { txn.tree<plm::Part>().create(makePart(1)); });
}

namespace {

// Forks a process that opens the database (and, with `reading`, starts a
// read transaction), reports on a pipe, and waits to be killed.
pid_t holdDatabase(const std::string& dir, bool reading,
                   const hills::Options& options = plmOptions()) {
  int fds[2];
  REQUIRE(::pipe(fds) == 0);
  pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    ::close(fds[0]);
    try {
      hills::Database db(dir, options);
      auto report = [&] {
        char ready = 1;
        if (::write(fds[1], &ready, 1) != 1) ::_exit(3);
        for (;;) ::pause();
      };
      if (reading) {
        db.read([&](const hills::ReadTxn&) { report(); });
      } else {
        report();
      }
    } catch (...) {
      ::_exit(2);
    }
    ::_exit(0);
  }
  ::close(fds[1]);
  char ready = 0;
  REQUIRE(::read(fds[0], &ready, 1) == 1);
  ::close(fds[0]);
  return pid;
}

void killAndWait(pid_t pid) {
  REQUIRE(::kill(pid, SIGKILL) == 0);
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
}

}  // namespace

TEST_CASE("the reader slot of a killed reader is cleared at open", "[core][database][crash]") {
  TempDir dir;
  { hills::Database db(dir.path(), plmOptions()); }
  // While another process keeps the environment open, LMDB keeps its reader
  // table, so the dead reader's slot is there for the next open to clear.
  pid_t keeper = holdDatabase(dir.path(), false);
  pid_t reader = holdDatabase(dir.path(), true);
  killAndWait(reader);
  {
    hills::Database db(dir.path(), plmOptions());
    CHECK(db.stats().staleReadersCleared == 1);
    db.write([](hills::WriteTxn& txn) { txn.tree<plm::Part>().create(makePart(1)); });
  }
  killAndWait(keeper);
}

TEST_CASE("stats may be read while another thread grows the map",
          "[core][database][growth][regression]") {
  TempDir dir;
  hills::Options o = plmOptions();
  o.initialMapSize = 256 << 10;
  hills::Database db(dir.path(), o);
  std::atomic<bool> done{false};
  std::atomic<std::uint64_t> samples{0};
  std::thread watcher([&] {
    while (!done.load()) {
      auto s = db.stats();
      samples += s.mapSize > 0;
    }
  });
  // The writes start once the watcher reads: on a loaded machine the thread
  // may otherwise first run after the last growth.
  while (samples.load() == 0) std::this_thread::yield();
  for (int batch = 0; batch < 20; ++batch) {
    db.write([&](hills::WriteTxn& txn) {
      for (int i = 0; i < 500; ++i) txn.tree<plm::Part>().create(makePart(i, 300));
    });
  }
  done = true;
  watcher.join();
  CHECK(db.stats().mapGrowths >= 3);
  CHECK(samples > 0);
}

TEST_CASE("reads that have ended do not keep freed pages from being used again",
          "[core][database][txn]") {
  TempDir dir;
  hills::Database db(dir.path(), plmOptions());
  auto key = db.write([](hills::WriteTxn& txn) { return txn.tree<plm::Part>().create(makePart(1)); });
  // Four reads open at once, so four states keep a read transaction for the
  // next read.
  std::atomic<int> open{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 4; ++t) {
    readers.emplace_back([&] {
      db.read([&](const hills::ReadTxn& txn) {
        ++open;
        while (open.load() < 4) std::this_thread::yield();
        CHECK(txn.tree<plm::Part>().contains(key));
      });
    });
  }
  for (auto& r : readers) r.join();
  const auto before = db.stats().mapUsed;
  // Each update frees the pages of the one before; a kept read transaction
  // that still held its snapshot would keep them all.
  for (int i = 0; i < 3000; ++i) {
    db.write([&](hills::WriteTxn& txn) { txn.tree<plm::Part>().update(key, makePart(i, 400)); });
  }
  CHECK(db.stats().mapUsed - before < (std::size_t{1} << 20));
  db.read([&](const hills::ReadTxn& txn) {
    CHECK(txn.tree<plm::Part>().get(key)->name == "part 2999");
  });
}

TEST_CASE("a read after another process grew the map sees what it wrote",
          "[core][database][growth]") {
  TempDir dir;
  hills::Options o = plmOptions();
  o.initialMapSize = 1 << 20;
  { hills::Database db(dir.path(), o); }
  // The writer is forked before this process opens the database (a child
  // would inherit it as open) and starts when told.
  int go[2];
  REQUIRE(::pipe(go) == 0);
  pid_t writer = ::fork();
  REQUIRE(writer >= 0);
  if (writer == 0) {
    ::close(go[1]);
    char c;
    if (::read(go[0], &c, 1) != 1) ::_exit(3);
    try {
      hills::Database db(dir.path(), o);
      for (int batch = 0; batch < 10; ++batch) {
        db.write([&](hills::WriteTxn& txn) {
          for (int i = 0; i < 500; ++i) txn.tree<plm::Part>().create(makePart(i, 300));
        });
      }
      ::_exit(db.stats().mapGrowths > 0 ? 0 : 4);
    } catch (...) {
      ::_exit(2);
    }
  }
  ::close(go[0]);
  hills::Database db(dir.path(), o);
  const auto mapBefore = db.stats().mapSize;
  // Kept for the next read, from before the map grew.
  for (int i = 0; i < 3; ++i) {
    db.read([](const hills::ReadTxn& txn) { CHECK(txn.tree<plm::Part>().size() == 0); });
  }
  REQUIRE(::write(go[1], "x", 1) == 1);
  ::close(go[1]);
  int status = 0;
  REQUIRE(::waitpid(writer, &status, 0) == writer);
  REQUIRE(WIFEXITED(status));
  REQUIRE(WEXITSTATUS(status) == 0);
  db.read([](const hills::ReadTxn& txn) { CHECK(txn.tree<plm::Part>().size() == 5000); });
  CHECK(db.stats().mapSize > mapBefore);
}

TEST_CASE("a write does not hold the reader slot of the read it follows",
          "[core][database][txn]") {
  TempDir dir;
  hills::Options o = plmOptions();
  o.maxReaders = 2;
  { hills::Database db(dir.path(), o); }
  // Another process holds one of the two slots.
  pid_t reader = holdDatabase(dir.path(), true, o);
  {
    hills::Database db(dir.path(), o);
    db.read([](const hills::ReadTxn& txn) { CHECK(txn.tree<plm::Part>().size() == 0); });
    // The state that read, its transaction kept for the next read, serves
    // this write; a read on another thread meanwhile needs the last slot.
    db.write([&](hills::WriteTxn& txn) {
      txn.tree<plm::Part>().create(makePart(1));
      std::thread other([&] {
        CHECK_NOTHROW(db.read([](const hills::ReadTxn& t) { CHECK(t.tree<plm::Part>().size() == 0); }));
      });
      other.join();
    });
  }
  killAndWait(reader);
}
