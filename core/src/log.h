// The change log (_log): every committed change, in order, with the stored
// value, for other databases to follow from a sequence number on.
#pragma once

#include <capnp/common.h>
#include <kj/common.h>
#include <lmdb.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "hills/events.h"
#include "hills/record.capnp.h"

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

// The event kind of a change-log entry's kind (the two enums share their
// order).
EventKind eventKind(wire::ChangeKind kind);

// What a committed change says beyond its record: who made it and, for a
// write hook's kinds, what the hook says (wire::Change.note and .number).
struct ChangeNote {
  std::string_view origin;  // empty: the transaction's origin
  std::string_view note;
  std::uint64_t number = 0;
};

// Records a stored change: in the change log when the database keeps one,
// and as an event for delivery after commit when anyone listens. `value` is
// what was stored (empty for a removal; for a hook's kind, what the hook
// gave).
void recordChange(TxnState& t, const TreeState& tree, EventKind kind, std::uint64_t id,
                  std::uint32_t revision, std::uint32_t dataIteration, std::uint32_t metaIteration,
                  kj::ArrayPtr<const capnp::word> value, std::vector<std::string> changed = {},
                  const ChangeNote& note = {});

}  // namespace hills::detail
