// The one path every mutation takes, local or applied from another
// database: write hooks' checks, indexers, the put, the change log and the
// event, then the hooks' own writes.
#pragma once

#include <kj/array.h>
#include <kj/function.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "hills/events.h"
#include "hills/txn.h"
#include "hills/write_hook.h"
#include "log.h"

namespace hills::detail {

struct TreeState;
struct TxnState;

// Reaches what the public handles keep private.
struct TxnAccess {
  // Runs fn with the WriteTxn of `t`, for a write hook.
  template <class F>
  static void withWriteTxn(TxnState* t, F&& fn) {
    WriteTxn txn(t);
    fn(txn);
  }
  static TreeState* state(const GenericTreeView& tree) { return tree.tree_; }
  static TxnState* txnOf(const GenericTreeView& tree) { return tree.txn_; }
  static TxnState* state(const ReadTxn& txn) { return txn.state_; }
};

// A copy of a stored record for indexers and hooks: they write other tables
// while they read it, and LMDB may reuse the pages of the original
// meanwhile. Uses the transaction's buffer when it is free.
struct Snapshot {
  Snapshot(TxnState& t, const StoredRecord& rec);
  ~Snapshot();
  Snapshot(const Snapshot&) = delete;
  Snapshot& operator=(const Snapshot&) = delete;

  TxnState& t;
  bool ownsBuffer = false;
  std::vector<capnp::word> heap;  // when the transaction's buffer is taken
  StoredRecord record;

 private:
  kj::ArrayPtr<const capnp::word> copy(const StoredRecord& rec);
};

// A record read in place from words this transaction holds (a value being
// written): StoredRecord cannot be copied or moved, so it lives here.
struct InPlace {
  InPlace(const TreeState* tree, std::uint64_t id, std::uint32_t revision,
          kj::ArrayPtr<const capnp::word> words)
      : record(tree, id, revision, words) {}
  StoredRecord record;
};

// Throws kInvalidArgument for a write through a read transaction.
void requireWritable(const TxnState& t);

// One mutation, ready to be stored.
struct Mutating {
  Mutating(EventKind k, std::uint64_t i, std::uint32_t r, const StoredRecord* o = nullptr)
      : kind(k), id(i), revision(r), old(o) {}

  EventKind kind = EventKind::kCreated;
  std::uint64_t id = 0;
  std::uint32_t revision = 0;
  const StoredRecord* old = nullptr;        // the record replaced, in place; null: none (a new revision too)
  kj::ArrayPtr<const capnp::word> value;    // what to store; empty: remove
  wire::Envelope::Reader envelope;          // the root of `value` (read from its builder)
  bool fresh = false;                       // the key must not exist yet (create, new revision)
  std::vector<std::string> changed;         // kUpdated: the fields that changed
  std::string_view origin;                  // empty: the transaction's
  bool applied = false;                     // another database's change
  bool concurrent = false;                  // applied over a value its origin had not seen
};

// Stores (or removes) one record: write hooks check it, then `rules` (hills'
// own rules for the operation: drafts only...) run; a refusal of either
// changes nothing. Then indexers run, the value is put, the change is logged
// and its event recorded, and hooks write what they keep. A failure after
// the first write marks the transaction so it cannot commit.
void storeMutation(TxnState& t, const TreeState& tree, Mutating& m,
                   kj::FunctionParam<void()> rules = [] {});

// Appends a value into a tree. `fresh` marks a key that must not exist yet.
void putValue(TxnState& t, const TreeState& tree, std::uint64_t id, std::uint32_t revision,
              kj::ArrayPtr<const capnp::word> words, bool fresh);

// A value's bytes as words: in place when aligned, else copied into `copy`.
// kCorrupt naming the record when they are not whole words.
kj::ArrayPtr<const capnp::word> valueWords(const TreeState& tree, std::uint64_t id,
                                           std::uint32_t revision,
                                           kj::ArrayPtr<const kj::byte> bytes,
                                           kj::Array<capnp::word>& copy);

}  // namespace hills::detail
