// The path every mutation takes (core/src/write_path.cc), as a write hook
// sees it: its checks, its own writes, changes applied from another
// database, and the change-log entries of its own kinds. The hook here is
// the test's own; hills' sync hooks are tested with the server and client.
#include <capnp/message.h>

#include <catch2/catch.hpp>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "error_of.h"
#include "hills/write_hook.h"
#include "plm_fixtures.h"
#include "temp_dir.h"

using hills::ErrorCode;
using hills::EventKind;
using hills::Key;
using hills::test::errorOf;
using hills::test::makePart;
using hills::test::plmOptions;
using hills::test::TempDir;

namespace {

// The kind of the change-log entries of the Notes hook.
constexpr EventKind kNoted = hills::kFirstHookKind;

// What a hook saw of one mutation, copied out of the call.
struct Seen {
  EventKind kind;
  std::string tree;
  std::uint64_t id;
  std::uint32_t revision;
  std::optional<std::string> before;  // the part's name; empty: no record
  std::optional<std::string> after;
  std::string origin;
  bool applied;
  bool concurrent;
};

std::optional<std::string> nameOf(const hills::StoredRecord* rec) {
  if (rec == nullptr) return std::nullopt;
  return std::string(rec->body().getAs<plm::Part::Capnp>().getName().cStr());
}

// A write hook for tests: writes down the mutations it sees stored, keeps
// a note of each record's last mutation in its table "_notes", takes the
// entries of kind kNoted that arrive (unless their note says "not mine"),
// and refuses or fails when told to.
class Notes final : public hills::WriteHook {
 public:
  std::vector<std::string> tables() const override { return {"_notes"}; }

  void check(hills::WriteTxn&, const hills::Mutation& m) override {
    ++checks;
    if (refuse) {
      throw hills::Error(ErrorCode::kDenied,
                         "the notes hook refuses " + hills::describe(m.tree, m.id, m.revision));
    }
  }

  void stored(hills::WriteTxn& txn, const hills::Mutation& m) override {
    seen.push_back(Seen{m.kind, std::string(m.tree), m.id, m.revision, nameOf(m.before),
                        nameOf(m.after), std::string(m.origin), m.applied, m.concurrent});
    if (failStored) throw hills::Error(ErrorCode::kInvalidArgument, "the notes hook failed");
    capnp::MallocMessageBuilder msg;
    auto note = msg.initRoot<hills::wire::Change>();
    note.setKind(static_cast<hills::wire::ChangeKind>(m.kind));
    note.setOrigin(std::string(m.origin));
    txn.table("_notes").put(hills::recordKey(m.tree, m.id, m.revision), msg);
  }

  bool applyEntry(hills::WriteTxn&, hills::wire::Change::Reader entry,
                  std::string_view origin) override {
    if (static_cast<EventKind>(static_cast<std::uint16_t>(entry.getKind())) != kNoted ||
        entry.getNote() == "not mine") {
      return false;
    }
    taken.push_back(std::string(entry.getNote().cStr()) + " from " + std::string(origin));
    return true;
  }

  bool refuse = false;
  bool failStored = false;
  int checks = 0;
  std::vector<Seen> seen;
  std::vector<std::string> taken;
};

// A database with a change log and `notes` as its hook.
hills::Options withNotes(std::shared_ptr<Notes> notes) {
  auto o = plmOptions();
  o.changeLog = true;
  o.hooks.push_back(std::move(notes));
  return o;
}

hills::Options logged() {
  auto o = plmOptions();
  o.changeLog = true;
  return o;
}

std::uint64_t lastSequence(hills::Database& db) {
  return db.read([](const hills::ReadTxn& txn) { return txn.lastSequence(); });
}

std::size_t notesIn(hills::Database& db) {
  return db.read([](const hills::ReadTxn& txn) { return txn.table("_notes").size(); });
}

std::uint64_t partsIn(hills::Database& db) {
  return db.read([](const hills::ReadTxn& txn) { return txn.tree("parts").size(); });
}

std::string nameIn(hills::Database& db, Key<plm::Part> key) {
  return db.read([&](const hills::ReadTxn& txn) { return txn.tree<plm::Part>().get(key)->name; });
}

void rename(hills::Database& db, Key<plm::Part> key, const std::string& name) {
  db.write([&](hills::WriteTxn& txn) {
    auto p = makePart(1);
    p.name = name;
    txn.tree<plm::Part>().update(key, p);
  });
}

// Applies the change-log entries of `from` after `after` to `to`, as made
// by `origin`.
void follow(hills::Database& from, hills::Database& to, std::uint64_t after,
            const std::string& origin) {
  from.read([&](const hills::ReadTxn& source) {
    to.write([&](hills::WriteTxn& txn) {
      source.changes(after, [&](hills::wire::Change::Reader c) {
        txn.tree(c.getTree().cStr()).applyChange(c, origin);
        return true;
      });
    });
  });
}

// Every event a database delivers while it lives.
struct Recorder {
  std::vector<hills::Event> events;
  hills::Subscription sub;
  explicit Recorder(hills::Database& db)
      : sub(db.subscribe({}, [this](const hills::Event& e) { events.push_back(e); })) {}
};

}  // namespace

