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
          std::uint64_t sequence) {
  Words change = changeOf(kind, key, value, "B");
  db.write([&](hills::WriteTxn& txn) {
    capnp::FlatArrayMessageReader reader(kj::arrayPtr(change.data(), change.size()));
    auto root = reader.getRoot<hills::wire::Change>();
    capnp::MallocMessageBuilder copy;
    copy.setRoot(root);
    auto c = copy.getRoot<hills::wire::Change>();
    c.setSequence(sequence);
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
  hold(a, borrowKind(hills::sync::kBorrowed), p, {}, 6);
  hold(a, borrowKind(hills::sync::kBorrowBroken), p, value, 7);
  hold(a, ChangeKind::UPDATED, p, value, 8);
  hold(a, ChangeKind::UPDATED, other, valueOf(server, other), 4);
  REQUIRE(waiting(a) == std::vector<std::uint64_t>{4, 5, 6, 7, 8});

  // A value applied at 9 overtakes the values before it, of this record
  // only; the borrow entries wait on: the value says nothing of a borrow.
  overtake(a, p, 9, ChangeKind::UPDATED);
  CHECK(waiting(a) == std::vector<std::uint64_t>{4, 6, 7});
  // A check-in applied at 10 overtakes the borrow, never the broken borrow
  // (the old holder keeps its edit as a conflict copy from that one).
  overtake(a, p, 10, borrowKind(hills::sync::kCheckedIn));
  CHECK(waiting(a) == std::vector<std::uint64_t>{4, 7});
  // Nothing later than the change applied is overtaken.
  overtake(a, other, 3, ChangeKind::UPDATED);
  CHECK(waiting(a) == std::vector<std::uint64_t>{4, 7});
}
