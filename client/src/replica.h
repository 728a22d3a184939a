// The replica's rules: what a sync client's database keeps beside its trees
// (_borrows, its mirror of the server's; _outbox; _conflicts; its cursor in
// the server's log, the server it is pinned to, and the ids it claimed
// before it first reached that server) and the write hook that enforces
// them: edits need a borrow this client holds, release, new revision and
// lifecycle go through the server, a record created here waits in the
// outbox, and an edit the server did not take is kept as a conflict copy.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "hills/client.h"
#include "hills/protocol.h"
#include "hills/sync_tables.capnp.h"
#include "hills/write_hook.h"

namespace hills::client {

// The outbox table: local changes the server has not acknowledged, by record key.
inline constexpr char kOutbox[] = "_outbox";

// A block of ids of one tree that a replica claimed in the claimable region
// (hills::kClaimableIds up) before it had ever reached its server, and
// creates from until the server answers.
struct IdClaim {
  std::string tree;
  std::uint64_t start = 0;
  std::uint64_t end = 0;  // one past the last id
};

// Id ranges as [first, end) pairs, in the order they are used.
using IdRanges = std::vector<std::pair<std::uint64_t, std::uint64_t>>;

class Replica final : public WriteHook {
 public:
  // `name`: the client's, which is also the author of its records.
  // `replicate`: the trees it follows (ClientOptions::replicate); empty:
  // every tree.
  explicit Replica(std::string name, std::vector<std::string> replicate = {})
      : name_(std::move(name)), replicate_(std::move(replicate)) {}

  const std::string& name() const { return name_; }

  // Whether the replica follows `tree`: local writes to another tree are
  // refused (Error(kWrongTree) naming it).
  bool replicates(std::string_view tree) const;
  // Throws Error(kWrongTree) when this replica does not follow `tree`:
  // `what` ("a record", a key) of it cannot be written.
  void requireReplicated(std::string_view tree, const std::string& what) const;
  // ClientOptions::replicate; empty: every tree.
  const std::vector<std::string>& replicated() const { return replicate_; }

  // --- the trees it follows, across opens (partial.cc) ---

  // Compares the trees the replica followed when it was last open with
  // replicated(), in the caller's transaction, and stores them. A replica
  // that has followed its server's log gets the trees it did not follow
  // before (trees of `known` for a replica that now follows every tree)
  // queued for a snapshot of their own (adding()). Throws
  // Error(kInvalidArgument) naming them when it follows fewer trees than
  // before: their records here would go stale.
  void followTrees(WriteTxn& txn, const std::vector<std::string>& known);
  // Trees added to the replica whose snapshot has not been stored yet.
  std::vector<std::string> adding(const ReadTxn& txn) const;
  // The added trees' snapshot is being stored, from `sequence`: the log's
  // entries of those trees up to it are left out from now on (the
  // first snapshot's sequence stays when a second one is needed).
  void startAdding(WriteTxn& txn, std::uint64_t sequence);
  // The added trees' snapshot is stored: they are followed as the others.
  void doneAdding(WriteTxn& txn);
  // The trees added to a replica that had followed the log, and the
  // sequence of the snapshot their records came from: the log's entries of
  // such a tree up to it are to be left out.
  std::map<std::string, std::uint64_t, std::less<>> treeSnapshots(const ReadTxn& txn) const;

  // Called after each commit that put entries in the outbox, on the
  // committing thread; set before the database opens. Must not throw.
  void setOnOutbox(std::function<void()> fn) { onOutbox_ = std::move(fn); }

  // --- the write hook ---
  std::vector<std::string> tables() const override;
  void check(WriteTxn& txn, const Mutation& m) override;
  void checkCreate(WriteTxn& txn, std::string_view tree) override;
  void stored(WriteTxn& txn, const Mutation& m) override;
  bool applyEntry(WriteTxn& txn, wire::Change::Reader entry, std::string_view origin) override;

  // --- reading ---

  // The outbox: local changes the server has not acknowledged, by tree and
  // key; at most `limit` of them.
  std::vector<OutboxItem> outbox(const ReadTxn& txn, std::size_t limit = SIZE_MAX) const;
  // Whether the outbox holds an entry of `key`.
  bool queued(const ReadTxn& txn, const OpaqueKey& key) const;
  // How many entries the outbox holds (without reading them).
  std::size_t outboxLength(const ReadTxn& txn) const;
  // Conflict copies, oldest first within each record.
  std::vector<ConflictCopy> conflicts(const ReadTxn& txn) const;
  // The sequence number of the last server change applied here (0: none).
  std::uint64_t cursor(const ReadTxn& txn) const;
  // The uuid of the server this replica belongs to; empty before first contact.
  std::string pinnedServer(const ReadTxn& txn) const;

  // --- writing ---

  // Queues the check-in of a record this replica holds: the record as it
  // is when the outbox is pushed. Until the server acknowledges it the
  // record cannot be edited here (unless `keepBorrow`). Throws kNotBorrowed
  // when this replica does not hold the borrow.
  void queueCheckIn(WriteTxn& txn, const OpaqueKey& key, bool keepBorrow);

  // Marks outbox entries as pushed, in memory (a push needs no commit of
  // its own): a pushed create can no longer be edited here (the server
  // stores it checked in). A mark names one entry as queued (its serial
  // number), and the marks of a transaction that does not commit are
  // undone, so a mark never outlives or precedes what it marks. After a
  // reopen nothing is marked; pushing the same bytes again is harmless.
  void markSent(WriteTxn& txn, const std::vector<OutboxItem>& items);

