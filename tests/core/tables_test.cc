// What write hooks keep beside the trees (core/src/tables.cc): their
// internal tables, properties, and the callbacks of a transaction's end.
#include <capnp/message.h>

#include <catch2/catch.hpp>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "error_of.h"
#include "hills/write_hook.h"
#include "plm_fixtures.h"
#include "raw_lmdb.h"
#include "temp_dir.h"

using hills::ErrorCode;
using hills::test::errorOf;
using hills::test::makePart;
using hills::test::plmOptions;
using hills::test::TempDir;
using hills::test::rawHasTable;

namespace {

// A hook that only declares tables.
class Tables final : public hills::WriteHook {
 public:
  explicit Tables(std::vector<std::string> names) : names_(std::move(names)) {}
  std::vector<std::string> tables() const override { return names_; }

 private:
  std::vector<std::string> names_;
};

hills::Options withTables(std::vector<std::string> names) {
  auto o = plmOptions();
  o.hooks.push_back(std::make_shared<Tables>(std::move(names)));
  return o;
}

// Stores a message holding `number` under `key` of `table`.
void put(hills::WriteTxn& txn, const std::string& table, std::string_view key,
         std::uint64_t number) {
  capnp::MallocMessageBuilder msg;
  msg.initRoot<hills::wire::Change>().setNumber(number);
  txn.table(table).put(key, msg);
}

std::uint64_t numberIn(capnp::MessageReader& msg) {
  return msg.getRoot<hills::wire::Change>().getNumber();
}

// The sequence of calls a transaction's end made, and the events delivered.
struct Ends {
  std::vector<std::string> calls;
  hills::Subscription sub;
  explicit Ends(hills::Database& db)
      : sub(db.subscribe({}, [this](const hills::Event&) { calls.push_back("event"); })) {}
  void on(hills::WriteTxn& txn) {
    txn.onCommit([this] { calls.push_back("commit"); });
    txn.onAbort([this] { calls.push_back("abort"); });
  }
};

}  // namespace

TEST_CASE("a hook's table keeps messages under byte keys in key order", "[core][tables]") {
  TempDir dir;
  {
    hills::Database db(dir.path(), withTables({"_notes"}));
    db.write([](hills::WriteTxn& txn) {
      put(txn, "_notes", "b/2", 22);
      put(txn, "_notes", "a/1", 11);
      put(txn, "_notes", "b/1", 21);
      put(txn, "_notes", "c", 3);
      put(txn, "_notes", "c", 30);  // replaces
      CHECK(txn.table("_notes").size() == 4);
    });
  }
  hills::Database db(dir.path(), withTables({"_notes"}));
  db.read([](const hills::ReadTxn& txn) {
    auto notes = txn.table("_notes");
    CHECK(notes.name() == "_notes");
    CHECK(notes.size() == 4);
    auto c = notes.get("c");
    REQUIRE(c);
    CHECK(numberIn(*c) == 30);
    CHECK(notes.contains("a/1"));
    CHECK_FALSE(notes.contains("a/2"));
    CHECK_FALSE(notes.get("nothing"));
    CHECK_FALSE(notes.get(""));

    std::vector<std::string> all, ofB;
    notes.scan("", [&](std::string_view key, capnp::MessageReader&) {
      all.emplace_back(key);
      return true;
    });
    CHECK(all == std::vector<std::string>{"a/1", "b/1", "b/2", "c"});
    notes.scan("b/", [&](std::string_view key, capnp::MessageReader& msg) {
      ofB.push_back(std::string(key) + "=" + std::to_string(numberIn(msg)));
      return true;
    });
    CHECK(ofB == std::vector<std::string>{"b/1=21", "b/2=22"});
    int calls = 0;
    notes.scan("", [&](std::string_view, capnp::MessageReader&) { return ++calls < 2; });
    CHECK(calls == 2);  // stops when asked

    auto floor = notes.floor("b/", "b/9");
    REQUIRE(floor);
    CHECK(numberIn(*floor) == 22);
    floor = notes.floor("b/", "b/1");
    REQUIRE(floor);
    CHECK(numberIn(*floor) == 21);
    CHECK_FALSE(notes.floor("b/", "b/0"));  // "a/1" lies before, but not under the prefix
  });
  db.write([](hills::WriteTxn& txn) {
    CHECK(txn.table("_notes").remove("c"));
    CHECK_FALSE(txn.table("_notes").remove("c"));
    CHECK_FALSE(txn.table("_notes").remove(""));
  });
  db.read([](const hills::ReadTxn& txn) { CHECK(txn.table("_notes").size() == 3); });
}

