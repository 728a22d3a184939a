#include <atomic>
#include <catch2/catch.hpp>
#include <thread>

#include "hills/generic.h"
#include "plm_fixtures.h"
#include "temp_dir.h"

using hills::Event;
using hills::EventKind;
using hills::Key;
using hills::test::makePart;
using hills::test::plmOptions;
using hills::test::TempDir;

namespace {

struct Recorder {
  std::vector<Event> events;
  hills::Subscription sub;
  Recorder(hills::Database& db, hills::EventFilter filter = {})
      : sub(db.subscribe(std::move(filter), [this](const Event& e) { events.push_back(e); })) {}
  std::vector<EventKind> kinds() const {
    std::vector<EventKind> out;
    for (const auto& e : events) out.push_back(e.kind);
    return out;
  }
};

}  // namespace

TEST_CASE("every mutation yields one event, in commit order", "[core][events]") {
  TempDir dir;
  hills::Database db(dir.path(), plmOptions());
  Recorder rec(db);
  auto key =
      db.write([](hills::WriteTxn& txn) { return txn.tree<plm::Part>().create(makePart(1)); });
  db.write([&](hills::WriteTxn& txn) {
    auto parts = txn.tree<plm::Part>();
    auto p = makePart(1);
    p.name = "changed";
    parts.update(key, p);
    parts.release(key);
    auto next = parts.newRevision(key);
    parts.setLifecycle(key, 3);
    parts.remove(next);
  });
  using K = EventKind;
  CHECK(rec.kinds() == std::vector<K>{K::kCreated, K::kUpdated, K::kReleased, K::kNewRevision,
                                      K::kLifecycleChanged, K::kRemoved});
  for (std::size_t i = 0; i < rec.events.size(); ++i) {
    CHECK(rec.events[i].sequence == i + 1);
    CHECK(rec.events[i].local());
    CHECK(rec.events[i].key.tree == "parts");
  }
  CHECK(rec.events[0].key.id == key.id);
  CHECK(rec.events[3].key.revision == 1);  // the new revision's key
  CHECK(rec.events[1].dataIteration == 2);
  CHECK(rec.events[2].metaIteration == 2);
  CHECK(rec.events[4].metaIteration == 3);
}

TEST_CASE("an update event names exactly the fields that changed", "[core][events]") {
  TempDir dir;
  hills::Database db(dir.path(), plmOptions());
  auto key =
      db.write([](hills::WriteTxn& txn) { return txn.tree<plm::Part>().create(makePart(1)); });
  Recorder rec(db);
  db.write([&](hills::WriteTxn& txn) {
    auto p = makePart(1);
    p.name = "new name";
    p.mass = 99;
    p.tags.push_back("extra");
    p.dimensions.width = 4;
    txn.tree<plm::Part>().update(key, p);
    txn.tree<plm::Part>().update(key, p);  // no change at all
  });
  REQUIRE(rec.events.size() == 2);
  CHECK(rec.events[0].changedFields ==
        std::vector<std::string>{"name", "mass", "dimensions", "tags"});
  CHECK(rec.events[1].changedFields.empty());
}

TEST_CASE("a generic JSON update reports its changed fields too", "[core][events]") {
  TempDir dir;
  hills::Database db(dir.path(), plmOptions());
  auto key =
      db.write([](hills::WriteTxn& txn) { return txn.tree<plm::Part>().create(makePart(1)); });
  Recorder rec(db);
  db.write([&](hills::WriteTxn& txn) {
    auto parts = txn.tree("parts");
    hills::updateFromJson(parts, key.id, key.revision, R"({"leadTimeDays": 12})");
  });
  REQUIRE(rec.events.size() == 1);
  CHECK(rec.events[0].changedFields == std::vector<std::string>{"leadTimeDays"});
}

