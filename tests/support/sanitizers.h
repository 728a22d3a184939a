// Which sanitizer, if any, this program was built with. hills' sanitizer
// builds (HILLS_SANITIZE, HILLS_TSAN) build every program of a build alike,
// so it tells how the hills-server a test starts was built too.
#pragma once

namespace hills::test {

// Printed by a test that skips itself; ctest reports such a test as skipped
// rather than passed (SKIP_REGULAR_EXPRESSION in the tests' CMakeLists).
inline constexpr const char* kSkippedMarker = "hills-test skipped: ";

// The sanitizer whose own memory use (ASan's quarantine of freed blocks
// and redzones, TSan's shadow memory) swamps what a process holds for
// itself, or nullptr.
constexpr const char* memorySanitizer() {
#if defined(__SANITIZE_ADDRESS__)
  return "AddressSanitizer";
#elif defined(__SANITIZE_THREAD__)
  return "ThreadSanitizer";
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
  return "AddressSanitizer";
#elif __has_feature(thread_sanitizer)
  return "ThreadSanitizer";
#else
  return nullptr;
#endif
#else
  return nullptr;
#endif
}

// Whether this build's programs carry UBSan's vptr check (HILLS_SANITIZE;
// GCC defines no macro for UBSan, so the tests' CMakeLists say it). The
// check cannot work in a process that has no free descriptor: it reads the
// vtable of a type not seen before through a pipe, and when pipe() fails
// it reports a valid object as one with an "invalid vptr". GCC's libubsan
// also starts only at its first report, too late to read UBSAN_OPTIONS
// then, so no suppression reaches such a report.
constexpr bool vptrChecked() {
#if defined(HILLS_TEST_UBSAN_VPTR)
  return true;
#else
  return false;
#endif
}

}  // namespace hills::test
