// What the fuzz targets share: the input as aligned words, a scratch
// directory per process, and the one rule every target checks: a call may
// refuse with hills::Error, anything else escaping it is a finding.
//
// Each target defines LLVMFuzzerTestOneInput. Built with clang and
// -fsanitize=fuzzer it is a libFuzzer program (scripts/fuzz.sh); built with
// replay_main.cc it runs the files of its seed corpus (a ctest test).
#pragma once

#include <capnp/common.h>
#include <kj/exception.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <string>
#include <string_view>
#include <vector>

#include "hills/error.h"
#include "temp_dir.h"

namespace hills::fuzz {

// Reports a broken invariant and aborts, which libFuzzer and the replayer
// both count as a finding (the input is kept as a crash file).
[[noreturn]] inline void fail(std::string_view what) {
  std::fprintf(stderr, "FUZZ FINDING: %.*s\n", static_cast<int>(what.size()), what.data());
  std::fflush(stderr);
  std::abort();
}

// Runs fn. Returns true when it returned, false when it threw hills::Error
// (a refusal, which is allowed); anything else that escapes is a finding
// named `what`.
template <class F>
bool refusedOnlyWithError(std::string_view what, F&& fn) {
  try {
    fn();
    return true;
  } catch (const hills::Error&) {
    return false;
  } catch (const kj::Exception& e) {
    fail(std::string(what) + ": a kj::Exception escaped: " + e.getDescription().cStr());
  } catch (const std::exception& e) {
    fail(std::string(what) + ": a std::exception escaped: " + e.what());
  } catch (...) {
    fail(std::string(what) + ": an unknown exception escaped");
  }
}

// The input copied into whole, aligned words (zero padding at the end), as
// Cap'n Proto's readers want them.
inline std::vector<capnp::word> wordsOf(const std::uint8_t* data, std::size_t size) {
  std::vector<capnp::word> words((size + sizeof(capnp::word) - 1) / sizeof(capnp::word));
  if (size > 0) std::memcpy(words.data(), data, size);
  return words;
}

// A directory for this process's databases, removed at exit (a crash leaves
// it behind: scripts/fuzz.sh points TMPDIR into its build tree).
inline const test::TempDir& scratch() {
  static test::TempDir dir;
  return dir;
}

// Thrown to roll a write transaction back once its checks are done, so
// every input meets the same database.
struct Rollback {};

}  // namespace hills::fuzz
