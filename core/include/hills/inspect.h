// What tools need to look beneath the records: every table of a database as
// LMDB keeps it (sizes, raw entries), for inspection, verification and
// export by programs that have no compiled types and none of the hooks or
// indexers that made the tables (the `hills` command). Applications do not
// need this header.
#pragma once

#include <kj/common.h>
#include <kj/function.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "hills/error.h"
#include "hills/txn.h"

namespace hills {

// One table of the database as LMDB's mdb_stat describes it.
struct TableStat {
  std::string name;               // a tree's name, or _meta, _log, _index:<name>, a hook's table
  std::uint64_t entries = 0;      // key-value pairs (every duplicate of an index counted)
  std::uint64_t pages = 0;        // branch, leaf and overflow pages
  std::uint64_t bytes = 0;        // pages times the page size
  std::uint32_t depth = 0;        // of its B-tree
  bool duplicates = false;        // sorted duplicates (index tables)
};

// Every table the database holds, in name order, whether or not this
// process declared the trees, hooks or indexers that made it, as the
// transaction sees it. Tables another process created after this one
// opened the database are not listed, nor tables beyond Options::maxTables
// handles (the program's own are opened first). Throws Error(kStorage) when LMDB
// fails.
std::vector<TableStat> tableStats(const ReadTxn& txn);

// Calls fn(key, value) for every entry of the table `name` (one of
// tableStats()'s names; every duplicate of an index table), in LMDB's
// order, from the first key at or after `from` (empty: the first), until fn
// returns false. The bytes lie in the memory map and are valid during the
// call. Throws Error(kInvalidArgument) for a table the database does not
// hold, Error(kStorage) when LMDB fails.
void scanTable(const ReadTxn& txn, std::string_view name, std::string_view from,
               kj::FunctionParam<bool(kj::ArrayPtr<const kj::byte> key,
                                      kj::ArrayPtr<const kj::byte> value)>
                   fn);

// One entry of a tree's table, as scanTree passes it.
struct TreeEntry {
  kj::ArrayPtr<const kj::byte> key;    // as LMDB holds them, in the map
  kj::ArrayPtr<const kj::byte> value;
  // The record, when the key is a record key, the value a whole number of
  // 8-byte words and its envelope decodes; null otherwise, and `error`
  // (kCorrupt) says which of these it is not.
  const StoredRecord* record = nullptr;
  const Error* error = nullptr;
};

// Calls fn for every entry of the tree's table in key order, until fn
// returns false: GenericTreeView::scan's records, and the entries that are
// not records too (which stop a scan), for tools that verify a database.
// Entries are valid during the call only; nothing is allocated per record.
// Throws Error(kStorage) when LMDB fails.
void scanTree(const GenericTreeView& tree, kj::FunctionParam<bool(const TreeEntry& entry)> fn);

}  // namespace hills
