// For a Catch2 case that sends multicast: moves the process into a network
// of its own (net_namespace.h) or says why it cannot.
#pragma once

#include <unistd.h>

#include <catch2/catch.hpp>

#include "net_namespace.h"
#include "sanitizers.h"

namespace hills::test {

// Whether this process has a network of its own. As root (CI) it must:
// the case fails otherwise; as another user without user namespaces it
// skips, saying so, so that no multicast leaves the machine.
inline bool ownNetwork() {
  const std::string& why = isolateNetwork();
  if (why.empty()) return true;
  if (::geteuid() == 0) FAIL("as root, the test must get a network of its own: " << why);
  WARN(kSkippedMarker << "no network namespace of the test's own (" << why
                      << "): discovery is not tested, so that no multicast leaves the machine");
  return false;
}

}  // namespace hills::test
