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

// A server with two parts, p and other, and the replica of client A,
// which has applied none of them.
struct TwoParts {
  TempDir dir;
  hills::Database server{dir.sub("server"), serverOptions()};
  ReplicaDatabase a{dir.sub("a"), "A"};
  hills::Key<plm::Part> p = createPart(server, 1);
  hills::Key<plm::Part> other = createPart(server, 2);
};

}  // namespace

TEST_CASE_METHOD(TwoParts,
                 "a later change overtakes the quarantined changes of its record's history only",
                 "[client][quarantine][regression]") {
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

TEST_CASE_METHOD(TwoParts,
                 "a change of a record whose broken borrow waits in the quarantine waits behind it",
                 "[client][quarantine][regression]") {
  auto key = hills::opaque(p);
  a.write([&](hills::WriteTxn& txn) {
    hills::protocol::putBorrow(txn, hills::BorrowInfo{key, "A", 7, {}, false});
  });
  Words atBreak = valueOf(server, p);
  hold(a, borrowKind(hills::sync::kBorrowBroken), p, atBreak, 20, 7);
  auto behind = [&](hills::Key<plm::Part> k, std::uint64_t sequence) {
    return a.read([&](const hills::ReadTxn& txn) {
      return hills::client::behindBrokenBorrow(txn, hills::opaque(k), sequence);
    });
  };
  auto later = behind(p, 21);
  REQUIRE(later);
  CHECK(later->code() == ErrorCode::kInvalidArgument);  // the broken borrow's own
  CHECK_THAT(later->what(), Catch::Contains("broken borrow") && Catch::Contains("change 20"));
  CHECK_FALSE(behind(p, 19));
  CHECK_FALSE(behind(other, 21));
  // Nothing overtakes it; what came after waits behind it.
  overtake(a, p, 22, ChangeKind::RELEASED);
  overtake(a, p, 22, borrowKind(hills::sync::kBorrowed));
  rename(server, p, 0, "renamed after the break");
  hold(a, ChangeKind::UPDATED, p, valueOf(server, p), 22);
  CHECK(waiting(a) == std::vector<std::uint64_t>{20, 22});
  // Retried in the log's order: the borrow ends and the server's value is
  // put back, then the later value applies over it.
  CHECK(hills::client::retryQuarantined(a) == 0);
  a.read([&](const hills::ReadTxn& txn) { CHECK_FALSE(hills::protocol::findBorrow(txn, key)); });
  CHECK(hex(valueOf(a, p)) == hex(valueOf(server, p)));
}