TEST_CASE("a table key that is empty or longer than 500 bytes is refused", "[core][tables]") {
  TempDir dir;
  hills::Database db(dir.path(), withTables({"_notes"}));
  db.write([](hills::WriteTxn& txn) {
    for (const std::string& key : {std::string(), std::string(501, 'k')}) {
      CAPTURE(key.size());
      auto e = errorOf([&] { put(txn, "_notes", key, 1); });
      CHECK(e.code() == ErrorCode::kInvalidArgument);
      CHECK_THAT(e.what(), Catch::Contains("_notes"));
    }
    put(txn, "_notes", std::string(500, 'k'), 1);
  });
  db.read([](const hills::ReadTxn& txn) { CHECK(txn.table("_notes").size() == 1); });
}

TEST_CASE("a table that no hook declared is refused", "[core][tables]") {
  TempDir dir;
  hills::Database db(dir.path(), withTables({"_notes"}));
  db.read([](const hills::ReadTxn& txn) {
    CHECK(errorOf([&] { txn.table("_other"); }).code() == ErrorCode::kInvalidArgument);
    CHECK(errorOf([&] { txn.table("parts"); }).code() == ErrorCode::kInvalidArgument);
  });
  db.write([](hills::WriteTxn& txn) {
    auto e = errorOf([&] { txn.table("_other"); });
    CHECK(e.code() == ErrorCode::kInvalidArgument);
    CHECK_THAT(e.what(), Catch::Contains("_other"));
  });
}

TEST_CASE("a hook's table may not be named like a tree or one of hills' own tables",
          "[core][tables]") {
  for (const char* name : {"_meta", "_log", "_index:parts", "notes", "_"}) {
    CAPTURE(name);
    TempDir dir;
    auto e = errorOf([&] { hills::Database db(dir.path(), withTables({name})); });
    CHECK(e.code() == ErrorCode::kInvalidArgument);
    CHECK_THAT(e.what(), Catch::Contains(name));
  }
  // Two hooks may share a table.
  TempDir dir;
  auto o = withTables({"_shared"});
  o.hooks.push_back(std::make_shared<Tables>(std::vector<std::string>{"_shared", "_own"}));
  hills::Database db(dir.path(), o);
  db.write([](hills::WriteTxn& txn) { put(txn, "_shared", "k", 1); });
  db.read([](const hills::ReadTxn& txn) {
    CHECK(txn.table("_shared").size() == 1);
    CHECK(txn.table("_own").size() == 0);
  });
}

TEST_CASE("a hook's table that a read-only open did not find reads as empty", "[core][tables]") {
  TempDir dir;
  { hills::Database db(dir.path(), plmOptions()); }
  auto o = withTables({"_notes"});
  o.readOnly = true;
  hills::Database db(dir.path(), o);
  db.read([](const hills::ReadTxn& txn) {
    auto notes = txn.table("_notes");
    CHECK(notes.size() == 0);
    CHECK_FALSE(notes.get("k"));
    CHECK_FALSE(notes.floor("", "k"));
    bool called = false;
    notes.scan("", [&](std::string_view, capnp::MessageReader&) { return called = true; });
    CHECK_FALSE(called);
  });
}

