// Two versions of one schema, and an incompatible third, meeting in one
// database through three programs (evolve_tool.cc).
#include <sys/wait.h>

#include <catch2/catch.hpp>
#include <cstdlib>

#include "temp_dir.h"

using hills::test::TempDir;

namespace {

int run(const char* tool, const std::string& dir, const std::string& step) {
  std::string cmd = std::string(tool) + " '" + dir + "' " + step;
  int status = std::system(cmd.c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

}  // namespace

TEST_CASE("old and new programs share a database and keep each other's fields", "[core][schema]") {
  TempDir dir;
  CHECK(run(EVOLVE_V1, dir.path(), "v1-create") == 0);
  CHECK(run(EVOLVE_V2, dir.path(), "v2-read-old-and-create") == 0);
  CHECK(run(EVOLVE_V1, dir.path(), "v1-update-new") == 0);
  CHECK(run(EVOLVE_V2, dir.path(), "v2-verify-kept") == 0);
}

TEST_CASE("a changed field type is refused at open with the type and field named",
          "[core][schema]") {
  TempDir dir;
  REQUIRE(run(EVOLVE_V1, dir.path(), "v1-create") == 0);
  CHECK(run(EVOLVE_BAD, dir.path(), "expect-mismatch") == 0);
  // The refused program changed nothing: the old one still opens.
  CHECK(run(EVOLVE_V1, dir.path(), "v1-create") == 0);
}
