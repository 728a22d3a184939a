// LMDB plumbing shared by the core: error translation and key encoding.
#pragma once

#include <lmdb.h>

#include <array>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "hills/error.h"

namespace hills::detail {

// The one place where LMDB return codes become hills::Error. `what` says
// what was being done ("reading parts(4, 0)"), `where` the database path.
[[noreturn]] void raiseLmdb(int rc, std::string_view what, std::string_view where);

inline void checkLmdb(int rc, std::string_view what, std::string_view where) {
  if (rc != MDB_SUCCESS) raiseLmdb(rc, what, where);
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

struct DecodedKey {
  std::uint64_t id;
  std::uint32_t revision;
};

// Returns false when `v` is not a 16-byte record key.
inline bool decodeKey(const MDB_val& v, DecodedKey& out) {
  if (v.mv_size != kKeySize) return false;
  auto* p = static_cast<const unsigned char*>(v.mv_data);
  std::uint64_t id = 0;
  std::uint32_t rev = 0;
  for (int i = 0; i < 8; ++i) id = (id << 8) | p[i];
  for (int i = 0; i < 4; ++i) rev = (rev << 8) | p[8 + i];
  out = {id, rev};
  return p[12] == 0 && p[13] == 0 && p[14] == 0 && p[15] == 0;
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

}  // namespace hills::detail
