#include <catch2/catch.hpp>
#include <type_traits>

#include "plm_fixtures.h"
#include "temp_dir.h"

using hills::Key;
using hills::test::makePart;
using hills::test::plmOptions;
using hills::test::TempDir;

TEST_CASE("keys order by id then revision", "[core][key]") {
  CHECK(Key<plm::Part>{1, 5} < Key<plm::Part>{2, 0});
  CHECK(Key<plm::Part>{2, 0} < Key<plm::Part>{2, 1});
  CHECK_FALSE(Key<plm::Part>{});
  CHECK(hills::describe(hills::OpaqueKey{"parts", 3, 1}) == "parts(3, 1)");
}

TEST_CASE("keys of different trees are different types", "[core][key]") {
  STATIC_REQUIRE_FALSE(std::is_convertible_v<Key<plm::Part>, Key<plm::Bom>>);
  STATIC_REQUIRE_FALSE(std::is_constructible_v<Key<plm::Bom>, Key<plm::Part>>);
  STATIC_REQUIRE(std::is_invocable_v<decltype(&hills::TreeView<plm::Part>::get),
                                     const hills::TreeView<plm::Part>&, Key<plm::Part>>);
  STATIC_REQUIRE_FALSE(std::is_invocable_v<decltype(&hills::TreeView<plm::Bom>::get),
                                           const hills::TreeView<plm::Bom>&, Key<plm::Part>>);
}

TEST_CASE("a reference read from a stored record gives the typed key of its target",
          "[core][key]") {
  TempDir dir;
  hills::Database db(dir.path(), plmOptions());
  auto [bom, assembly] = db.write([](hills::WriteTxn& txn) {
    auto parts = txn.tree<plm::Part>();
    parts.create(makePart(1));
    auto first = parts.create(makePart(2));
    parts.release(first);
    plm::Bom b{};
    b.assembly = parts.newRevision(first);
    return std::pair(txn.tree<plm::Bom>().create(b), b.assembly);
  });
  db.read([&](const hills::ReadTxn& txn) {
    auto stored = txn.tree<plm::Bom>().read(bom);
    REQUIRE(stored);
    hills::schema::Ref::Reader ref = stored->getAssembly();
    Key<plm::Part> key = hills::keyFrom<plm::Part>(ref);
    CHECK(key == assembly);
    CHECK(key.revision == 1);
    auto part = txn.tree<plm::Part>().get(key);
    REQUIRE(part);
    CHECK(part->number == makePart(2).number);
    CHECK(hills::keyFrom("parts", ref) == hills::opaque(assembly));
    CHECK_FALSE(hills::keyFrom<plm::Part>(hills::schema::Ref::Reader()));  // a null reference
  });
}
