#include "hills/error.h"

namespace hills {

std::string_view toString(ErrorCode code) {
  switch (code) {
    case ErrorCode::kNotFound:
      return "not found";
    case ErrorCode::kAlreadyExists:
      return "already exists";
    case ErrorCode::kWrongTree:
      return "wrong tree";
    case ErrorCode::kReleased:
      return "released";
    case ErrorCode::kNotReleased:
      return "not released";
    case ErrorCode::kUnversioned:
      return "unversioned";
    case ErrorCode::kNotLatest:
      return "not the latest revision";
    case ErrorCode::kCorrupt:
      return "corrupt";
    case ErrorCode::kSchemaMismatch:
      return "schema mismatch";
    case ErrorCode::kSchemaVersion:
      return "schema version";
    case ErrorCode::kUnknownTree:
      return "unknown tree";
    case ErrorCode::kNoIds:
      return "no ids left";
    case ErrorCode::kMapFull:
      return "map full";
    case ErrorCode::kAlreadyOpen:
      return "already open";
    case ErrorCode::kIo:
      return "i/o";
    case ErrorCode::kInvalidArgument:
      return "invalid argument";
    case ErrorCode::kStorage:
      return "storage";
    case ErrorCode::kBorrowed:
      return "borrowed";
    case ErrorCode::kNotBorrowed:
      return "not borrowed";
    case ErrorCode::kStaleBorrow:
      return "stale borrow";
    case ErrorCode::kDenied:
      return "denied";
    case ErrorCode::kOffline:
      return "offline";
    case ErrorCode::kWrongServer:
      return "wrong server";
    case ErrorCode::kProtocol:
      return "protocol";
  }
  return "unknown";
}

}  // namespace hills
