// How a database is opened.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "hills/tree_type.h"

namespace hills {
class Indexer;
class WriteHook;
}

namespace hills {

class WriteTxn;

// Ids from here up are never handed out by a database that owns its ids
// (Options::IdSource::kOwn): it creates records and grants ranges only
// below, and records stored with ids up here (taken from such a database's
// changes or values) do not move its own allocation up. They are for
// ranges claimed elsewhere: a database that cannot reach the one that owns
// its ids yet may pick a block up here at random, add it with
// GenericTree::addIdRange and create from it at once; the owner of the ids
// later decides whether the claim stands. A quarter of the id space stays
// below for the owner (2^62 ids per tree).
inline constexpr std::uint64_t kClaimableIds = std::uint64_t{1} << 62;

// A user migration: runs inside one write transaction when the database's
// stored schema version is below `toVersion`. Every migration with
// `toVersion` in (stored version, Options::schemaVersion] runs, in ascending
// order, all in one transaction with the version bump; if one throws, none
// of their changes is kept (the trees and schemas the open itself created
// stay). Like any write() function, `run` may run again from the start when
// the map has to grow, so it must not have effects outside the transaction.
struct Migration {
  std::uint32_t toVersion = 0;
  std::function<void(WriteTxn&)> run;
};

struct Options {
  // The record types this program uses: hills::treeTypes<Part, Bom, ...>().
  // Their trees are created when absent, and their compiled schemas are
  // checked against the stored ones at open. Generic tools pass none and
  // use the schemas stored in the database.
  std::vector<TreeType> trees;

  // Size of the memory map when the database is created. The map grows by
  // itself (doubling, at most 1 GiB a step) when a write finds it full.
  std::size_t initialMapSize = std::size_t{64} << 20;

  // Upper bound for map growth; 0 means no bound. A write that needs more
  // fails with ErrorCode::kMapFull and changes nothing.
  std::size_t maxMapSize = 0;

  // Read transactions that may be open at once across all processes.
  unsigned maxReaders = 126;

  // Trees (plus hills' internal tables and user index tables) the database
  // can hold.
  unsigned maxTables = 256;

  // true: every committed write is on disk when write() returns (fsync).
  // false: commits are not flushed. A crash of the process loses nothing;
  // a crash of the operating system or a power loss may lose the last
  // commits and, on a file system that reorders writes, damage the
  // database. Keep true unless the data can be rebuilt.
  bool durable = true;

  // Open for reading only, alongside a process that writes (the viewer).
  bool readOnly = false;

  // Recorded as the author of the records this process creates and changes.
  std::string author;

  // Where the ids of new records come from.
  //   kOwn:    the database hands them out itself (and may grant ranges to
  //            other databases, GenericTree::grantIds), below kClaimableIds;
  //   kRanges: only from ranges granted by another database and added with
  //            GenericTree::addIdRange, in the order they were added;
  //            creates fail with Error(kNoIds) when they run out.
  // Once a database has been opened with kRanges it stays so, whatever a
  // later open asks, so it never mints ids its grantor may hand out too.
  enum class IdSource : std::uint8_t { kOwn, kRanges };
  IdSource ids = IdSource::kOwn;

  // Keep a change log (_log): every committed change in order, with its
  // stored value, readable with ReadTxn::changes(): what other databases
  // follow (GenericTree::applyChange). Once on for a database, it stays on
  // (a log must have no holes).
  bool changeLog = false;

  // Write hooks (hills/write_hook.h), called in this order inside every
  // write transaction, for every mutation; their internal tables are opened
  // with the database.
  std::vector<std::shared_ptr<WriteHook>> hooks;

  // Secondary indexes kept with the records (hills/index.h). Each runs in
  // every write transaction that changes its tree; a missing or stale one
  // (another version()) is rebuilt at open.
  std::vector<std::shared_ptr<Indexer>> indexers;

  // Called while an index is rebuilt at open: index name, records done,
  // records in all.
  std::function<void(std::string_view index, std::uint64_t done, std::uint64_t total)>
      indexProgress;

  // The application's own schema version and the migrations that lead to it.
  // Opening a database whose stored version is greater fails with
  // ErrorCode::kSchemaVersion: an older program must not rewrite newer data.
  std::uint32_t schemaVersion = 0;
  std::vector<Migration> migrations;
};

}  // namespace hills