TEST_CASE("a write hook sees every local mutation with its kind and the record before and after",
          "[core][hooks]") {
  TempDir dir;
  auto notes = std::make_shared<Notes>();
  hills::Database db(dir.path(), withNotes(notes));
  auto key = db.write([](hills::WriteTxn& txn) {
    auto parts = txn.tree<plm::Part>();
    auto k = parts.create(makePart(1));
    auto p = makePart(1);
    p.name = "renamed";
    parts.update(k, p);
    parts.release(k);
    auto next = parts.newRevision(k);
    parts.setLifecycle(k, 3);
    parts.remove(next);
    return k;
  });

  using K = EventKind;
  struct Expected {
    K kind;
    std::uint32_t revision;
    std::optional<std::string> before, after;
  };
  const Expected expected[] = {
      {K::kCreated, 0, std::nullopt, "part 1"},
      {K::kUpdated, 0, "part 1", "renamed"},
      {K::kReleased, 0, "renamed", "renamed"},
      {K::kNewRevision, 1, std::nullopt, "renamed"},  // a new record: it replaces nothing
      {K::kLifecycleChanged, 0, "renamed", "renamed"},
      {K::kRemoved, 1, "renamed", std::nullopt},
  };
  REQUIRE(notes->seen.size() == std::size(expected));
  CHECK(notes->checks == 6);
  for (std::size_t i = 0; i < notes->seen.size(); ++i) {
    CAPTURE(i);
    const Seen& s = notes->seen[i];
    CHECK(s.kind == expected[i].kind);
    CHECK(s.tree == "parts");
    CHECK(s.id == key.id);
    CHECK(s.revision == expected[i].revision);
    CHECK(s.before == expected[i].before);
    CHECK(s.after == expected[i].after);
    CHECK(s.origin.empty());
    CHECK_FALSE(s.applied);
    CHECK_FALSE(s.concurrent);
  }

  // Made for someone else, a change is still local: the origin is who it
  // was made for.
  db.write([](hills::WriteTxn& txn) {
    txn.setOrigin("a caller");
    txn.tree<plm::Part>().create(makePart(2));
  });
  REQUIRE(notes->seen.size() == 7);
  CHECK(notes->seen[6].origin == "a caller");
  CHECK_FALSE(notes->seen[6].applied);
}

TEST_CASE("a write hook's refusal in check leaves the transaction committable and nothing stored",
          "[core][hooks]") {
  TempDir dir;
  auto notes = std::make_shared<Notes>();
  hills::Database db(dir.path(), withNotes(notes));
  auto p = db.write([](hills::WriteTxn& txn) { return txn.tree<plm::Part>().create(makePart(1)); });
  auto seq = lastSequence(db);
  Recorder rec(db);

  auto made = db.write([&](hills::WriteTxn& txn) {
    auto parts = txn.tree<plm::Part>();
    notes->refuse = true;
    auto renamed = makePart(1);
    renamed.name = "refused";
    auto update = errorOf([&] { parts.update(p, renamed); });
    CHECK(update.code() == ErrorCode::kDenied);
    CHECK_THAT(update.what(), Catch::Contains("notes hook"));
    CHECK(errorOf([&] { parts.remove(p); }).code() == ErrorCode::kDenied);
    CHECK(errorOf([&] { parts.create(makePart(2)); }).code() == ErrorCode::kDenied);
    CHECK(txn.tree("parts").size() == 1);
    notes->refuse = false;
    return parts.create(makePart(3));
  });

  // The write committed what was not refused, and only that.
  CHECK(nameIn(db, p) == "part 1");
  CHECK(nameIn(db, made) == "part 3");
  CHECK(partsIn(db) == 2);
  CHECK(notesIn(db) == 2);
  CHECK(notes->seen.size() == 2);
  CHECK(lastSequence(db) == seq + 1);
  REQUIRE(rec.events.size() == 1);
  CHECK(rec.events[0].kind == EventKind::kCreated);
  CHECK(rec.events[0].key == hills::opaque(made));
}