TEST_CASE("no event is delivered for a transaction that threw", "[core][events]") {
  TempDir dir;
  hills::Database db(dir.path(), plmOptions());
  Recorder rec(db);
  CHECK_THROWS(db.write([](hills::WriteTxn& txn) {
    txn.tree<plm::Part>().create(makePart(1));
    throw std::runtime_error("abort");
  }));
  CHECK(rec.events.empty());
  // A refused call that the function catches changes nothing and yields nothing.
  db.write([](hills::WriteTxn& txn) {
    try {
      txn.tree<plm::Part>().remove(Key<plm::Part>{77, 0});
    } catch (const hills::Error&) {
    }
    txn.tree<plm::Part>().create(makePart(2));
  });
  CHECK(rec.kinds() == std::vector<EventKind>{EventKind::kCreated});
}

TEST_CASE("subscriptions filter by tree and kind, typed or generic", "[core][events]") {
  TempDir dir;
  hills::Database db(dir.path(), plmOptions());
  std::vector<Key<plm::Part>> created;
  auto typed = db.subscribe<plm::Part>(
      [&](const Event&, Key<plm::Part> k) { created.push_back(k); }, {EventKind::kCreated});
  Recorder stock(db, hills::EventFilter{{"stock"}, {}});
  auto key = db.write([](hills::WriteTxn& txn) {
    auto k = txn.tree<plm::Part>().create(makePart(1));
    txn.tree<plm::Part>().release(k);
    txn.tree<plm::StockItem>().create(plm::StockItem{});
    return k;
  });
  CHECK(created == std::vector<Key<plm::Part>>{key});
  REQUIRE(stock.events.size() == 1);
  CHECK(stock.events[0].key.tree == "stock");
}

TEST_CASE("a dropped subscription receives nothing more", "[core][events]") {
  TempDir dir;
  hills::Database db(dir.path(), plmOptions());
  int calls = 0;
  {
    auto sub = db.subscribe({}, [&](const Event&) { ++calls; });
    db.write([](hills::WriteTxn& txn) { txn.tree<plm::Part>().create(makePart(1)); });
  }
  db.write([](hills::WriteTxn& txn) { txn.tree<plm::Part>().create(makePart(2)); });
  CHECK(calls == 1);
}

TEST_CASE("a subscriber that throws neither stops the others nor breaks the write",
          "[core][events]") {
  TempDir dir;
  hills::Database db(dir.path(), plmOptions());
  auto bad = db.subscribe({}, [](const Event&) { throw std::runtime_error("subscriber bug"); });
  Recorder good(db);
  auto key =
      db.write([](hills::WriteTxn& txn) { return txn.tree<plm::Part>().create(makePart(1)); });
  CHECK(good.events.size() == 1);
  CHECK(db.stats().subscriberErrors == 1);
  db.read([&](const hills::ReadTxn& txn) { CHECK(txn.tree<plm::Part>().contains(key)); });
}

TEST_CASE("a subscriber may write, and its events follow the current delivery", "[core][events]") {
  TempDir dir;
  hills::Database db(dir.path(), plmOptions());
  std::vector<std::string> seen;
  auto sub = db.subscribe({}, [&](const Event& e) {
    seen.push_back(e.key.tree + ":" + std::string(hills::toString(e.kind)));
    if (e.key.tree == "parts" && e.kind == EventKind::kCreated) {
      // Keep stock for every new part: a write from inside a callback.
      db.write([&](hills::WriteTxn& txn) {
        plm::StockItem s{};
        s.part = Key<plm::Part>{e.key.id, e.key.revision};
        txn.tree<plm::StockItem>().create(s);
      });
    }
  });
  db.write([](hills::WriteTxn& txn) {
    txn.tree<plm::Part>().create(makePart(1));
    txn.tree<plm::Part>().create(makePart(2));
  });
  CHECK(seen == std::vector<std::string>{"parts:created", "parts:created", "stock:created",
                                         "stock:created"});
  db.read([](const hills::ReadTxn& txn) { CHECK(txn.tree<plm::StockItem>().size() == 2); });
}

