// Compaction of the server's change log. A replica converges from any
// cursor as long as the log keeps, for every record, its newest entry
// about the record's data (created, updated, released... removed) and its
// newest entry about the record's borrow (borrowed, checked in): each
// carries the whole state it sets. An older entry of the same record and
// kind is superseded: once it is older than the retention, it is dropped.
// Entries about a broken borrow are never dropped (the old holder's
// replica keeps its edit as a conflict copy from it), nor are entries of
// kinds this server does not know.
//
// The server keeps two tables for it beside the log: _logHeads, the newest
// entry of every record and stream, and _superseded, the entries a newer
// one made useless, queued by sequence until they are old enough. A
// property (logIndexed) says how far the log has been read into them, so
// compaction goes on where it stopped after a restart, and a database made
// before compaction existed is read from its first entry.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "hills/txn.h"

namespace hills::server {

// The tables compaction keeps (declared by the authority's hook).
std::vector<std::string> compactionTables();

// The sequence up to which the log has been read into those tables (0: not
// yet). Throws Error(kCorrupt) when the property is not a number.
std::uint64_t logIndexed(const ReadTxn& txn);

// What one step did.
struct CompactionStep {
  std::uint64_t indexed = 0;  // entries read into _logHeads
  std::uint64_t dropped = 0;  // entries dropped from the log
  bool more = false;          // work is left that another step can do now
};

// One bounded step in the caller's write transaction of the server's
// database: reads at most `limit` entries not read yet into the tables,
// then drops at most `limit` superseded entries whose time is before
// `cutoff` (nanoseconds since the Unix epoch). Throws Error(kCorrupt) for
// an entry that does not decode (the transaction then changes nothing of
// the log), and the storage errors of a write.
CompactionStep compactLog(WriteTxn& txn, std::int64_t cutoff, std::size_t limit);

}  // namespace hills::server
