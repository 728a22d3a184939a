// A replica's quarantine (client/src/quarantine.cc): which waiting changes
// a later change of the same record overtakes.
#include "quarantine.h"

#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "hills/protocol.h"
#include "replication.h"

using hills::ErrorCode;
using hills::wire::ChangeKind;
using namespace hills::test;

namespace {

ChangeKind borrowKind(hills::EventKind kind) {
  return static_cast<ChangeKind>(static_cast<std::uint16_t>(kind));
}

// Keeps change `sequence` of `key`, of `kind`, in the replica's quarantine.
void hold(ReplicaDatabase& db, ChangeKind kind, hills::Key<plm::Part> key, const Words& value,
          std::uint64_t sequence, std::uint64_t fencing = 0) {
  Words change = changeOf(kind, key, value, "B");
  db.write([&](hills::WriteTxn& txn) {
    capnp::FlatArrayMessageReader reader(kj::arrayPtr(change.data(), change.size()));
    auto root = reader.getRoot<hills::wire::Change>();
    capnp::MallocMessageBuilder copy;
    copy.setRoot(root);
    auto c = copy.getRoot<hills::wire::Change>();
    c.setSequence(sequence);
    c.setNumber(fencing);
    hills::client::quarantine(txn, c.asReader(),
                              hills::Error(ErrorCode::kInvalidArgument, "refused"));
  });
}

// The sequences the quarantine holds, in log order.
std::vector<std::uint64_t> waiting(ReplicaDatabase& db) {
  std::vector<std::uint64_t> out;
  for (const auto& q : db.read([](const hills::ReadTxn& txn) {
         return hills::client::quarantined(txn);
       })) {
    out.push_back(q.sequence);
  }
  return out;
}

void overtake(ReplicaDatabase& db, hills::Key<plm::Part> key, std::uint64_t sequence,
              ChangeKind kind) {
  db.write([&](hills::WriteTxn& txn) {
    hills::client::dropOvertaken(txn, hills::opaque(key), sequence,
                                 static_cast<std::uint16_t>(kind));
  });
}

}  // namespace

TEST_CASE("a later change overtakes the quarantined changes of its record's history only",
          "[client][quarantine][regression]") {
  TempDir dir;
  hills::Database server(dir.sub("server"), serverOptions());
  ReplicaDatabase a(dir.sub("a"), "A");
  auto p = createPart(server, 1);
  auto other = createPart(server, 2);
  Words value = valueOf(server, p);
  hold(a, ChangeKind::UPDATED, p, value, 5);
  hold(a, borrowKind(hills::sync::kBorrowed), p, {}, 6, 3);
  hold(a, ChangeKind::UPDATED, p, value, 8);
  hold(a, ChangeKind::UPDATED, other, valueOf(server, other), 4);
  REQUIRE(waiting(a) == std::vector<std::uint64_t>{4, 5, 6, 8});

  // A value applied at 9 overtakes the values before it, of this record
  // only; the borrow entry waits on: the value says nothing of a borrow.
  overtake(a, p, 9, ChangeKind::UPDATED);
  CHECK(waiting(a) == std::vector<std::uint64_t>{4, 6});
  // A check-in applied at 10 overtakes the borrow.
  overtake(a, p, 10, borrowKind(hills::sync::kCheckedIn));
  CHECK(waiting(a) == std::vector<std::uint64_t>{4});
  // Nothing later than the change applied is overtaken.
  overtake(a, other, 3, ChangeKind::UPDATED);
  CHECK(waiting(a) == std::vector<std::uint64_t>{4});
}

TEST_CASE("a broken borrow in the quarantine ends its borrow when a later value overtakes it",
          "[client][quarantine][regression]") {
  TempDir dir;
  hills::Database server(dir.sub("server"), serverOptions());
  ReplicaDatabase a(dir.sub("a"), "A");
  auto p = createPart(server, 1);
  auto key = hills::opaque(p);
  a.write([&](hills::WriteTxn& txn) {
    hills::protocol::putBorrow(txn, hills::BorrowInfo{key, "A", 7, {}, false});
  });
  hold(a, borrowKind(hills::sync::kBorrowBroken), p, valueOf(server, p), 20, 7);
  // A later borrow leaves it waiting: what it restores is still to come.
  overtake(a, p, 21, borrowKind(hills::sync::kBorrowed));
  CHECK(waiting(a) == std::vector<std::uint64_t>{20});
  // A later value overtakes what it restores, and a retry would roll the
  // record back to it: it goes, and the borrow it broke ends.
  overtake(a, p, 22, ChangeKind::RELEASED);
  CHECK(waiting(a).empty());
  a.read([&](const hills::ReadTxn& txn) { CHECK_FALSE(hills::protocol::findBorrow(txn, key)); });
}
