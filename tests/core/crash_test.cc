// A writer SIGKILLed in the middle of its write loop: the database must open
// afterwards with every record whose commit returned, and no partial commit.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <set>

#include "plm_fixtures.h"
#include "temp_dir.h"

using hills::test::makePart;
using hills::test::plmOptions;
using hills::test::TempDir;

namespace {

// Each commit stores a part, a bom and a stock item tagged with its sequence
// number, then reports the number on `ack`. With `dataSync`, every other
// commit defers its meta page's sync (CommitSync::kData).
[[noreturn]] void writerLoop(const std::string& dir, int ack, bool dataSync) {
  try {
    hills::Options o = plmOptions();
    o.durable = true;
    hills::Database db(dir, o);
    for (std::uint64_t seq = 1; seq < 1000000; ++seq) {
      db.write([&](hills::WriteTxn& txn) {
        if (dataSync && seq % 2 == 0) txn.setCommitSync(hills::CommitSync::kData);
        auto part = makePart(static_cast<int>(seq), 64 + seq % 500);
        part.number = "seq-" + std::to_string(seq);
        auto key = txn.tree<plm::Part>().create(part);
        plm::Bom bom{};
        bom.assembly = key;
        bom.notes = part.number;
        txn.tree<plm::Bom>().create(bom);
        plm::StockItem stock{};
        stock.part = key;
        stock.location = part.number;
        txn.tree<plm::StockItem>().create(stock);
      });
      if (::write(ack, &seq, sizeof(seq)) != sizeof(seq)) ::_exit(3);
    }
  } catch (...) {
    ::_exit(2);
  }
  ::_exit(0);
}

}  // namespace

TEST_CASE("a writer killed mid-loop leaves every acknowledged commit and no partial one",
          "[core][database][crash]") {
  // Also with commits that defer their meta sync: a process crash loses
  // none of them either (the operating system still holds the page).
  const bool dataSync = GENERATE(false, true);
  TempDir dir;
  for (int round = 0; round < 3; ++round) {
    int fds[2];
    REQUIRE(::pipe(fds) == 0);
    pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      ::close(fds[0]);
      writerLoop(dir.path(), fds[1], dataSync);
    }
    ::close(fds[1]);
    std::uint64_t acked = 0, seq = 0;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    std::uint64_t target = 50 + 40 * round;
    while (acked < target && std::chrono::steady_clock::now() < deadline) {
      pollfd p{fds[0], POLLIN, 0};
      if (::poll(&p, 1, 100) > 0 && ::read(fds[0], &seq, sizeof(seq)) == sizeof(seq)) acked = seq;
    }
    REQUIRE(acked >= target);
    ::usleep(1000 * (round * 3 + 1));  // land the kill somewhere inside a commit
    REQUIRE(::kill(pid, SIGKILL) == 0);
    int status = 0;
    REQUIRE(::waitpid(pid, &status, 0) == pid);
    CHECK(WIFSIGNALED(status));
    while (::read(fds[0], &seq, sizeof(seq)) == sizeof(seq)) acked = seq;
    ::close(fds[0]);

    hills::Database db(dir.path(), plmOptions());
    db.read([&](const hills::ReadTxn& txn) {
      std::set<std::string> parts, boms, stock;
      txn.tree<plm::Part>().forEach([&](hills::Key<plm::Part>, plm::Part::Reader r) {
        if (std::string(r.getNumber().cStr()).rfind("seq-", 0) == 0) parts.insert(r.getNumber());
      });
      txn.tree<plm::Bom>().forEach(
          [&](hills::Key<plm::Bom>, plm::Bom::Reader r) { boms.insert(r.getNotes()); });
      txn.tree<plm::StockItem>().forEach([&](hills::Key<plm::StockItem>, plm::StockItem::Reader r) {
        stock.insert(r.getLocation());
      });
      CHECK(parts == boms);
      CHECK(parts == stock);
      std::size_t missing = 0;
      for (std::uint64_t s = 1; s <= acked; ++s)
        missing += parts.count("seq-" + std::to_string(s)) ? 0 : 1;
      CHECK(missing == 0);
      CHECK(parts.size() >= acked);
    });
    // Clear the sequence tags for the next round.
    db.write([&](hills::WriteTxn& txn) {
      std::vector<hills::Key<plm::Part>> p;
      std::vector<hills::Key<plm::Bom>> b;
      std::vector<hills::Key<plm::StockItem>> s;
      txn.tree<plm::Part>().forEach(
          [&](hills::Key<plm::Part> k, plm::Part::Reader) { p.push_back(k); });
      txn.tree<plm::Bom>().forEach(
          [&](hills::Key<plm::Bom> k, plm::Bom::Reader) { b.push_back(k); });
      txn.tree<plm::StockItem>().forEach(
          [&](hills::Key<plm::StockItem> k, plm::StockItem::Reader) { s.push_back(k); });
      for (auto k : p) txn.tree<plm::Part>().remove(k);
      for (auto k : b) txn.tree<plm::Bom>().remove(k);
      for (auto k : s) txn.tree<plm::StockItem>().remove(k);
    });
  }
}
