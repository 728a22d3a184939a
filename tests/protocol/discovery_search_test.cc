// What a "discover:" server names (protocol/src/discovery_search.cc);
// the search itself runs in tests/integration/discovery_test.cc and
// tests/tools/remote_test.cc, in a network of their own.
#include "hills/discovery.h"

#include <catch2/catch.hpp>

#include "error_of.h"

using hills::ErrorCode;
using hills::protocol::discoveryTarget;
using namespace hills::test;

TEST_CASE("discover:NAME names a server on the default group, and a group may be given",
          "[protocol][discovery]") {
  CHECK_FALSE(discoveryTarget("10.0.0.5:7420"));
  CHECK_FALSE(discoveryTarget("plm-server"));

  auto plain = discoveryTarget("discover:plm");
  REQUIRE(plain);
  CHECK(plain->name == "plm");
  CHECK(plain->where.group == "239.255.74.20");
  CHECK(plain->where.port == 7420);

  auto given = discoveryTarget("discover:line 3@239.1.2.3:9999");
  REQUIRE(given);
  CHECK(given->name == "line 3");
  CHECK(given->where.group == "239.1.2.3");
  CHECK(given->where.port == 9999);
}

TEST_CASE("a malformed discover: server is refused, saying what is wrong", "[protocol][discovery]") {
  auto refusal = [](const std::string& server) {
    return errorOf([&] { discoveryTarget(server); });
  };
  CHECK(refusal("discover:").code() == ErrorCode::kInvalidArgument);
  CHECK_THAT(refusal("discover:").what(), Catch::Contains("the name is empty"));
  CHECK_THAT(refusal("discover:plm@10.0.0.5:7420").what(),
             Catch::Contains("'10.0.0.5' is not a multicast address"));
  CHECK_THAT(refusal("discover:plm@239.1.2.3").what(), Catch::Contains("has no port"));
  CHECK_THAT(refusal("discover:plm@239.1.2.3:0").what(), Catch::Contains("'0' is not a port"));
  CHECK_THAT(refusal("discover:plm@239.1.2.3:70000").what(),
             Catch::Contains("'70000' is not a port"));
  CHECK_THAT(refusal("discover:plm@239.1.2.3:x").what(),
             Catch::Contains("(write \"discover:NAME\""));
}
