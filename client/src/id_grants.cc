// The sync engine's ids from the server: the claims a replica made before
// its first contact settled (confirmed, or the records renumbered into a
// grant), and the ranges of every tree topped up. On the sync thread.
#include <algorithm>

#include "client_impl.h"

namespace hills {

kj::Promise<void> SyncEngine::settleClaims() {
  auto trees = client_.treeNames();
  auto pending = client_.db.read(
      [&](const ReadTxn& txn) { return client_.replica->pendingClaims(txn, trees); });
  if (pending.empty()) return kj::READY_NOW;
  if (!mayWrite_) {
    // This client could never push what it makes from them: their unused
    // ids go, and the claims wait for a server that lets it write.
    protocol::translated([&] {
      client_.db.write([&](WriteTxn& txn) {
        for (const auto& claim : pending) txn.tree(claim.tree).dropIdRange(claim.start, claim.end);
      });
    });
    return kj::READY_NOW;
  }
  kj::Promise<void> chain = kj::READY_NOW;
  for (auto& claim : pending) {
    chain = chain.then([this, claim]() { return settleClaim(claim); });
  }
  return chain;
}

kj::Promise<void> SyncEngine::settleClaim(client::IdClaim claim) {
  auto request = session().claimIdsRequest();
  request.setTree(claim.tree);
  request.setStart(claim.start);
  request.setEnd(claim.end);
  return timed(request.send().then([](auto&& response) {
           return protocol::refusal(response.getOutcome()).has_value();
         }))
      .then([this, claim](bool refused) -> kj::Promise<void> {
        if (!refused) {
          protocol::translated([&] {
            client_.db.write([&](WriteTxn& txn) { client_.replica->confirmClaim(txn, claim); });
          });
          return kj::READY_NOW;
        }
        // Another client holds some of them (or the server's idBlock is
        // smaller than the claim): the records move; status().renumbered
        // counts them.
        return renumber(claim, {});
      });
}

kj::Promise<void> SyncEngine::renumber(client::IdClaim claim, client::IdRanges fresh) {
  auto& replica = *client_.replica;
  std::uint64_t have = 0;
  for (const auto& [first, end] : fresh) have += end - first;
  std::uint64_t needed =
      client_.db.read([&](const ReadTxn& txn) { return replica.claimedRecords(txn, claim); });
  if (have >= needed) {
    auto moved = protocol::translated([&] {
      return client_.db.write(
          [&](WriteTxn& txn) { return replica.giveUpClaim(txn, claim, fresh); });
    });
    if (moved) {
      {
        std::lock_guard lock(client_.mutex);
        client_.state.renumbered += *moved;
      }
      client_.changed.notify_all();
      return kj::READY_NOW;
    }
  }
  // More records than ids in hand (the application may have created more
  // meanwhile): the server grants more, at most its idBlock at a time.
  auto request = session().grantIdsRequest();
  request.setTree(claim.tree);
  request.setCount(std::max(client_.options.idBlock, needed > have ? needed - have : 1));
  return timed(request.send().then([](auto&& response) {
           return std::pair(response.getStart(), response.getEnd());
         }))
      .then([this, claim = kj::mv(claim), fresh = kj::mv(fresh)](auto range) mutable {
        fresh.push_back(range);
        return renumber(kj::mv(claim), kj::mv(fresh));
      });
}

kj::Promise<void> SyncEngine::topUp() {
  // A client that may not write gets no ids (and creates nothing the server
  // would take).
  if (!mayWrite_) return kj::READY_NOW;
  std::vector<std::string> low;
  auto trees = client_.treeNames();
  client_.db.read([&](const ReadTxn& txn) {
    for (auto& t : trees) {
      if (txn.tree(t).idsLeft() < client_.options.idLowWater) low.push_back(t);
    }
  });
  kj::Promise<void> chain = kj::READY_NOW;
  for (auto& tree : low) {
    chain = chain.then([this, tree]() { return grantRange(tree, client_.options.idBlock); });
  }
  return chain;
}

kj::Promise<void> SyncEngine::grantRange(std::string tree, std::uint64_t count) {
  auto request = session().grantIdsRequest();
  request.setTree(tree);
  request.setCount(count);
  return timed(request.send().then([this, tree](auto&& response) {
    std::uint64_t start = response.getStart(), end = response.getEnd();
    protocol::translated([&] {
      client_.db.write([&](WriteTxn& txn) { txn.tree(tree).addIdRange(start, end); });
    });
  }));
}

kj::Promise<std::uint64_t> SyncEngine::reserveIds(std::string tree, std::uint64_t count) {
  return protocol::translated([&]() -> kj::Promise<std::uint64_t> {
    auto asking = [&] {
      return "client '" + client_.options.name + "' cannot reserve " + std::to_string(count) +
             " ids of tree '" + tree + "': ";
    };
    // Connected means the claims of this session are settled: the ids of a
    // claim the server may still refuse are not counted.
    bool connected;
    {
      std::lock_guard lock(client_.mutex);
      connected = client_.state.connected && session_ != nullptr;
    }
    if (!connected) throw Error(ErrorCode::kOffline, asking() + "it is not connected to its server");
    if (!mayWrite_) {
      throw Error(ErrorCode::kDenied,
                  asking() + "its server does not let it write, and grants it no ids");
    }
    std::uint64_t left =
        client_.db.read([&](const ReadTxn& txn) { return txn.tree(tree).idsLeft(); });
    if (left >= count) return left;
    // Each grant adds at least one id (addIdRange refuses an empty range),
    // so this ends; the server caps each at its idBlock.
    return grantRange(tree, count - left).then([this, tree, count]() mutable {
      return reserveIds(kj::mv(tree), count);
    });
  });
}

}  // namespace hills
