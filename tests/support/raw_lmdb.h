// A closed hills database opened through LMDB itself, for what hills'
// own calls never do: read its tables as stored, or write bytes into them
// that hills would refuse (a corrupt value, a log entry of another
// server's).
#pragma once

#include <lmdb.h>

#include <catch2/catch.hpp>
#include <string>
#include <type_traits>
#include <utility>

namespace hills::test {

// Runs fn(txn, dbi) on table `table` (opened with mdb_dbi_open's `flags`;
// it must exist) of the closed database in `dir`. With `write`, in a
// write transaction committed after fn; else in a read-only environment
// and transaction, aborted after it. Returns what fn returns.
template <class F>
auto withRawTable(const std::string& dir, const char* table, bool write, F&& fn,
                  unsigned flags = 0) {
  struct Env {
    MDB_env* env = nullptr;
    MDB_txn* txn = nullptr;
    ~Env() {
      if (txn) mdb_txn_abort(txn);
      if (env) mdb_env_close(env);
    }
  } raw;
  REQUIRE(mdb_env_create(&raw.env) == 0);
  REQUIRE(mdb_env_set_maxdbs(raw.env, 64) == 0);
  REQUIRE(mdb_env_open(raw.env, dir.c_str(), write ? 0 : MDB_RDONLY, 0664) == 0);
  REQUIRE(mdb_txn_begin(raw.env, nullptr, write ? 0 : MDB_RDONLY, &raw.txn) == 0);
  MDB_dbi dbi;
  REQUIRE(mdb_dbi_open(raw.txn, table, flags, &dbi) == 0);
  if constexpr (std::is_void_v<decltype(fn(raw.txn, dbi))>) {
    fn(raw.txn, dbi);
    if (write) REQUIRE(mdb_txn_commit(std::exchange(raw.txn, nullptr)) == 0);
  } else {
    auto out = fn(raw.txn, dbi);
    if (write) REQUIRE(mdb_txn_commit(std::exchange(raw.txn, nullptr)) == 0);
    return out;
  }
}

// Whether LMDB knows a table named `table` in the closed database in
// `dir`, asked without creating it.
inline bool rawHasTable(const std::string& dir, const char* table) {
  MDB_env* env = nullptr;
  REQUIRE(mdb_env_create(&env) == 0);
  mdb_env_set_maxdbs(env, 64);
  int rc = mdb_env_open(env, dir.c_str(), MDB_RDONLY, 0664);
  MDB_txn* txn = nullptr;
  if (rc == 0) rc = mdb_txn_begin(env, nullptr, MDB_RDONLY, &txn);
  MDB_dbi dbi;
  if (rc == 0) {
    rc = mdb_dbi_open(txn, table, 0, &dbi);
    mdb_txn_abort(txn);
  }
  mdb_env_close(env);
  REQUIRE((rc == 0 || rc == MDB_NOTFOUND));
  return rc == 0;
}

}  // namespace hills::test
