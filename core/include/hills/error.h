// The one exception type of hills.
#pragma once

#include <stdexcept>
#include <string>
#include <string_view>

namespace hills {

enum class ErrorCode {
  kNotFound,         // the key names no record
  kAlreadyExists,    // a record with that key exists already
  kWrongTree,        // a key of one tree reached another tree
  kReleased,         // the record is released: its data is frozen
  kNotReleased,      // the operation needs a released record
  kUnversioned,      // the tree keeps one revision per id: no release, no new revision
  kNotLatest,        // a new revision must start from the newest revision of an id
  kCorrupt,          // a stored value could not be decoded
  kSchemaMismatch,   // stored and compiled schemas are incompatible
  kSchemaVersion,    // the database needs a migration this program does not have
  kUnknownTree,      // the tree is neither declared by this program nor stored
  kNoIds,            // the id ranges of a tree are used up
  kMapFull,          // the map reached Options::maxMapSize
  kAlreadyOpen,      // this process has the database open already
  kIo,               // the operating system refused (permissions, disk full...)
  kInvalidArgument,  // the caller passed something that cannot work
  kStorage,          // any other LMDB error
  // The codes below are raised by the parts of hills built on the core
  // (sync client and server): one Error type serves every part.
  kBorrowed,         // the record is checked out to someone else (the message names who)
  kNotBorrowed,      // editing the record needs it checked out to the caller
  kStaleBorrow,      // a check-in came under a check-out that was broken since
  kDenied,           // the caller was refused: bad credentials or no permission
  kOffline,          // the call needs a peer that is not reachable now
  kWrongServer,      // the peer is not the one this database is bound to
  kProtocol,         // a peer sent something that is not the hills protocol
};

// Names the code ("not found", "released"...).
std::string_view toString(ErrorCode code);

// Thrown by every hills call that fails. what() says what failed and names
// the database, tree and key involved. Expected outcomes (a key that may be
// absent) are values (std::optional), not exceptions.
class Error : public std::runtime_error {
 public:
  Error(ErrorCode code, const std::string& message) : std::runtime_error(message), code_(code) {}

  ErrorCode code() const noexcept { return code_; }

 private:
  ErrorCode code_;
};

}  // namespace hills
