// LMDB plumbing shared by the core: error translation and key encoding.
#pragma once

#include <lmdb.h>

#include <array>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <type_traits>

#include "hills/error.h"

namespace hills::detail {

// The one place where LMDB return codes become hills::Error. `what` says
// what was being done ("reading parts(4, 0)"), `where` the database path.
[[noreturn]] void raiseLmdb(int rc, std::string_view what, std::string_view where);

// `what` is a string, or a function that makes one: messages that name a
// key are only built when something failed.
template <class What>
void checkLmdb(int rc, What&& what, std::string_view where) {
  if (rc != MDB_SUCCESS) [[unlikely]] {
    if constexpr (std::is_invocable_v<What>) {
      raiseLmdb(rc, what(), where);
    } else {
      raiseLmdb(rc, what, where);
    }
  }
}

// Record keys: id u64 big-endian, revision u32 big-endian, 4 zero bytes, so
// LMDB's byte order sorts by id then revision and every key is 16 bytes.
constexpr std::size_t kKeySize = 16;
using KeyBytes = std::array<unsigned char, kKeySize>;

inline KeyBytes encodeKey(std::uint64_t id, std::uint32_t revision) {
  KeyBytes k{};
  for (int i = 0; i < 8; ++i) k[i] = static_cast<unsigned char>(id >> (56 - 8 * i));
  for (int i = 0; i < 4; ++i) k[8 + i] = static_cast<unsigned char>(revision >> (24 - 8 * i));
  return k;
}

inline void storeBigEndian64(void* p, std::uint64_t v) {
  v = __builtin_bswap64(v);
  std::memcpy(p, &v, sizeof(v));
}

inline std::uint64_t loadBigEndian64(const void* p) {
  std::uint64_t v;
  std::memcpy(&v, p, sizeof(v));
  return __builtin_bswap64(v);
}

// LMDB's key order for record trees: the same order as memcmp (so tools
// without it read the tables correctly), computed with two 64-bit loads
// instead of a memcmp call, which shows in every lookup.
int compareRecordKeys(const MDB_val* a, const MDB_val* b);

struct DecodedKey {
  std::uint64_t id;
  std::uint32_t revision;
};

// Returns false when `v` is not a 16-byte record key.
inline bool decodeKey(const MDB_val& v, DecodedKey& out) {
  if (v.mv_size != kKeySize) return false;
  auto* p = static_cast<const unsigned char*>(v.mv_data);
  std::uint64_t low = loadBigEndian64(p + 8);
  out = {loadBigEndian64(p), static_cast<std::uint32_t>(low >> 32)};
  return static_cast<std::uint32_t>(low) == 0;
}

inline MDB_val toVal(const KeyBytes& k) {
  return MDB_val{k.size(), const_cast<unsigned char*>(k.data())};
}

inline MDB_val toVal(std::string_view s) { return MDB_val{s.size(), const_cast<char*>(s.data())}; }

// A cursor closed when it goes out of scope. It never outlives the
// transaction it was opened in: it only exists inside core functions.
class Cursor {
 public:
  Cursor(MDB_txn* txn, MDB_dbi dbi, std::string_view where) {
    checkLmdb(mdb_cursor_open(txn, dbi, &cursor_), "opening a cursor", where);
  }
  ~Cursor() { mdb_cursor_close(cursor_); }
  Cursor(const Cursor&) = delete;
  Cursor& operator=(const Cursor&) = delete;

  MDB_cursor* get() const { return cursor_; }

 private:
  MDB_cursor* cursor_ = nullptr;
};

// Appends keys in order through one cursor that stays at the end of the
// table, so LMDB does not search the tree from its root for every append
// (what mdb_put does). It lives in one write transaction; LMDB frees its
// cursor when the transaction ends. Every other write to the table must
// call invalidate() first, so the next append finds the end again.
class Appender {
 public:
  // mdb_cursor_put(MDB_APPEND): MDB_KEYEXIST when the key does not sort
  // after the table's last key.
  int append(MDB_txn* txn, MDB_dbi dbi, MDB_val* key, MDB_val* value) {
    if (cursor_ == nullptr) {
      int rc = mdb_cursor_open(txn, dbi, &cursor_);
      if (rc != MDB_SUCCESS) return rc;
    }
    if (!atEnd_) {
      MDB_val k, v;
      int rc = mdb_cursor_get(cursor_, &k, &v, MDB_LAST);
      if (rc != MDB_SUCCESS && rc != MDB_NOTFOUND) return rc;
      atEnd_ = true;
    }
    int rc = mdb_cursor_put(cursor_, key, value, MDB_APPEND);
    if (rc != MDB_SUCCESS) atEnd_ = false;
    return rc;
  }
  void invalidate() { atEnd_ = false; }

 private:
  MDB_cursor* cursor_ = nullptr;
  bool atEnd_ = false;
};

}  // namespace hills::detail
