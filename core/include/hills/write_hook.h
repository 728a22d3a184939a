// Write hooks: how a layer above the core (a replication engine, an audit
// trail, access rules) plugs into every write of a database, in the same
// spirit as indexers (hills/index.h).
//
// A hook is registered in Options::hooks. hills calls it inside the write
// transaction of every mutation, local or applied from another database:
// check() may refuse the mutation before anything is written; stored() may
// write the hook's own internal tables (hills/table.h) after the record is
// stored, in the same transaction. A hook may also add entries of its own
// kinds to the change log (GenericTree::recordEntry) and apply such
// entries when they arrive from another database (applyEntry).
#pragma once

#include <kj/common.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "hills/events.h"
#include "hills/txn.h"

namespace hills {

// One mutation of one record, as a write hook sees it.
struct Mutation {
  EventKind kind = EventKind::kCreated;  // one of hills' own kinds
  std::string_view tree;
  std::uint64_t id = 0;
  std::uint32_t revision = 0;
  // The record as it was: null for a create and a new revision. A copy,
  // readable during the call whatever the transaction writes.
  const StoredRecord* before = nullptr;
  // The record as it is becoming: null for a removal. Readable during the
  // call.
  const StoredRecord* after = nullptr;
  // Who made it: empty for this database's own changes; the origin given
  // to applyChange, adopt or WriteTxn::setOrigin otherwise.
  std::string_view origin;
  // The change came from another database (GenericTree::applyChange or
  // adopt): that database decided it, and hills' own rules for local edits
  // (drafts only, ...) were not applied.
  bool applied = false;
  // Applied over a value of this database that the origin had not seen
  // (see GenericTree::applyChange): `before` is that value, now replaced.
  bool concurrent = false;

  bool local() const { return !applied; }
};

// The hook interface. Every member has a default that does nothing, so a
// hook overrides what it needs. Hooks run in the order of Options::hooks,
// on the thread that writes, and may run more than once for one change
// (write() runs its function again after growing a full map), so they must
// keep no state outside the transaction, or state they can set again; a
// kMapFull error escaping them is such a retry.
class WriteHook {
 public:
  virtual ~WriteHook() = default;

  // The internal tables the hook keeps, opened (and created, unless the
  // database is read-only) when the database opens: names that start with
  // '_', other than hills' own (_meta, _log, _index:...).
  virtual std::vector<std::string> tables() const { return {}; }

  // Called before a mutation is written: the record exists and the new
  // value is built, and hills' rules for the operation (drafts only, a new
  // revision from the newest released one...) are checked next, so a hook
  // that refuses the operation as a whole is heard first. Throwing an Error
  // refuses it: nothing of the mutation is written, so a caller that
  // catches may go on and commit. Must not write.
  virtual void check(WriteTxn& txn, const Mutation& mutation) {}

  // Called when a record of `tree` is to be created here, before it takes
  // an id (so a hook that refuses creates in a tree is heard before the
  // tree runs out of ids). Throwing an Error refuses the create; nothing
  // is written. check() is called as well, once the value is built.
  virtual void checkCreate(WriteTxn& txn, std::string_view tree) {}

  // Called after the mutation is written, in the same transaction. May
  // read and write the hook's tables and the database. If it throws, the
  // whole transaction fails (write() throws even when its function caught
  // the error), since the record is stored already.
  virtual void stored(WriteTxn& txn, const Mutation& mutation) {}

  // For a change applied beside a value of this database (`concurrent`:
  // see GenericTree::applyChange): true keeps this database's value and
  // skips the change (no event, no log entry), as a database whose own
  // record is the truth does. Called before check(); nothing is written yet.
  virtual bool keepOwn(WriteTxn& txn, const Mutation& mutation) { return false; }

  // Applies a change-log entry of a kind at or above kFirstHookKind that
  // arrived from another database (GenericTree::applyChange). Returns true
  // when it took the entry: hills then records it in this database's own
  // log and yields its event. false: not this hook's kind, or applied
  // already; the next hook is asked, and an entry no hook takes is skipped.
  virtual bool applyEntry(WriteTxn& txn, wire::Change::Reader entry, std::string_view origin) {
    return false;
  }
};

}  // namespace hills
