// Ids a replica claims before it first reaches its server, and what becomes
// of the records made from a claim the server refuses.
#include <capnp/message.h>

#include <map>
#include <sstream>

#include "hills/ref.h"
#include "replica.h"

namespace hills::client {

namespace {

// A claim is a property of the replica: "<state> <start> <end>".
constexpr char kPending[] = "pending";
constexpr char kConfirmed[] = "confirmed";
constexpr char kRefused[] = "refused";

std::string claimKey(std::string_view tree) { return "idClaim:" + std::string(tree); }

struct StoredClaim {
  std::string state;
  IdClaim claim;
};

std::optional<StoredClaim> loadClaim(const ReadTxn& txn, std::string_view tree) {
  auto text = txn.property(claimKey(tree));
  if (!text) return std::nullopt;
  StoredClaim out;
  out.claim.tree = tree;
  std::istringstream in(*text);
  if (!(in >> out.state >> out.claim.start >> out.claim.end)) {
    throw Error(ErrorCode::kCorrupt,
                "the id claim of tree '" + std::string(tree) + "' reads '" + *text + "'");
  }
  return out;
}

void storeClaim(WriteTxn& txn, const IdClaim& claim, std::string_view state) {
  txn.setProperty(claimKey(claim.tree), std::string(state) + " " + std::to_string(claim.start) +
                                            " " + std::to_string(claim.end));
}

// The outbox entries of records created here from `claim`: ids whose record
// is there (to move), and the keys of entries whose record was removed here
// since (to drop).
struct Claimed {
  std::vector<std::uint64_t> records;
  std::vector<std::string> gone;
};

Claimed claimedEntries(const ReadTxn& txn, const IdClaim& claim) {
  Claimed out;
  auto tree = txn.tree(claim.tree);
  txn.table(kOutbox).scan(claim.tree + '\0', [&](std::string_view key, capnp::MessageReader& msg) {
    auto k = parseRecordKey(key, kOutbox);
    bool create = msg.getRoot<sync::OutboxEntry>().getKind() == sync::OutboxEntry::Kind::CREATE;
    if (!create || k.id < claim.start || k.id >= claim.end) return true;
    if (tree.contains(k.id, k.revision)) {
      out.records.push_back(k.id);
    } else {
      out.gone.emplace_back(key);
    }
    return true;
  });
  return out;
}

// Stores the record `from` (revision 0) of `treeName` under `to` with the
// same value, and moves its outbox entry along.
void moveRecord(WriteTxn& txn, const std::string& treeName, std::uint64_t from, std::uint64_t to) {
  auto tree = txn.tree(treeName);
  std::vector<capnp::word> value;
  {
    auto rec = tree.find(from, 0);
    value.assign(rec.value().begin(), rec.value().end());
  }
  auto outbox = txn.table(kOutbox);
  std::string oldKey = recordKey(treeName, from, 0);
  auto entry = outbox.get(oldKey);
  capnp::MallocMessageBuilder moved(16);
  moved.setRoot(entry->getRoot<sync::OutboxEntry>());
  // Stored as this replica's own change (no origin) that its server
  // decided. The old id goes first: a unique index holds the record's
  // names under it.
  tree.adopt(from, 0, {}, {});
  tree.adopt(to, 0, kj::arrayPtr(value.data(), value.size()).asBytes(), {});
  outbox.remove(oldKey);
  outbox.put(recordKey(treeName, to, 0), moved);
}

// Points the references of `key` to records of `movedTree` where `moved`
// says they went, and bumps its data iteration; nothing when it holds none.
void moveRefsOf(WriteTxn& txn, const OpaqueKey& key, const std::string& movedTree,
                const std::map<std::uint64_t, std::uint64_t>& moved) {
  auto tree = txn.tree(key.tree);
  auto rec = tree.find(key.id, key.revision);
  if (!rec) return;
  // Rewriting in place allocates nothing, so one segment of the value's
  // size holds the copy: a stored value is a single segment.
  capnp::MallocMessageBuilder msg(static_cast<unsigned>(rec.value().size() + 1));
  msg.setRoot(rec.envelope());
  auto env = msg.getRoot<wire::Envelope>();
  std::size_t changed = rewriteRefs(tree.schema(), env.getBody(), [&](RefValue& ref) {
    if (ref.tree != movedTree) return;
    if (auto it = moved.find(ref.id); it != moved.end()) ref.id = it->second;
  });
  if (changed == 0) return;
  env.setDataIteration(env.getDataIteration() + 1);
  auto segments = msg.getSegmentsForOutput();
  KJ_ASSERT(segments.size() == 1, "a rewritten value took more than one segment", describe(key));
  tree.adopt(key.id, key.revision, segments[0].asBytes(), {});
}

}  // namespace

bool Replica::mayClaim(const ReadTxn& txn, std::string_view tree) const {
  return pinnedServer(txn).empty() && !txn.property(claimKey(tree)) &&
         txn.tree(tree).idsLeft() == 0;
}

void Replica::claim(WriteTxn& txn, std::string_view tree, std::uint64_t start, std::uint64_t end) {
  txn.tree(tree).addIdRange(start, end);
  storeClaim(txn, IdClaim{std::string(tree), start, end}, kPending);
}

std::vector<IdClaim> Replica::pendingClaims(const ReadTxn& txn,
                                            const std::vector<std::string>& trees) const {
  std::vector<IdClaim> out;
  for (const auto& tree : trees) {
    auto stored = loadClaim(txn, tree);
    if (stored && stored->state == kPending) out.push_back(stored->claim);
  }
  return out;
}

void Replica::confirmClaim(WriteTxn& txn, const IdClaim& claim) {
  storeClaim(txn, claim, kConfirmed);
}

std::size_t Replica::claimedRecords(const ReadTxn& txn, const IdClaim& claim) const {
  return claimedEntries(txn, claim).records.size();
}

std::vector<OpaqueKey> Replica::ownEdits(const ReadTxn& txn) const {
  std::vector<OpaqueKey> out;
  txn.table(kOutbox).scan("", [&](std::string_view key, capnp::MessageReader& msg) {
    if (msg.getRoot<sync::OutboxEntry>().getKind() == sync::OutboxEntry::Kind::CREATE) {
      out.push_back(parseRecordKey(key, kOutbox));
    }
    return true;
  });
  for (auto& borrow : protocol::listBorrows(txn)) {
    if (borrow.holder == name_) out.push_back(std::move(borrow.key));
  }
  return out;
}

std::optional<std::size_t> Replica::giveUpClaim(WriteTxn& txn, const IdClaim& claim,
                                                const IdRanges& fresh) {
  Claimed found = claimedEntries(txn, claim);
  std::map<std::uint64_t, std::uint64_t> moved;
  IdRanges left = fresh;
  auto record = found.records.begin();
  for (auto& range : left) {
    for (; range.first < range.second && record != found.records.end(); ++record) {
      moved[*record] = range.first++;
    }
  }
  if (record != found.records.end()) return std::nullopt;

  auto tree = txn.tree(claim.tree);
  tree.dropIdRange(claim.start, claim.end);
  for (const auto& key : found.gone) txn.table(kOutbox).remove(key);
  for (auto [from, to] : moved) moveRecord(txn, claim.tree, from, to);
  // Only this replica's own edits can name a record it never pushed: the
  // server never had the record, so no value the server stored (every
  // other record here) can mean it.
  if (!moved.empty()) {
    for (const auto& key : ownEdits(txn)) moveRefsOf(txn, key, claim.tree, moved);
  }
  for (const auto& [first, end] : left) {
    if (first < end) tree.addIdRange(first, end);
  }
  storeClaim(txn, claim, kRefused);
  return moved.size();
}

}  // namespace hills::client
