// The sync server's borrows, id grants and the checks on what clients push.
#include "authority.h"

#include <cstring>

#include "compaction.h"
#include "hills/options.h"
#include "hills/sync_tables.capnp.h"

namespace hills::server {

namespace {

constexpr char kGrantTable[] = "_grants";
// The counter of fencing numbers: a property, so it outlives every borrow.
constexpr char kFencing[] = "fencing";

class AuthorityHook final : public WriteHook {
 public:
  std::vector<std::string> tables() const override {
    auto tables = compactionTables();
    tables.insert(tables.end(), {protocol::kBorrowTable, kGrantTable});
    return tables;
  }

  void check(WriteTxn& txn, const Mutation& m) override {
    // A local edit of the server's database (an embedding program's) must
    // not change what a client holds; what the holder checks in is applied.
    if (!m.local() || (m.kind != EventKind::kUpdated && m.kind != EventKind::kRemoved)) return;
    notHeldByOthers(txn, OpaqueKey{std::string(m.tree), m.id, m.revision}, m.origin);
  }

  // The authority's record is the truth: a client's edit reaches it as a
  // check-in, never as a change beside it.
  bool keepOwn(WriteTxn&, const Mutation&) override { return true; }
};

std::string grantKey(std::string_view tree, std::uint64_t id) {
  // The record key of (id, 0): grants of a tree sort by their first id.
  return recordKey(tree, id, 0);
}

// The grant of `tree` with the largest start at or below `id` (grants never
// overlap, so it is the only one that may hold `id`); null when none.
std::unique_ptr<capnp::MessageReader> grantAt(const ReadTxn& txn, std::string_view tree,
                                              std::uint64_t id) {
  std::string prefix(tree);
  prefix.push_back('\0');
  return txn.table(kGrantTable).floor(prefix, grantKey(tree, id));
}

std::string rangeName(std::string_view tree, std::uint64_t start, std::uint64_t end) {
  return "ids [" + std::to_string(start) + ", " + std::to_string(end) + ") of tree '" +
         std::string(tree) + "'";
}

void putGrant(WriteTxn& txn, std::string_view tree, std::uint64_t start, std::uint64_t end,
              std::string_view grantee) {
  capnp::MallocMessageBuilder msg(32);
  auto g = msg.initRoot<sync::Grant>();
  g.setStart(start);
  g.setEnd(end);
  g.setGrantee(std::string(grantee));
  txn.table(kGrantTable).put(grantKey(tree, start), msg);
}

std::uint64_t nextFencing(WriteTxn& txn) {
  std::uint64_t next = std::stoull(txn.property(kFencing).value_or("0")) + 1;
  txn.setProperty(kFencing, std::to_string(next));
  return next;
}

// A pushed value as words, its envelope checked to be a record of the tree
// and followed to its last pointer, so a malformed body is refused here
// rather than found by every replica's readers.
struct Pushed {
  Pushed(const GenericTreeView& tree, const OpaqueKey& key, kj::ArrayPtr<const kj::byte> bytes) {
    if (bytes.size() == 0 || bytes.size() % sizeof(capnp::word) != 0) {
      throw Error(ErrorCode::kCorrupt,
                  "the value pushed for " + describe(key) + " is not a whole number of words");
    }
    words = kj::heapArray<capnp::word>(bytes.size() / sizeof(capnp::word));
    std::memcpy(words.begin(), bytes.begin(), bytes.size());
    reader.emplace(words.asPtr());
    try {
      envelope = reader->getRoot<wire::Envelope>();
      envelope.getBody().targetSize();
      envelope.getAuthor();
    } catch (const kj::Exception& e) {
      throw Error(ErrorCode::kCorrupt, "the value pushed for " + describe(key) +
                                           " does not decode: " + e.getDescription().cStr());
    }
    if (envelope.getTypeId() != tree.typeId()) {
      throw Error(ErrorCode::kWrongTree,
                  "the value pushed for " + describe(key) + " holds a record of another type");
    }
  }
  kj::Array<capnp::word> words;
  std::optional<detail::ValueReader> reader;
  wire::Envelope::Reader envelope;
};

}  // namespace

std::shared_ptr<WriteHook> authorityHook() { return std::make_shared<AuthorityHook>(); }

std::pair<std::uint64_t, std::uint64_t> grantIds(WriteTxn& txn, std::string_view tree,
                                                 std::uint64_t count, std::string_view grantee) {
  auto range = txn.tree(tree).grantIds(count);
  putGrant(txn, tree, range.first, range.second, grantee);
  return range;
}

void claimIds(WriteTxn& txn, std::string_view tree, std::uint64_t start, std::uint64_t end,
              std::string_view claimant, std::uint64_t maxCount) {
  txn.tree(tree);  // kUnknownTree for a tree the server lacks
  const std::string what = rangeName(tree, start, end);
  if (start < kClaimableIds || start >= end) {
    throw Error(ErrorCode::kInvalidArgument,
                "the claim of " + what + " by '" + std::string(claimant) +
                    "' is empty or reaches below the claimable ids (" +
                    std::to_string(kClaimableIds) + " and up)");
  }
  if (end - start > maxCount) {
    throw Error(ErrorCode::kInvalidArgument, "the claim of " + what + " by '" +
                                                 std::string(claimant) + "' holds more than " +
                                                 std::to_string(maxCount) + " ids");
  }
  // The grant that starts last below `end` is the one that may overlap.
  if (auto msg = grantAt(txn, tree, end - 1)) {
    auto g = msg->getRoot<sync::Grant>();
    if (g.getEnd() > start) {
      std::string holder = g.getGrantee();
      if (g.getStart() == start && g.getEnd() == end && holder == claimant) return;  // again
      throw Error(ErrorCode::kAlreadyExists,
                  "the claim of " + what + " by '" + std::string(claimant) + "' overlaps " +
                      rangeName(tree, g.getStart(), g.getEnd()) + ", granted to '" + holder + "'");
    }
  }
  putGrant(txn, tree, start, end, claimant);
}

std::string grantee(const ReadTxn& txn, std::string_view tree, std::uint64_t id) {
  auto msg = grantAt(txn, tree, id);
  if (!msg) return {};
  auto g = msg->getRoot<sync::Grant>();
  return id >= g.getStart() && id < g.getEnd() ? std::string(g.getGrantee().cStr()) : std::string();
}

std::optional<BorrowInfo> notHeldByOthers(const ReadTxn& txn, const OpaqueKey& key,
                                          std::string_view caller) {
  auto held = protocol::findBorrow(txn, key);
  if (held && held->holder != caller) {
    throw Error(ErrorCode::kBorrowed, describe(key) + " is checked out to '" + held->holder + "'");
  }
  return held;
}

void acceptCreate(WriteTxn& txn, const OpaqueKey& key, kj::ArrayPtr<const kj::byte> value,
                  std::string_view origin) {
  const std::string name = describe(key);
  if (key.revision != 0) {
    throw Error(ErrorCode::kInvalidArgument,
                "a record created offline must be revision 0, not " + name);
  }
  auto tree = txn.tree(key.tree);
  std::string granted = grantee(txn, key.tree, key.id);
  if (granted != origin) {
    throw Error(ErrorCode::kDenied,
                name + " lies outside the id ranges granted to '" + std::string(origin) + "'" +
                    (granted.empty() ? std::string() : " (it was granted to '" + granted + "')"));
  }
  Pushed pushed(tree, key, value);
  auto env = pushed.envelope;
  // What the server stores is what every replica gets: a new record is a
  // draft of its creator, at its first meta iteration.
  if (env.getState() != wire::State::DRAFT || env.getLifecycle() != 0 ||
      env.getMetaIteration() != 1 || env.getDataIteration() == 0) {
    throw Error(ErrorCode::kInvalidArgument,
                name + " arrived as more than a new draft (state, lifecycle or iterations)");
  }
  if (std::string_view(env.getAuthor().cStr()) != origin) {
    throw Error(ErrorCode::kInvalidArgument,
                name + " names '" + std::string(env.getAuthor().cStr()) + "' as its author, not '" +
                    std::string(origin) + "' who pushed it");
  }
  if (auto existing = tree.find(key.id, 0)) {
    if (existing.holds(value)) return;  // pushed again after a lost answer
    // Pushed again with later edits (its client lost the answer and
    // restarted): while nobody else has touched it, the edit is taken.
    auto stored = existing.envelope();
    bool untouched = std::string_view(stored.getAuthor().cStr()) == origin &&
                     stored.getMetaIteration() == 1 && !protocol::findBorrow(txn, key) &&
                     env.getDataIteration() > stored.getDataIteration();
    if (!untouched) throw Error(ErrorCode::kAlreadyExists, name + " exists already");
    tree.adopt(key.id, 0, value, origin);
    return;
  }
  if (tree.latestRevision(key.id)) {
    throw Error(ErrorCode::kAlreadyExists,
                "id " + std::to_string(key.id) + " of tree '" + key.tree + "' is taken already");
  }
  tree.adopt(key.id, 0, value, origin);
}

BorrowInfo checkOut(WriteTxn& txn, const OpaqueKey& key, std::string_view holder) {
  if (holder.empty()) {
    throw Error(ErrorCode::kInvalidArgument, "a check-out of " + describe(key) + " names no holder");
  }
  auto tree = txn.tree(key.tree);
  const StoredRecord rec = tree.require(key.id, key.revision);
  if (rec.state() == State::kReleased) {
    throw Error(ErrorCode::kReleased, describe(key) +
                                          " is released: it cannot be checked out; make a new "
                                          "revision to edit it");
  }
  if (auto held = notHeldByOthers(txn, key, holder)) return *held;
  BorrowInfo borrow{key, std::string(holder), nextFencing(txn), std::chrono::system_clock::now(),
                    false};
  protocol::putBorrow(txn, borrow);
  tree.recordEntry(sync::kBorrowed, key.id, key.revision, holder, borrow.fencing, {}, holder);
  return borrow;
}

void checkIn(WriteTxn& txn, const OpaqueKey& key, const CheckIn& in) {
  const std::string name = describe(key);
  auto tree = txn.tree(key.tree);
  auto held = protocol::findBorrow(txn, key);
  if (!held) {
    throw Error(ErrorCode::kNotBorrowed,
                name + " is not checked out: check it out before checking it in");
  }
  if (held->holder != in.holder) {
    throw Error(ErrorCode::kBorrowed, name + " is checked out to '" + held->holder + "', not to '" +
                                          std::string(in.holder) + "'");
  }
  if (held->fencing != in.fencing) {
    throw Error(ErrorCode::kStaleBorrow, "the check-in of " + name + " carries fencing number " +
                                             std::to_string(in.fencing) + " but the borrow has " +
                                             std::to_string(held->fencing) +
                                             ": the borrow was broken and granted again since");
  }
  {
    const StoredRecord rec = tree.require(key.id, key.revision);
    if (in.removed) {
      if (rec.state() == State::kReleased) {
        throw Error(ErrorCode::kReleased, name + " is released: it cannot be removed");
      }
    } else if (in.value.size() != 0) {
      Pushed pushed(tree, key, in.value);
      auto env = pushed.envelope;
      auto now = rec.envelope();
      if (env.getState() != now.getState() || env.getLifecycle() != now.getLifecycle() ||
          env.getMetaIteration() != now.getMetaIteration() ||
          env.getCreated() != now.getCreated()) {
        throw Error(ErrorCode::kInvalidArgument,
                    "the check-in of " + name +
                        " changes more than the record's data (state, lifecycle or creation)");
      }
      bool same = rec.holds(in.value);
      if (!same && env.getDataIteration() <= now.getDataIteration()) {
        throw Error(ErrorCode::kInvalidArgument,
                    "the check-in of " + name + " is not newer than the server's record");
      }
      if (!same && std::string_view(env.getAuthor().cStr()) != in.holder) {
        throw Error(ErrorCode::kInvalidArgument,
                    "the check-in of " + name + " names '" + std::string(env.getAuthor().cStr()) +
                        "' as its author, not its holder '" + std::string(in.holder) + "'");
      }
    }
  }
  if (in.removed) {
    tree.adopt(key.id, key.revision, {}, in.holder);
  } else if (in.value.size() != 0) {
    tree.adopt(key.id, key.revision, in.value, in.holder);
  }
  if (in.keepBorrow && !in.removed) return;
  protocol::dropBorrow(txn, key);
  tree.recordEntry(sync::kCheckedIn, key.id, key.revision, in.holder, in.fencing, {},
                   in.holder);
}

BorrowInfo breakBorrow(WriteTxn& txn, const OpaqueKey& key, std::string_view by) {
  auto held = protocol::findBorrow(txn, key);
  if (!held) {
    throw Error(ErrorCode::kNotBorrowed, describe(key) + " is not checked out: nothing to break");
  }
  protocol::dropBorrow(txn, key);
  // The record as the server holds it travels with the entry, so the old
  // holder's client can tell whether it had edits the server never got.
  auto tree = txn.tree(key.tree);
  auto rec = tree.find(key.id, key.revision);
  tree.recordEntry(sync::kBorrowBroken, key.id, key.revision, held->holder, held->fencing,
                   rec ? rec.value() : kj::ArrayPtr<const capnp::word>(), by);
  return *held;
}

}  // namespace hills::server
