// The change log (_log): every committed change, in order, with the stored
// value, for a sync server to hand out from a sequence number on.
#pragma once

#include <capnp/common.h>
#include <kj/common.h>
#include <lmdb.h>

#include <cstdint>
#include <string_view>

#include "hills/events.h"

namespace hills::detail {

struct DatabaseImpl;
struct TreeState;
struct TxnState;

struct ChangeLogState {
  bool open = false;
  MDB_dbi dbi = 0;
};

// Opens (creating it) the _log table when the database keeps a change log:
// once Options::changeLog turned it on, it stays on for that database.
void openChangeLog(DatabaseImpl& db, MDB_txn* txn);

// Appends one change in the writing transaction.
void appendChange(TxnState& t, const TreeState& tree, EventKind kind, std::uint64_t id,
                  std::uint32_t revision, kj::ArrayPtr<const capnp::word> value,
                  std::string_view origin);

}  // namespace hills::detail
