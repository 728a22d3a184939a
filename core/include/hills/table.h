// Internal tables of write hooks: small keyed stores of Cap'n Proto
// messages that live in the database beside the trees, read and written in
// the same transactions as the records.
//
//   struct Notes final : hills::WriteHook {
//     std::vector<std::string> tables() const override { return {"_notes"}; }
//     void stored(hills::WriteTxn& txn, const hills::Mutation& m) override {
//       capnp::MallocMessageBuilder msg;
//       ...
//       txn.table("_notes").put(hills::recordKey(m.tree, m.id, m.revision), msg);
//     }
//   };
#pragma once

#include <capnp/message.h>
#include <kj/function.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "hills/key.h"

namespace hills {

namespace detail {
struct TxnState;
struct TableState;
}  // namespace detail

// Read access to one internal table inside a transaction; valid until the
// transaction ends. Keys are byte strings of 1 to 500 bytes, ordered
// bytewise; values are single-segment Cap'n Proto messages. A table that a
// read-only open did not find (the database was never opened writable with
// that hook) reads as empty.
class TableView {
 public:
  const std::string& name() const;

  // A copy of the message under `key`, readable after the transaction ends;
  // null when the key is absent. Throws Error(kCorrupt) naming the table
  // when the value is not whole words.
  std::unique_ptr<capnp::MessageReader> get(std::string_view key) const;

  bool contains(std::string_view key) const;

  // Calls fn for every key that starts with `prefix` (empty: every key), in
  // key order, until fn returns false. The message is valid during the call.
  void scan(std::string_view prefix,
            kj::FunctionParam<bool(std::string_view key, capnp::MessageReader& value)> fn) const;

  // The message at the greatest key that is <= `key` and starts with
  // `prefix`; null when there is none.
  std::unique_ptr<capnp::MessageReader> floor(std::string_view prefix, std::string_view key) const;

  // The number of keys.
  std::size_t size() const;

 protected:
  friend class ReadTxn;
  friend class WriteTxn;
  TableView(detail::TxnState* txn, const detail::TableState* table) : txn_(txn), table_(table) {}

  detail::TxnState* txn_;
  const detail::TableState* table_;
};

// Write access to one internal table inside a write transaction. What it
// writes commits or aborts with the transaction.
class Table : public TableView {
 public:
  // Stores `value` (its first segment; a message of several segments is
  // copied into one) under `key`, replacing what was there. Throws
  // Error(kInvalidArgument) for an empty key or one over 500 bytes, and the
  // storage errors of a write (kMapFull, kIo, kStorage), which fail the
  // transaction as a whole.
  void put(std::string_view key, capnp::MessageBuilder& value);

  // Removes `key`; false when it was absent.
  bool remove(std::string_view key);

 private:
  friend class WriteTxn;
  using TableView::TableView;
};

// A table key naming one record of one tree: the tree's name, a NUL byte,
// then the record's 16-byte key (id and revision big-endian), so the keys
// of one tree sort together by id and revision.
std::string recordKey(std::string_view tree, std::uint64_t id, std::uint32_t revision);
inline std::string recordKey(const OpaqueKey& key) {
  return recordKey(key.tree, key.id, key.revision);
}

// The key recordKey() made, when `key` starts with one; `trailing` more
// bytes may follow (a suffix the table's owner added). Throws
// Error(kCorrupt) naming `table` when `key` is not such a key.
OpaqueKey parseRecordKey(std::string_view key, std::string_view table, std::size_t trailing = 0);

}  // namespace hills
