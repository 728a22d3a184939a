// The sync protocol's C++ side, shared by hills-server and hills::Client:
// the generated interfaces of schemas/hills/sync.capnp and how hills errors
// cross the RPC boundary.
#pragma once

#include <kj/exception.h>

#include <string>
#include <string_view>

#include "hills/error.h"
#include "hills/key.h"
#include "hills/sync.capnp.h"

namespace hills::protocol {

// A hills::Error as a Cap'n Proto exception: the description carries the
// code's name, so the other side can raise the same Error again.
kj::Exception toException(const Error& error);

// The Error a Cap'n Proto exception stands for: the code it carries, or
// kOffline for a lost connection, or kProtocol for anything else (the
// message says what the peer said).
Error toError(const kj::Exception& e);

// The ErrorCode whose name toString(ErrorCode) gives; kProtocol for an
// unknown name.
ErrorCode codeNamed(std::string_view name);

// Keys on the wire.
void setKey(sync::Key::Builder out, const OpaqueKey& key);
OpaqueKey keyOf(sync::Key::Reader key);

// Raises the Error an Outcome stands for; nothing when it is not a refusal.
void check(sync::Outcome::Reader outcome);

// Runs fn and turns a hills::Error it throws into the kj::Exception that
// toError() reads back as the same Error: for code that runs inside RPC
// methods and promise continuations.
template <class F>
auto translated(F&& fn) -> decltype(fn()) {
  try {
    return fn();
  } catch (const Error& e) {
    kj::throwFatalException(toException(e));
  }
}

}  // namespace hills::protocol
