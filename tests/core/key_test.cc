#include <catch2/catch.hpp>
#include <type_traits>

#include "plm_fixtures.h"

using hills::Key;

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
