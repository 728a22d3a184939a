// Values as stored: single-segment Cap'n Proto messages, whole words.
#pragma once

#include <capnp/message.h>
#include <kj/function.h>
#include <lmdb.h>

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "lmdb_util.h"

namespace hills::detail {

struct TxnState;

// First-segment size of the message builder a write transaction reuses: big
// enough that typical records build in one segment with no allocation.
constexpr std::size_t kScratchWords = 8192;

// A message read from a copy of its words (for _meta, which is small and read
// rarely, so values there need no alignment care).
class OwnedMessage final : public capnp::MessageReader {
 public:
  explicit OwnedMessage(kj::Array<capnp::word> words)
      : capnp::MessageReader(capnp::ReaderOptions()), words_(kj::mv(words)) {}
  kj::ArrayPtr<const capnp::word> getSegment(uint id) override {
    return id == 0 ? words_.asPtr() : nullptr;
  }

 private:
  kj::Array<capnp::word> words_;
};

// The words of a built message as a single segment. When the message spilled
// into several segments, or `compact` asks to drop what the builder orphaned,
// the root is copied into `spill` and the result points there.
kj::ArrayPtr<const capnp::word> singleSegment(capnp::MessageBuilder& msg, bool compact,
                                              kj::Array<capnp::word>& spill);

// Typed access to _meta, or another small internal table of messages keyed
// by text (a write hook's tables), inside one LMDB transaction.
class MetaStore {
 public:
  // `mapFull`, when given, is set when a write finds the map full (see
  // TxnState::checkWrite). `table` names the table in messages.
  MetaStore(MDB_txn* txn, MDB_dbi dbi, std::string_view where, bool* mapFull = nullptr,
            std::string_view table = "_meta")
      : txn_(txn), dbi_(dbi), where_(where), mapFull_(mapFull), table_(table) {}
  // The table `dbi` in a transaction of Database::read or write.
  MetaStore(TxnState& t, MDB_dbi dbi, std::string_view table = "_meta");

  std::optional<std::uint32_t> getU32(std::string_view key) const;
  void putU32(std::string_view key, std::uint32_t value);
  std::optional<std::string> getText(std::string_view key) const;
  void putText(std::string_view key, std::string_view value);
  std::unique_ptr<OwnedMessage> getMessage(std::string_view key) const;
  void putMessage(std::string_view key, capnp::MessageBuilder& msg);
  // Whether `key` is present (nothing is copied).
  bool has(std::string_view key) const { return get(key).has_value(); }
  // Whether `key` holds exactly the words of `msg` (so writing it is moot).
  bool holds(std::string_view key, capnp::MessageBuilder& msg) const;
  // Calls fn for every key that starts with `prefix`, in key order, until
  // fn returns false.
  void forEachPrefix(
      std::string_view prefix,
      kj::FunctionParam<bool(std::string_view key, capnp::MessageReader& msg)> fn) const;
  // The number of keys in the table.
  std::size_t size() const;
  // The message at the greatest key <= `key` that starts with `prefix`.
  std::unique_ptr<OwnedMessage> floor(std::string_view prefix, std::string_view key) const;
  // Removes `key`; false when it was absent.
  bool remove(std::string_view key);

 private:
  std::optional<MDB_val> get(std::string_view key) const;
  void put(std::string_view key, const void* data, std::size_t size);

  MDB_txn* txn_;
  MDB_dbi dbi_;
  std::string_view where_;
  bool* mapFull_;
  std::string_view table_;
};

}  // namespace hills::detail
