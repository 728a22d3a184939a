#include "lmdb_util.h"

#include <cerrno>

namespace hills::detail {

void raiseLmdb(int rc, std::string_view what, std::string_view where) {
  ErrorCode code = ErrorCode::kStorage;
  switch (rc) {
    case MDB_NOTFOUND:
      code = ErrorCode::kNotFound;
      break;
    case MDB_KEYEXIST:
      code = ErrorCode::kAlreadyExists;
      break;
    case MDB_MAP_FULL:
      code = ErrorCode::kMapFull;
      break;
    case MDB_CORRUPTED:
    case MDB_PAGE_NOTFOUND:
    case MDB_INVALID:
    case MDB_VERSION_MISMATCH:
    case MDB_INCOMPATIBLE:
      code = ErrorCode::kCorrupt;
      break;
    case EACCES:
    case EROFS:
    case ENOSPC:
    case EIO:
    case ENOENT:
    case ENOTDIR:
    case EPERM:
    case ENOMEM:
    case EAGAIN:
      code = ErrorCode::kIo;
      break;
    default:
      break;
  }
  std::string msg(what);
  msg += ": ";
  msg += mdb_strerror(rc);
  if (!where.empty()) {
    msg += " (database ";
    msg += where;
    msg += ')';
  }
  throw Error(code, msg);
}

}  // namespace hills::detail