TEST_CASE("a plain database opens none of the tables of sync", "[core][tables]") {
  TempDir dir;
  const char* const sync[] = {"_borrows", "_outbox", "_conflicts", "_grants"};
  {
    auto o = plmOptions();
    o.changeLog = true;
    hills::Database db(dir.sub("plain"), o);
    db.write([](hills::WriteTxn& txn) { txn.tree<plm::Part>().create(makePart(1)); });
    hills::Database hooked(dir.sub("hooked"), withTables({"_borrows"}));
  }
  for (const char* name : sync) {
    CAPTURE(name);
    CHECK_FALSE(rawHasTable(dir.sub("plain"), name));
  }
  // The check can tell: a hook's table is there, and so are hills' own.
  CHECK(rawHasTable(dir.sub("hooked"), "_borrows"));
  CHECK(rawHasTable(dir.sub("plain"), "parts"));
  CHECK(rawHasTable(dir.sub("plain"), "_log"));
}

TEST_CASE("properties round-trip and hills' own keys are refused", "[core][properties]") {
  TempDir dir;
  {
    hills::Database db(dir.path(), plmOptions());
    db.read([](const hills::ReadTxn& txn) {
      CHECK_FALSE(txn.property("position"));
      CHECK_FALSE(txn.property(""));
    });
    db.write([](hills::WriteTxn& txn) {
      txn.setProperty("position", "42");
      txn.setProperty("bound to", "a server");
      txn.setProperty("empty", "");
      CHECK(txn.property("position") == "42");
    });
    db.write([](hills::WriteTxn& txn) { txn.setProperty("position", "43"); });
    CHECK_THROWS_AS(db.write([](hills::WriteTxn& txn) {
      txn.setProperty("position", "44");
      throw std::runtime_error("abandoned");
    }),
                    std::runtime_error);
  }
  hills::Database db(dir.path(), plmOptions());
  db.read([](const hills::ReadTxn& txn) {
    CHECK(txn.property("position") == "43");
    CHECK(txn.property("bound to") == "a server");
    CHECK(txn.property("empty") == "");
  });

  // "serverIds" marks a database that takes ids from ranges only.
  const char* const reserved[] = {
      "",          "format",       "uuid",      "changeLog",      "schemaVersion",
      "serverIds", "schema:parts", "ids:parts", "index:by-number"};
  auto uuid = db.read([](const hills::ReadTxn& txn) { return txn.property("uuid"); });
  db.write([&](hills::WriteTxn& txn) {
    for (const char* key : reserved) {
      CAPTURE(key);
      auto e = errorOf([&] { txn.setProperty(key, "overwritten"); });
      CHECK(e.code() == ErrorCode::kInvalidArgument);
    }
  });
  db.read([&](const hills::ReadTxn& txn) { CHECK(txn.property("uuid") == uuid); });
}

TEST_CASE("onCommit runs only after the commit and onAbort only when the write does not commit",
          "[core][txn]") {
  TempDir dir;
  hills::Database db(dir.path(), plmOptions());
  Ends ends(db);

  db.write([&](hills::WriteTxn& txn) {
    ends.on(txn);
    txn.tree<plm::Part>().create(makePart(1));
    CHECK(ends.calls.empty());
  });
  // After the commit's events.
  CHECK(ends.calls == std::vector<std::string>{"event", "commit"});

  ends.calls.clear();
  CHECK_THROWS_AS(db.write([&](hills::WriteTxn& txn) {
    ends.on(txn);
    txn.tree<plm::Part>().create(makePart(2));
    throw std::runtime_error("abandoned");
  }),
                  std::runtime_error);
  CHECK(ends.calls == std::vector<std::string>{"abort"});

  // A refusal caught inside the write is no abort: the write commits.
  ends.calls.clear();
  db.write([&](hills::WriteTxn& txn) {
    ends.on(txn);
    errorOf([&] { txn.tree<plm::Part>().remove(hills::Key<plm::Part>{999999, 0}); });
  });
  CHECK(ends.calls == std::vector<std::string>{"commit"});
}
