// An embedded database of typed trees, stored in one LMDB environment.
#pragma once

#include <kj/function.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "hills/error.h"
#include "hills/options.h"
#include "hills/tree.h"
#include "hills/txn.h"

namespace hills {

namespace detail {
struct DatabaseImpl;

// Cap'n Proto readers point into the transaction's memory map: returning one
// from read()/write() would leave it dangling.
template <class R>
    struct IsCapnpReader : std::bool_constant < requires {
  typename R::Reads;
} > {};
template <class R>
struct IsCapnpReader<std::optional<R>> : IsCapnpReader<R> {};
}  // namespace detail

// A tree as the database stores it.
struct TreeInfo {
  std::string name;
  bool versioned = true;
  std::uint64_t typeId = 0;   // Cap'n Proto id of the record struct
  bool compiled = false;      // declared by this program in Options::trees
  std::uint64_t records = 0;  // all revisions counted
};

struct DatabaseStats {
  std::size_t mapSize = 0;           // bytes currently mapped
  std::size_t mapUsed = 0;           // bytes of the map in use
  std::uint64_t mapGrowths = 0;      // times this process grew the map
  std::uint64_t unalignedReads = 0;  // values that had to be copied to be read (expected: 0)
};

// An open database. Thread-safe: any number of threads may run read() at
// once; write() calls are serialised (across processes too). Move-only.
class Database {
 public:
  // Opens the database in the directory `path`, creating the directory and
  // the database when absent. Creates the trees of options.trees that are
  // missing, stores their schemas, checks each against the stored schema and
  // runs options.migrations. Clears reader slots left by dead processes.
  //
  // Throws Error with:
  //   kAlreadyOpen     this process has that database open already;
  //   kIo              the directory cannot be created, read or written;
  //   kSchemaMismatch  a compiled type changed a stored field's type (the
  //                    message names the type and the field);
  //   kSchemaVersion   the stored schema version is newer than
  //                    options.schemaVersion, or a migration is missing;
  //   kCorrupt         the directory holds something that is not a hills
  //                    database, or a damaged one.
  explicit Database(const std::string& path, Options options = {});
  ~Database();
  Database(Database&&) noexcept;
  Database& operator=(Database&&) noexcept;

  // Runs fn(const ReadTxn&) in a read transaction (a consistent snapshot)
  // and returns what fn returns. Readers obtained inside are valid only
  // there; returning one does not compile. Errors thrown by fn pass through.
  template <class F>
  auto read(F&& fn) const {
    using R = std::invoke_result_t<F&, const ReadTxn&>;
    static_assert(!detail::IsCapnpReader<std::decay_t<R>>::value,
                  "a Reader must not escape its transaction: return an owned copy");
    if constexpr (std::is_void_v<R>) {
      runRead([&](const ReadTxn& txn) { fn(txn); });
    } else {
      std::optional<R> out;
      runRead([&](const ReadTxn& txn) { out.emplace(fn(txn)); });
      return std::move(*out);
    }
  }

  // Runs fn(WriteTxn&) in a write transaction and commits it when fn
  // returns; when fn throws, nothing of it is kept and the exception passes
  // through. When the map is full, hills aborts, grows the map and runs fn
  // again from the start, so fn must not have effects outside the
  // transaction that cannot be repeated. Returns what fn returns. Blocks
  // while another write transaction runs. Must not be called from inside
  // read() or write() on the same thread.
  template <class F>
  auto write(F&& fn) {
    using R = std::invoke_result_t<F&, WriteTxn&>;
    static_assert(!detail::IsCapnpReader<std::decay_t<R>>::value,
                  "a Reader must not escape its transaction: return an owned copy");
    if constexpr (std::is_void_v<R>) {
      runWrite([&](WriteTxn& txn) { fn(txn); });
    } else {
      std::optional<R> out;
      runWrite([&](WriteTxn& txn) { out.emplace(fn(txn)); });
      return std::move(*out);
    }
  }

  // The trees the database holds, by name.
  std::vector<TreeInfo> trees() const;

  // The stored schema of a tree, complete enough to decode its records with
  // Cap'n Proto's dynamic API. Throws kUnknownTree.
  capnp::StructSchema storedSchema(std::string_view tree) const;

  // The 128-bit identity of this database, made when it was created, as 32
  // hex digits.
  std::string uuid() const;

  // The directory of the database.
  const std::string& path() const;

  DatabaseStats stats() const;

 private:
  void migrate();
  void runRead(kj::FunctionParam<void(const ReadTxn&)> fn) const;
  void runWrite(kj::FunctionParam<void(WriteTxn&)> fn);

  std::unique_ptr<detail::DatabaseImpl> impl_;
};

}  // namespace hills