TEST_CASE(
    "what a write hook's stored writes to its table commits with the record and aborts with it",
    "[core][hooks]") {
  TempDir dir;
  auto notes = std::make_shared<Notes>();
  hills::Database db(dir.path(), withNotes(notes));
  auto p = db.write([](hills::WriteTxn& txn) { return txn.tree<plm::Part>().create(makePart(1)); });
  db.read([&](const hills::ReadTxn& txn) {
    auto note = txn.table("_notes").get(hills::recordKey(hills::opaque(p)));
    REQUIRE(note);
    CHECK(note->getRoot<hills::wire::Change>().getKind() == hills::wire::ChangeKind::CREATED);
  });

  Key<plm::Part> q;
  CHECK_THROWS_AS(db.write([&](hills::WriteTxn& txn) {
    q = txn.tree<plm::Part>().create(makePart(2));
    CHECK(txn.table("_notes").contains(hills::recordKey(hills::opaque(q))));
    throw std::runtime_error("abandoned");
  }),
                  std::runtime_error);
  REQUIRE(q.id != 0);
  db.read([&](const hills::ReadTxn& txn) {
    CHECK_FALSE(txn.tree<plm::Part>().contains(q));
    CHECK_FALSE(txn.table("_notes").contains(hills::recordKey(hills::opaque(q))));
    CHECK(txn.table("_notes").size() == 1);
  });
}

TEST_CASE("a throw from a write hook's stored fails the whole write even when it is caught",
          "[core][hooks]") {
  TempDir dir;
  auto notes = std::make_shared<Notes>();
  hills::Database db(dir.path(), withNotes(notes));
  auto p = db.write([](hills::WriteTxn& txn) { return txn.tree<plm::Part>().create(makePart(1)); });
  auto seq = lastSequence(db);
  Recorder rec(db);

  notes->failStored = true;
  auto failed = errorOf([&] {
    db.write([&](hills::WriteTxn& txn) {
      auto caught = errorOf([&] { txn.tree<plm::Part>().create(makePart(2)); });
      CHECK(caught.code() == ErrorCode::kInvalidArgument);
      // The record was stored before the hook failed: the function cannot
      // tell what else is half done, so nothing of it may commit.
      auto renamed = makePart(1);
      renamed.name = "after the failure";
      txn.tree<plm::Part>().update(p, renamed);
    });
  });
  CHECK(failed.code() == ErrorCode::kInvalidArgument);
  CHECK_THAT(failed.what(), Catch::Contains("notes hook"));
  CHECK(partsIn(db) == 1);
  CHECK(nameIn(db, p) == "part 1");
  CHECK(notesIn(db) == 1);
  CHECK(lastSequence(db) == seq);
  CHECK(rec.events.empty());

  notes->failStored = false;
  db.write([](hills::WriteTxn& txn) { txn.tree<plm::Part>().create(makePart(2)); });
  CHECK(partsIn(db) == 2);
}

TEST_CASE("write hooks run in the order of Options::hooks", "[core][hooks]") {
  // Writes down its name and the step into a shared list.
  struct Ordered final : hills::WriteHook {
    Ordered(std::string name, std::vector<std::string>& log) : name(std::move(name)), log(log) {}
    void check(hills::WriteTxn&, const hills::Mutation&) override {
      log.push_back(name + " check");
    }
    void stored(hills::WriteTxn&, const hills::Mutation&) override {
      log.push_back(name + " stored");
    }
    std::string name;
    std::vector<std::string>& log;
  };
  TempDir dir;
  std::vector<std::string> log;
  auto o = plmOptions();
  o.hooks.push_back(std::make_shared<Ordered>("first", log));
  o.hooks.push_back(std::make_shared<Ordered>("second", log));
  hills::Database db(dir.path(), o);
  db.write([](hills::WriteTxn& txn) { txn.tree<plm::Part>().create(makePart(1)); });
  CHECK(log ==
        std::vector<std::string>{"first check", "second check", "first stored", "second stored"});
}