TEST_CASE("a queue hands events to another thread in commit order", "[core][events][queue]") {
  TempDir dir;
  hills::Database db(dir.path(), plmOptions());
  hills::EventQueue queue = db.queue(hills::EventFilter{{"parts"}, {EventKind::kCreated}});
  std::atomic<int> wakeups{0};
  queue.setWakeup([&] { ++wakeups; });
  constexpr int kWriters = 2, kEach = 200;
  std::vector<std::thread> writers;
  for (int w = 0; w < kWriters; ++w) {
    writers.emplace_back([&, w] {
      for (int i = 0; i < kEach; ++i) {
        db.write(
            [&](hills::WriteTxn& txn) { txn.tree<plm::Part>().create(makePart(w * kEach + i)); });
      }
    });
  }
  std::vector<Event> got;
  std::thread consumer([&] {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (got.size() < kWriters * kEach && std::chrono::steady_clock::now() < deadline) {
      if (auto e = queue.waitPop(std::chrono::milliseconds(100))) got.push_back(std::move(*e));
    }
  });
  for (auto& t : writers) t.join();
  consumer.join();
  REQUIRE(got.size() == kWriters * kEach);
  for (std::size_t i = 1; i < got.size(); ++i) {
    CHECK(got[i].sequence == got[i - 1].sequence + 1);
    CHECK(got[i].key.id > got[i - 1].key.id);  // ids are allocated in commit order
  }
  CHECK(wakeups >= 1);
  CHECK(queue.size() == 0);
}

TEST_CASE("events of several changes to one record in one transaction carry each change's counters",
          "[core][events][regression]") {
  TempDir dir;
  hills::Database db(dir.path(), plmOptions());
  Recorder rec(db);
  auto key = db.write([](hills::WriteTxn& txn) {
    auto parts = txn.tree<plm::Part>();
    auto k = parts.create(makePart(1));
    parts.update(k, makePart(2));
    parts.update(k, makePart(3));
    return k;
  });
  REQUIRE(rec.events.size() == 3);
  CHECK(rec.events[0].dataIteration == 1);
  CHECK(rec.events[1].dataIteration == 2);
  CHECK(rec.events[2].dataIteration == 3);
  db.read([&](const hills::ReadTxn& txn) {
    CHECK(txn.tree<plm::Part>().meta(key)->dataIteration == 3);
  });
}

TEST_CASE("a subscriber that cancels itself is not called again in the same delivery",
          "[core][events][regression]") {
  TempDir dir;
  hills::Database db(dir.path(), plmOptions());
  int calls = 0;
  hills::Subscription sub;
  sub = db.subscribe({}, [&](const Event&) {
    ++calls;
    sub.cancel();
  });
  db.write([](hills::WriteTxn& txn) {
    txn.tree<plm::Part>().create(makePart(1));
    txn.tree<plm::Part>().create(makePart(2));
  });
  CHECK(calls == 1);
}

TEST_CASE("events of a write made inside another database's transaction wait for it to end",
          "[core][events][regression]") {
  TempDir dirA, dirB;
  hills::Database a(dirA.path(), plmOptions());
  bool insideA = false;
  std::vector<bool> deliveredInside;
  {
    hills::Database b(dirB.path(), plmOptions());
    auto sub = b.subscribe({}, [&](const Event&) { deliveredInside.push_back(insideA); });
    a.write([&](hills::WriteTxn& txn) {
      insideA = true;
      txn.tree<plm::Part>().create(makePart(1));
      b.write([](hills::WriteTxn& tb) { tb.tree<plm::Part>().create(makePart(2)); });
      CHECK(deliveredInside.empty());
      insideA = false;
    });
  }
  CHECK(deliveredInside == std::vector<bool>{false});
}

TEST_CASE("a subscriber may open, write to and close another database",
          "[core][events][regression]") {
  TempDir dirA, dirB;
  hills::Database a(dirA.path(), plmOptions());
  int seenInB = 0;
  auto sub = a.subscribe({}, [&](const Event&) {
    hills::Database b(dirB.path(), plmOptions());
    auto subB = b.subscribe({}, [&](const Event&) { ++seenInB; });
    b.write([](hills::WriteTxn& txn) { txn.tree<plm::Part>().create(makePart(9)); });
  });
  a.write([](hills::WriteTxn& txn) { txn.tree<plm::Part>().create(makePart(1)); });
  // B's events were held back during A's delivery and B was closed before
  // they could be delivered: they go nowhere, and nothing breaks.
  CHECK(seenInB == 0);
  a.write([](hills::WriteTxn& txn) { txn.tree<plm::Part>().create(makePart(2)); });
}
