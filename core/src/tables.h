// Opening the internal tables of write hooks.
#pragma once

#include <lmdb.h>

namespace hills::detail {

struct DatabaseImpl;

// The _meta key that marks a database that takes its ids from ranges only
// (Options::IdSource::kRanges); its name predates the option.
inline constexpr char kRangesOnlyKey[] = "serverIds";

// Opens (creating them unless read-only) the tables of Options::hooks.
// Throws kInvalidArgument for a name that is not a hook's to take.
void openHookTables(DatabaseImpl& db, MDB_txn* txn);

// Opens every other table the environment holds (for hills/inspect.h), and
// notes the handle of each; defined in inspect.cc.
void openAllTables(DatabaseImpl& db, MDB_txn* txn);

}  // namespace hills::detail