TEST_CASE("changes applied from another database reach write hooks as applied, with their origin",
          "[core][hooks][replication]") {
  TempDir dir;
  hills::Database one(dir.sub("one"), logged());
  auto notes = std::make_shared<Notes>();
  hills::Database two(dir.sub("two"), withNotes(notes));
  auto p =
      one.write([](hills::WriteTxn& txn) { return txn.tree<plm::Part>().create(makePart(1)); });
  rename(one, p, "renamed by one");
  follow(one, two, 0, "one");
  auto seq = lastSequence(one);
  one.write([&](hills::WriteTxn& txn) { txn.tree<plm::Part>().remove(p); });
  follow(one, two, seq, "one");

  REQUIRE(notes->seen.size() == 3);
  CHECK(notes->checks == 3);
  CHECK(notes->seen[0].kind == EventKind::kCreated);
  CHECK_FALSE(notes->seen[0].before);
  CHECK(notes->seen[0].after == "part 1");
  CHECK(notes->seen[1].kind == EventKind::kUpdated);
  CHECK(notes->seen[1].before == "part 1");
  CHECK(notes->seen[1].after == "renamed by one");
  CHECK(notes->seen[2].kind == EventKind::kRemoved);
  CHECK(notes->seen[2].before == "renamed by one");
  CHECK_FALSE(notes->seen[2].after);
  for (const auto& s : notes->seen) {
    CHECK(s.applied);
    CHECK_FALSE(s.concurrent);
    CHECK(s.origin == "one");
    CHECK(s.id == p.id);
  }
  // What the hook wrote about them is there too.
  two.read([&](const hills::ReadTxn& txn) {
    auto note = txn.table("_notes").get(hills::recordKey(hills::opaque(p)));
    REQUIRE(note);
    CHECK(note->getRoot<hills::wire::Change>().getKind() == hills::wire::ChangeKind::REMOVED);
    CHECK(note->getRoot<hills::wire::Change>().getOrigin() == "one");
  });
}

TEST_CASE(
    "a change beside a local edit reaches write hooks as concurrent, with the replaced value "
    "as before",
    "[core][hooks][replication]") {
  TempDir dir;
  hills::Database one(dir.sub("one"), logged());
  auto notes = std::make_shared<Notes>();
  hills::Database two(dir.sub("two"), withNotes(notes));
  auto p =
      one.write([](hills::WriteTxn& txn) { return txn.tree<plm::Part>().create(makePart(1)); });
  follow(one, two, 0, "one");
  auto seq = lastSequence(one);
  // Both edit the record once: level counters, other bytes.
  rename(one, p, "edited by one");
  rename(two, p, "edited by two");
  notes->seen.clear();

  follow(one, two, seq, "one");
  REQUIRE(notes->seen.size() == 1);
  CHECK(notes->seen[0].kind == EventKind::kUpdated);
  CHECK(notes->seen[0].applied);
  CHECK(notes->seen[0].concurrent);
  CHECK(notes->seen[0].origin == "one");
  CHECK(notes->seen[0].before == "edited by two");
  CHECK(notes->seen[0].after == "edited by one");
  CHECK(nameIn(two, p) == "edited by one");  // the origin's value is stored

  // A change ahead of the record replaces a value the origin had seen.
  seq = lastSequence(one);
  rename(one, p, "edited again by one");
  follow(one, two, seq, "one");
  REQUIRE(notes->seen.size() == 2);
  CHECK(notes->seen[1].applied);
  CHECK_FALSE(notes->seen[1].concurrent);
  CHECK(notes->seen[1].before == "edited by one");
  CHECK(notes->seen[1].after == "edited again by one");
}

TEST_CASE("an entry of a write hook's kind is recorded in the log only when a hook takes it",
          "[core][hooks][log]") {
  TempDir dir;
  hills::Database one(dir.sub("one"), logged());
  auto notes = std::make_shared<Notes>();
  hills::Database two(dir.sub("two"), withNotes(notes));
  hills::Database plain(dir.sub("plain"), logged());  // no hook takes anything
  auto p =
      one.write([](hills::WriteTxn& txn) { return txn.tree<plm::Part>().create(makePart(1)); });
  follow(one, two, 0, "one");
  follow(one, plain, 0, "one");
  auto seq = lastSequence(one);

  // hills' own kinds are not a hook's to record.
  one.write([&](hills::WriteTxn& txn) {
    auto parts = txn.tree("parts");
    auto e = errorOf([&] { parts.recordEntry(EventKind::kUpdated, p.id, p.revision, "", 0); });
    CHECK(e.code() == ErrorCode::kInvalidArgument);
    parts.recordEntry(kNoted, p.id, p.revision, "a note", 7);
    parts.recordEntry(kNoted, p.id, p.revision, "not mine", 8);
  });
  REQUIRE(lastSequence(one) == seq + 2);

  Recorder recTwo(two);
  Recorder recPlain(plain);
  auto twoSeq = lastSequence(two);
  auto plainSeq = lastSequence(plain);
  follow(one, two, seq, "one");
  follow(one, plain, seq, "one");

  CHECK(notes->taken == std::vector<std::string>{"a note from one"});
  // Taken: recorded with what it says, and its event delivered.
  std::vector<std::string> logged;
  two.read([&](const hills::ReadTxn& txn) {
    txn.changes(twoSeq, [&](hills::wire::Change::Reader c) {
      CHECK(static_cast<EventKind>(static_cast<std::uint16_t>(c.getKind())) == kNoted);
      CHECK(c.getId() == p.id);
      CHECK(c.getOrigin() == "one");
      CHECK(c.getNumber() == 7);
      logged.emplace_back(c.getNote().cStr());
      return true;
    });
  });
  CHECK(logged == std::vector<std::string>{"a note"});
  REQUIRE(recTwo.events.size() == 1);
  CHECK(recTwo.events[0].kind == kNoted);
  CHECK(recTwo.events[0].origin == "one");
  CHECK(recTwo.events[0].key == hills::opaque(p));
  // Not taken, by the hook or by a database without hooks: skipped.
  CHECK(lastSequence(plain) == plainSeq);
  CHECK(recPlain.events.empty());
  // The record itself did not change anywhere.
  CHECK(nameIn(two, p) == "part 1");
  CHECK(notes->seen.size() == 1);  // the create only
}

