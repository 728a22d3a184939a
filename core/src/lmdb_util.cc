#include "lmdb_util.h"

#include <algorithm>
#include <cerrno>

namespace hills::detail {

int compareRecordKeys(const MDB_val* a, const MDB_val* b) {
  if (a->mv_size == kKeySize && b->mv_size == kKeySize) {
    for (std::size_t off = 0; off < kKeySize; off += 8) {
      std::uint64_t x = loadBigEndian64(static_cast<const char*>(a->mv_data) + off);
      std::uint64_t y = loadBigEndian64(static_cast<const char*>(b->mv_data) + off);
      if (x != y) return x < y ? -1 : 1;
    }
    return 0;
  }
  // A key of another size (not written by hills): memcmp order, shorter first on ties.
  std::size_t n = std::min(a->mv_size, b->mv_size);
  int c = std::memcmp(a->mv_data, b->mv_data, n);
  if (c != 0) return c;
  return a->mv_size < b->mv_size ? -1 : a->mv_size > b->mv_size ? 1 : 0;
}

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
