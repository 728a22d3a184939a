// Catching the hills::Error an action throws, for tests that check its code
// and message.
#pragma once

#include <catch2/catch.hpp>
#include <stdexcept>

#include "hills/hills.h"

namespace hills::test {

// Runs `fn` and returns the hills::Error it throws; the test fails when it
// throws none.
template <class F>
hills::Error errorOf(F&& fn) {
  try {
    fn();
  } catch (const hills::Error& e) {
    return e;
  }
  FAIL("no hills::Error was thrown");
  throw std::logic_error("unreachable");
}

}  // namespace hills::test