TEST_CASE("a write transaction finds each record it stored, in whatever order the keys came",
          "[core][write][append]") {
  TempDir dir;
  // Values of another database, stored here out of key order: appends,
  // inserts before the last key, and keys past it again.
  std::vector<std::pair<std::uint64_t, std::vector<capnp::word>>> values;
  {
    auto o = plmOptions();
    o.ids = hills::Options::IdSource::kRanges;
    hills::Database other(dir.sub("other"), o);
    other.write([&](hills::WriteTxn& txn) {
      txn.tree("parts").addIdRange(100, 200);
      for (int i = 0; i < 6; ++i) {
        auto key = txn.tree<plm::Part>().create(makePart(i));
        auto rec = txn.tree("parts").find(key.id, 0);
        values.emplace_back(key.id, std::vector<capnp::word>(rec.value().begin(), rec.value().end()));
      }
    });
  }
  hills::Database db(dir.sub("db"), plmOptions());
  auto adopt = [&](hills::WriteTxn& txn, std::size_t i) {
    auto& [id, words] = values[i];
    return txn.tree("parts").adopt(id, 0, kj::arrayPtr(words.data(), words.size()).asBytes(),
                                   "other");
  };
  db.write([&](hills::WriteTxn& txn) {
    CHECK(adopt(txn, 3));
    CHECK(adopt(txn, 1));
    CHECK(adopt(txn, 5));
    CHECK(adopt(txn, 0));
    // Stored already, each is found (the same value again changes nothing).
    for (std::size_t i : {0, 1, 3, 5}) CHECK_FALSE(adopt(txn, i));
    CHECK_FALSE(txn.tree("parts").contains(values[2].first, 0));
    CHECK_FALSE(txn.tree("parts").contains(values[4].first, 0));
    // A local create, then one more foreign value.
    auto mine = txn.tree<plm::Part>().create(makePart(9));
    CHECK(txn.tree("parts").contains(mine.id, 0));
    CHECK(adopt(txn, 4));
    CHECK(txn.tree("parts").contains(values[4].first, 0));
  });
  db.read([&](const hills::ReadTxn& txn) { CHECK(txn.tree("parts").size() == 6); });
}

TEST_CASE("a write hook refuses a create before the tree gives it an id", "[core][hooks]") {
  struct NoBoms final : hills::WriteHook {
    void checkCreate(hills::WriteTxn&, std::string_view tree) override {
      if (tree == "boms") throw hills::Error(ErrorCode::kWrongTree, "no boms here");
    }
  };
  TempDir dir;
  auto o = plmOptions();
  o.ids = hills::Options::IdSource::kRanges;  // and no ranges: a create that got as far fails kNoIds
  o.hooks.push_back(std::make_shared<NoBoms>());
  hills::Database db(dir.path(), o);
  auto refused = errorOf(
      [&] { db.write([](hills::WriteTxn& txn) { txn.tree<plm::Bom>().create(plm::Bom{}); }); });
  CHECK(refused.code() == ErrorCode::kWrongTree);
  CHECK_THAT(refused.what(), Catch::Contains("no boms here"));
  auto parts = errorOf(
      [&] { db.write([](hills::WriteTxn& txn) { txn.tree<plm::Part>().create(makePart(1)); }); });
  CHECK(parts.code() == ErrorCode::kNoIds);
}
