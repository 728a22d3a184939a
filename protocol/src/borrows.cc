// The _borrows table: the server's borrows, and every client's mirror.
#include "hills/sync_tables.capnp.h"
#include "hills/protocol.h"

namespace hills::protocol {

namespace {

BorrowInfo decode(OpaqueKey key, capnp::MessageReader& msg) {
  try {
    auto b = msg.getRoot<sync::StoredBorrow>();
    return BorrowInfo{std::move(key), b.getHolder().cStr(), b.getFencing(),
                      fromNanos(b.getSince()), b.getReturning()};
  } catch (const kj::Exception& e) {
    throw Error(ErrorCode::kCorrupt, "the borrow of " + describe(key) +
                                         " does not decode: " + e.getDescription().cStr());
  }
}

class BorrowTableReader final : public WriteHook {
 public:
  std::vector<std::string> tables() const override { return {kBorrowTable}; }
};

}  // namespace

std::shared_ptr<WriteHook> borrowTableReader() {
  return std::make_shared<BorrowTableReader>();
}

std::optional<BorrowInfo> findBorrow(const ReadTxn& txn, const OpaqueKey& key) {
  auto msg = txn.table(kBorrowTable).get(recordKey(key));
  if (!msg) return std::nullopt;
  return decode(key, *msg);
}

std::vector<BorrowInfo> listBorrows(const ReadTxn& txn) {
  std::vector<BorrowInfo> out;
  txn.table(kBorrowTable).scan("", [&](std::string_view key, capnp::MessageReader& msg) {
    out.push_back(decode(parseRecordKey(key, kBorrowTable), msg));
    return true;
  });
  return out;
}

void putBorrow(WriteTxn& txn, const BorrowInfo& b) {
  capnp::MallocMessageBuilder msg(32);
  auto s = msg.initRoot<sync::StoredBorrow>();
  s.setHolder(b.holder);
  s.setFencing(b.fencing);
  s.setSince(toNanos(b.since));
  s.setReturning(b.returning);
  txn.table(kBorrowTable).put(recordKey(b.key), msg);
}

bool dropBorrow(WriteTxn& txn, const OpaqueKey& key) {
  return txn.table(kBorrowTable).remove(recordKey(key));
}

}  // namespace hills::protocol
