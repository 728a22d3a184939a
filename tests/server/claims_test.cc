// Ids claimed before a first contact, as the authority confirms or refuses
// them (server/src/authority.cc: claimIds, and grants beside claims). A
// "server" database with the authority's hook; replicas "A" and "B" make
// records from the blocks they claimed.
#include <catch2/catch.hpp>
#include <string>
#include <utility>

#include "replication.h"
#include "temp_dir.h"

using hills::ErrorCode;
using hills::Key;
using hills::kClaimableIds;
using namespace hills::test;

namespace {

constexpr std::uint64_t kLimit = 4096;  // the server's idBlock

void claim(hills::Database& server, const std::string& client, std::uint64_t start,
           std::uint64_t end, const std::string& tree = "parts") {
  server.write([&](hills::WriteTxn& txn) {
    hills::server::claimIds(txn, tree, start, end, client, kLimit);
  });
}

hills::Error claimError(hills::Database& server, const std::string& client, std::uint64_t start,
                        std::uint64_t end) {
  return errorOf([&] { claim(server, client, start, end); });
}

// The replica takes [start, end) of the parts tree as its own, as a client
// that claimed it offline does.
void claimOnReplica(ReplicaDatabase& replica, std::uint64_t start, std::uint64_t end) {
  replica.write([&](hills::WriteTxn& txn) { txn.tree("parts").addIdRange(start, end); });
}

// Pushes the part `key` of `replica` to the server as a create.
void push(hills::Database& server, ReplicaDatabase& replica, Key<plm::Part> key) {
  auto value = valueOf(replica, key);
  server.write([&](hills::WriteTxn& txn) {
    hills::server::acceptCreate(txn, hills::opaque(key), bytesOf(value), replica.replica().name());
  });
}

}  // namespace

TEST_CASE("a confirmed claim is granted to its client, whose records the server then takes",
          "[server][authority][claims]") {
  TempDir dir;
  hills::Database server(dir.sub("server"), serverOptions());
  ReplicaDatabase a(dir.sub("a"), "A");
  const std::uint64_t start = kClaimableIds + 1000;
  claimOnReplica(a, start, start + 100);
  auto p = createPart(a, 1);
  CHECK(p.id == start);

  // Before the claim is confirmed, the record is not A's on the server.
  auto early = errorOf([&] { push(server, a, p); });
  CHECK(early.code() == ErrorCode::kDenied);

  claim(server, "A", start, start + 100);
  server.read([&](const hills::ReadTxn& txn) {
    CHECK(hills::server::grantee(txn, "parts", start) == "A");
    CHECK(hills::server::grantee(txn, "parts", start + 99) == "A");
    CHECK(hills::server::grantee(txn, "parts", start + 100) == "");
    CHECK(hills::server::grantee(txn, "boms", start) == "");  // claims belong to their tree
  });
  push(server, a, p);
  CHECK(hex(valueOf(server, p)) == hex(valueOf(a, p)));
}

TEST_CASE("the same claim by the same client is confirmed again", "[server][authority][claims]") {
  TempDir dir;
  hills::Database server(dir.sub("server"), serverOptions());
  const std::uint64_t start = kClaimableIds + 5000;
  claim(server, "A", start, start + 64);
  // The answer was lost, and A asks again.
  claim(server, "A", start, start + 64);
  server.read([&](const hills::ReadTxn& txn) {
    CHECK(txn.table("_grants").size() == 1);
    CHECK(hills::server::grantee(txn, "parts", start + 10) == "A");
  });
}

TEST_CASE("a claim overlapping one of another client is refused naming its holder",
          "[server][authority][claims]") {
  TempDir dir;
  hills::Database server(dir.sub("server"), serverOptions());
  const std::uint64_t start = kClaimableIds + 1'000'000;
  claim(server, "A", start, start + 100);

  for (auto [from, to] : {std::pair(start, start + 100), std::pair(start - 50, start + 1),
                          std::pair(start + 99, start + 150), std::pair(start + 10, start + 20),
                          std::pair(start - 10, start + 200)}) {
    INFO("B claims [" << from << ", " << to << ")");
    auto e = claimError(server, "B", from, to);
    CHECK(e.code() == ErrorCode::kAlreadyExists);
    CHECK_THAT(e.what(), Catch::Contains("'A'"));
    CHECK_THAT(e.what(), Catch::Contains("'B'"));
  }
  // A itself asking for another block that overlaps its own is refused too:
  // only the very same claim is confirmed again.
  CHECK(claimError(server, "A", start + 50, start + 150).code() == ErrorCode::kAlreadyExists);

  // Next to it is free.
  claim(server, "B", start + 100, start + 200);
  claim(server, "B", start - 100, start);
  server.read([&](const hills::ReadTxn& txn) {
    CHECK(hills::server::grantee(txn, "parts", start - 1) == "B");
    CHECK(hills::server::grantee(txn, "parts", start) == "A");
    CHECK(hills::server::grantee(txn, "parts", start + 99) == "A");
    CHECK(hills::server::grantee(txn, "parts", start + 100) == "B");
  });
}

TEST_CASE("a claim outside the claimable ids, empty or too large is refused",
          "[server][authority][claims]") {
  TempDir dir;
  hills::Database server(dir.sub("server"), serverOptions());
  auto granted = server.write(
      [](hills::WriteTxn& txn) { return hills::server::grantIds(txn, "parts", 10, "A"); });
  for (auto [from, to] :
       {granted, std::pair<std::uint64_t, std::uint64_t>(1, 5),
        std::pair(kClaimableIds - 1, kClaimableIds + 1), std::pair(kClaimableIds, kClaimableIds),
        std::pair(kClaimableIds + 10, kClaimableIds + 5),
        std::pair(kClaimableIds, kClaimableIds + kLimit + 1)}) {
    INFO("A claims [" << from << ", " << to << ")");
    CHECK(claimError(server, "A", from, to).code() == ErrorCode::kInvalidArgument);
  }
  auto unknown = errorOf([&] { claim(server, "A", kClaimableIds, kClaimableIds + 1, "nothing"); });
  CHECK(unknown.code() == ErrorCode::kUnknownTree);
  server.read([&](const hills::ReadTxn& txn) { CHECK(txn.table("_grants").size() == 1); });
  // The largest claim allowed is the server's block.
  claim(server, "A", kClaimableIds, kClaimableIds + kLimit);
}

TEST_CASE("grants never enter the claimable ids, even after records with claimed ids are stored",
          "[server][authority][claims]") {
  TempDir dir;
  std::pair<std::uint64_t, std::uint64_t> before;
  {
    hills::Database server(dir.sub("server"), serverOptions());
    ReplicaDatabase a(dir.sub("a"), "A");
    const std::uint64_t start = kClaimableIds + 77;
    claimOnReplica(a, start, start + 10);
    claim(server, "A", start, start + 10);
    for (int i = 0; i < 3; ++i) push(server, a, createPart(a, i));
    before = server.write(
        [](hills::WriteTxn& txn) { return hills::server::grantIds(txn, "parts", 100, "B"); });
    CHECK(before.second <= kClaimableIds);
    auto own = createPart(server, 9);
    CHECK(own.id < kClaimableIds);
  }
  hills::Database server(dir.sub("server"), serverOptions());
  auto after = server.write(
      [](hills::WriteTxn& txn) { return hills::server::grantIds(txn, "parts", 100, "C"); });
  CHECK(after.first >= before.second);
  CHECK(after.second <= kClaimableIds);
  CHECK(createPart(server, 10).id < kClaimableIds);
}