  // Drops an outbox entry the server has answered, unless it was queued
  // again since `item` was read. `refusal` non-empty: the server refused
  // it; a refused create keeps the record as a conflict copy naming the
  // reason. Returns whether the entry was dropped.
  bool settle(WriteTxn& txn, const OutboxItem& item, std::string_view refusal = {});

  // Notes the server's answer to a pushed entry, in memory: from now on
  // outbox() leaves the entry out, so it is not pushed again; it stays in
  // the table (outboxLength(), queued()) until settleAnswered() settles
  // it. An answer lost before that (a crash) leaves the entry to be pushed
  // again, which the server recognises (the record it holds already, a
  // check-in it stored).
  void answered(const OutboxItem& item, std::string refusal);
  // Settles every answered entry in `txn` (the commit that applies the
  // server's next batch, as a rule); the answers leave memory when it
  // commits. Returns how many entries it dropped from the table.
  std::size_t settleAnswered(WriteTxn& txn);
  // Whether answers wait for settleAnswered().
  bool hasAnswers() const;
  // Settles the create entry of the record `change` names when `change`,
  // a server change applied in `txn`, is that very create come back (a
  // create, or the update a create pushed again with later edits makes,
  // made here, of this value): the server holds it, answer or not. Without this an
  // answer lost with a restart would leave the create editable, and
  // removable, here as if never pushed. A create edited here since still
  // waits for its answer or its push. Returns whether an entry was dropped.
  bool settleReturned(WriteTxn& txn, wire::Change::Reader change);

  // Drops the conflict copies of one record.
  void dropConflict(WriteTxn& txn, const OpaqueKey& key);

  // Stores the replica's position in its server's change log, in the
  // transaction that applied the entries up to it.
  void setCursor(WriteTxn& txn, std::uint64_t sequence);

  // Pins the replica to the server `uuid` at first contact. Throws
  // Error(kWrongServer) naming both when it is pinned to another server.
  // With a TLS `certificate` (PEM) and its `fingerprint` (both empty over
  // plain TCP or with a CA), pins them too, in the same transaction: from
  // then on the client talks only to a server that presents it.
  void pin(WriteTxn& txn, std::string_view uuid, std::string_view certificate = {},
           std::string_view fingerprint = {});

  // The fingerprint of the server certificate pinned; empty: none.
  std::string pinnedFingerprint(const ReadTxn& txn) const;

  // --- ids claimed before the first contact (claims.cc) ---

  // Whether `tree` is to get a claim: the replica was never pinned to a
  // server, has no claim for the tree and no ids of it.
  bool mayClaim(const ReadTxn& txn, std::string_view tree) const;

  // Claims [start, end) of `tree`: adds the block to the tree's ranges, so
  // records are created from it at once, and stores the claim, so a
  // restart asks the server about the same block. Throws what
  // GenericTree::addIdRange throws.
  void claim(WriteTxn& txn, std::string_view tree, std::uint64_t start, std::uint64_t end);

  // The claims of `trees` the server has not answered yet.
  std::vector<IdClaim> pendingClaims(const ReadTxn& txn,
                                     const std::vector<std::string>& trees) const;

  // The server confirmed `claim` as granted to this client: from now on its
  // ids are an ordinary granted range.
  void confirmClaim(WriteTxn& txn, const IdClaim& claim);

  // How many records giveUpClaim() would move: those created here from the
  // claim and not pushed.
  std::size_t claimedRecords(const ReadTxn& txn, const IdClaim& claim) const;

  // Gives up a claim the server refused, in the caller's transaction. Each
  // record created here from it takes the next id of `fresh` (ranges the
  // server granted this client): it is stored there with the same value
  // (revision 0, a draft of this client), removed from its old id, and its
  // outbox entry follows it. Every reference to a moved record held by a
  // record this replica has not pushed or holds under a borrow is
  // rewritten to the new id (and that record's data iteration bumped).
  // The claim's unused ids leave the tree's ranges; the ids of `fresh` not
  // taken join them. Returns how many records moved, or nullopt (and
  // changes nothing) when `fresh` holds fewer ids than there are records.
  std::optional<std::size_t> giveUpClaim(WriteTxn& txn, const IdClaim& claim,
                                         const IdRanges& fresh);

 private:
  void requireEditable(const ReadTxn& txn, const OpaqueKey& key) const;
  // Throws Error(kWrongTree): `what` (a key, "a record") of `tree`, which
  // the replica does not follow, cannot be written.
  [[noreturn]] void refuseTree(std::string_view tree, const std::string& what) const;
  void putEntry(WriteTxn& txn, const std::string& key, sync::OutboxEntry::Kind kind,
                bool keepBorrow, std::uint64_t fencing);
  void keepConflict(WriteTxn& txn, const OpaqueKey& key, kj::ArrayPtr<const kj::byte> value,
                    std::string_view why, std::uint64_t fencing);
  bool pushed(const std::string& key, std::uint64_t serial) const;
  // Whether the server answered the entry `serial` of `key` (answered()).
  bool answeredEntry(const std::string& key, std::uint64_t serial) const;
  std::vector<OpaqueKey> ownEdits(const ReadTxn& txn) const;
  std::uint64_t nextSerial(WriteTxn& txn);

  std::string name_;
  std::vector<std::string> replicate_;
  std::function<void()> onOutbox_;
  // Guards sent_ and answers_, which the sync thread writes and other
  // threads read (status, flush, edits).
  mutable std::mutex sentMutex_;
  std::map<std::string, std::uint64_t> sent_;  // record key -> serial of the pushed entry
  struct Answer {
    OutboxItem item;
    std::string refusal;  // empty: stored
  };
  std::map<std::string, Answer> answers_;  // record key -> the server's answer not yet settled
};

}  // namespace hills::client
