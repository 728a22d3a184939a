// One program per version of tests/core/schemas/evolve_*.capnp, so that two
// versions of one schema meet in one database the way two releases of an
// application would. schema_registry_test.cc runs the steps in order.
#include <cstdio>
#include <cstring>
#include <string>

#include "hills/generic.h"
#include "hills/hills.h"
#include EVOLVE_HEADER

namespace {

int fail(const std::string& why) {
  std::fprintf(stderr, "evolve step failed: %s\n", why.c_str());
  return 1;
}

hills::Options options() {
  hills::Options o;
  o.trees = hills::treeTypes<evolve::Item, evolve::Tag>();
  o.durable = false;
  return o;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) return fail("usage: evolve_tool DIR STEP");
  std::string dir = argv[1], step = argv[2];
  try {
    if (step == "expect-mismatch") {
      try {
        hills::Database db(dir, options());
      } catch (const hills::Error& e) {
        std::printf("%s\n", e.what());
        if (e.code() != hills::ErrorCode::kSchemaMismatch) return fail("wrong code");
        if (!std::strstr(e.what(), "Item.count"))
          return fail("the message does not name Item.count");
        return 0;
      }
      return fail("an incompatible schema was accepted");
    }
    hills::Database db(dir, options());
#if EVOLVE_VERSION != 0  // the incompatible version only tries to open
    using Key = hills::Key<evolve::Item>;
    if (step == "v1-create") {
      db.write([](hills::WriteTxn& txn) {
        evolve::Item a{};
        a.name = "a";
        a.count = 1;
        txn.tree<evolve::Item>().create(a);
      });
      return 0;
    }
#if EVOLVE_VERSION == 2
    if (step == "v2-read-old-and-create") {
      auto a = db.read([](const hills::ReadTxn& txn) {
        return txn.tree<evolve::Item>().get(Key{1, 0});
      });
      if (!a || a->name != "a" || a->count != 1 || !a->note.empty())
        return fail("v1 record misread");
      db.write([](hills::WriteTxn& txn) {
        txn.tree<evolve::Item>().create({"b", 2, "new", 1.5, 9});
        txn.tree<evolve::Tag>().create({"t", 1, 77});
      });
      return 0;
    }
    if (step == "v2-verify-kept") {
      auto b = db.read([](const hills::ReadTxn& txn) {
        return txn.tree<evolve::Item>().get(Key{2, 0});
      });
      if (!b) return fail("record b is gone");
      if (b->count != 3) return fail("the v1 update of count is lost");
      if (b->note != "new" || b->weight != 1.5)
        return fail("v1 dropped the fields it does not know");
      return 0;
    }
#else
    if (step == "v1-update-new") {
      db.write([](hills::WriteTxn& txn) {
        auto items = txn.tree<evolve::Item>();
        auto b = items.get(Key{2, 0});
        if (!b || b->name != "b" || b->count != 2) throw std::runtime_error("v2 record misread");
        b->count = 3;
        items.update(Key{2, 0}, *b);
        auto tags = txn.tree<evolve::Tag>();
        auto t = tags.get(hills::Key<evolve::Tag>{1, 0});
        if (!t || t->label != "t") throw std::runtime_error("v2 tag misread");
        t->level = 2;
        tags.update(hills::Key<evolve::Tag>{1, 0}, *t);
      });
      // The stored schema is v2's: a generic reader shows the new fields.
      auto json = db.read([](const hills::ReadTxn& txn) {
        auto items = txn.tree("items");
        return hills::toJson(items, items.require(2, 0));
      });
      if (json.find("\"note\"") == std::string::npos)
        return fail("stored schema lacks v2 fields: " + json);
      return 0;
    }
#endif
#endif
    return fail("unknown step " + step);
  } catch (const std::exception& e) {
    return fail(e.what());
  }
}
