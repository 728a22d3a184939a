// What hills-server and hills::Client share, and all they share besides the
// core: the generated interfaces of schemas/hills/sync.capnp, how hills
// errors cross the RPC boundary, the change-log kinds of borrows, and the
// _borrows table both sides keep (the server's authoritative, each client's
// mirror of it).
#pragma once

#include <kj/exception.h>
#include <kj/time.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "hills/error.h"
#include "hills/events.h"
#include "hills/key.h"
#include "hills/sync.capnp.h"
#include "hills/txn.h"
#include "hills/write_hook.h"

namespace hills {

// A record checked out (borrowed) to one client of a sync server: only the
// holder may edit it, and its check-in must carry the fencing number.
struct BorrowInfo {
  OpaqueKey key;
  std::string holder;         // the client's name
  std::uint64_t fencing = 0;  // grows with every grant the server makes
  std::chrono::system_clock::time_point since;
  bool returning = false;  // on a client: its check-in waits in the outbox
};

namespace sync {

// The events of the change-log entries about borrows, on the server and
// every client (Event::origin names who made the change).
inline constexpr EventKind kBorrowed{BORROWED_KIND};          // a client checked a record out
inline constexpr EventKind kCheckedIn{CHECKED_IN_KIND};       // its holder checked it back in
inline constexpr EventKind kBorrowBroken{BORROW_BROKEN_KIND};  // an administrator broke it

// Names every kind an event of a sync database can have ("borrowed"...).
std::string_view kindName(EventKind kind);

// Which of a record's two histories a change-log entry of `kind` (its
// wire::ChangeKind, or one of the borrow kinds above) sets: its data
// (created, updated, released, new revision, lifecycle, removed: each
// carries the stored value after it, or none) or its borrow (borrowed,
// checked in, broken). kNone: a kind this build does not know.
enum class History : char { kNone = 0, kData = 'd', kBorrow = 'b' };
History historyOf(std::uint16_t kind);

// Whether an entry of kind `later` makes an earlier entry of kind
// `earlier`, of the same record, useless to any replica: applying the
// later one alone gives the same record or borrow. True for the same
// history, except an earlier broken borrow, from which the old holder's
// replica keeps its edit as a conflict copy. The server's log compaction
// and a replica's quarantine drop entries by this one rule.
bool supersedes(std::uint16_t later, std::uint16_t earlier);

}  // namespace sync

namespace protocol {

// --- errors on the wire ---------------------------------------------------

// The wire code of an ErrorCode, and back (sync::ErrorCode::UNKNOWN, or
// kProtocol for a code this build does not know).
sync::ErrorCode wireCode(ErrorCode code);
ErrorCode codeOf(sync::ErrorCode code);

// A hills::Error as a Cap'n Proto exception whose description carries the
// wire code ("hills error 18: <message>"), so the other side raises the
// same Error again whatever the message says.
kj::Exception toException(const Error& error);

// The Error a Cap'n Proto exception stands for: the code it carries, or
// kOffline for a lost connection, or kProtocol for anything else (the
// message says what the peer said).
Error toError(const kj::Exception& e);

// Whether `e` carries a hills error (toException's), as opposed to a lost
// connection, a timeout or anything else the RPC layer raised.
bool carriesError(const kj::Exception& e);

// Fills an Outcome: done at `sequence`, or refused with `error`.
void setOutcome(sync::Outcome::Builder out, std::uint64_t sequence,
                const std::optional<Error>& error);

// Raises the Error an Outcome stands for; nothing when it is not a refusal.
void check(sync::Outcome::Reader outcome);

// The ErrorCode of a refused Outcome; nullopt when it was done.
std::optional<ErrorCode> refusal(sync::Outcome::Reader outcome);

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

// --- keys and borrows on the wire --------------------------------------------

void setKey(sync::Key::Builder out, const OpaqueKey& key);
OpaqueKey keyOf(sync::Key::Reader key);

void setBorrow(sync::Borrow::Builder out, const BorrowInfo& borrow);
BorrowInfo borrowOf(sync::Borrow::Reader borrow);

// Nanoseconds since the Unix epoch, as the protocol and tables keep time.
std::int64_t toNanos(std::chrono::system_clock::time_point time);
std::chrono::system_clock::time_point fromNanos(std::int64_t nanos);

// A duration as kj's timers take it.
constexpr kj::Duration toKj(std::chrono::milliseconds ms) { return ms.count() * kj::MILLISECONDS; }

// How long a "discover:NAME" (hills/discovery.h) waits for its server's
// reply unless told otherwise: ClientOptions::discoveryTimeout's default,
// and the `hills` command's wait.
inline constexpr std::chrono::milliseconds kDiscoveryTimeout{1000};

// --- the _borrows table ----------------------------------------------------------

// Its name; a database that keeps it declares it through its write hook.
inline constexpr char kBorrowTable[] = "_borrows";

// A write hook that only declares the table, for a program that reads the
// borrows of a database it did not make (a tool, the viewer): put it in
// Options::hooks. It checks and changes nothing.
std::shared_ptr<WriteHook> borrowTableReader();

// The borrow of `key`; empty when nobody holds it. Throws Error(kCorrupt)
// for an entry that does not decode.
std::optional<BorrowInfo> findBorrow(const ReadTxn& txn, const OpaqueKey& key);

// Every borrow, by tree and key.
std::vector<BorrowInfo> listBorrows(const ReadTxn& txn);

// Stores the borrow `b` under its key.
void putBorrow(WriteTxn& txn, const BorrowInfo& b);

// Removes the borrow of `key`; false when there was none.
bool dropBorrow(WriteTxn& txn, const OpaqueKey& key);

}  // namespace protocol

}  // namespace hills
