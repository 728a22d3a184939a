// Partial replicas: the trees a replica follows, and what changes when
// that set changes between two opens (docs/ARCHITECTURE.md, "Partial
// replicas").
#include <algorithm>
#include <set>
#include <sstream>

#include "replica.h"

namespace hills::client {

namespace {

// Properties: the trees the replica followed when it was last open ("*":
// every tree; absent: a replica made before partial replicas, which
// followed every tree), the trees added since whose snapshot is still to
// be stored, and for each tree added to a replica that had followed the
// log, the sequence of the snapshot its records came from.
constexpr char kFollowed[] = "replicatedTrees";
constexpr char kAdding[] = "syncAddingTrees";
constexpr char kSnapshotOf[] = "syncTreeSnapshots";

constexpr char kEvery[] = "*";

std::vector<std::string> lines(std::string_view text) {
  std::vector<std::string> out;
  std::istringstream in{std::string(text)};
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) out.push_back(line);
  }
  return out;
}

std::string joined(const std::vector<std::string>& names, std::string_view separator = "\n") {
  std::string out;
  for (const auto& name : names) {
    if (!out.empty()) out += separator;
    out += name;
  }
  return out;
}

// tree -> sequence, from "tree sequence" lines.
std::vector<std::pair<std::string, std::uint64_t>> snapshotsOf(const ReadTxn& txn) {
  std::vector<std::pair<std::string, std::uint64_t>> out;
  for (const auto& line : lines(txn.property(kSnapshotOf).value_or(""))) {
    auto space = line.rfind(' ');
    if (space == std::string::npos) continue;
    out.emplace_back(line.substr(0, space), std::stoull(line.substr(space + 1)));
  }
  return out;
}

}  // namespace

bool Replica::replicates(std::string_view tree) const {
  return replicate_.empty() || std::find(replicate_.begin(), replicate_.end(), tree) != replicate_.end();
}

void Replica::followTrees(WriteTxn& txn, const std::vector<std::string>& known) {
  std::string now = replicate_.empty() ? kEvery : joined(replicate_);
  auto stored = txn.property(kFollowed);
  std::string before = stored.value_or(kEvery);
  if (before == now) return;
  // A replica that has applied nothing of a log yet starts from a snapshot
  // of whatever it follows now.
  bool followed = cursor(txn) > 0;
  std::set<std::string> was, is;
  for (const auto& t : before == kEvery ? known : lines(before)) was.insert(t);
  for (const auto& t : replicate_.empty() ? known : replicate_) is.insert(t);
  std::vector<std::string> dropped, added;
  if (before != kEvery) {
    for (const auto& t : is) {
      if (!was.count(t)) added.push_back(t);
    }
  }
  if (!replicate_.empty()) {
    for (const auto& t : (before == kEvery ? known : lines(before))) {
      if (!is.count(t)) dropped.push_back(t);
    }
  }
  if (followed && !dropped.empty()) {
    throw Error(ErrorCode::kInvalidArgument,
                "client '" + name_ + "' replicated tree(s) " + joined(dropped, ", ") +
                    " when last open, and ClientOptions::replicate leaves them out now: their "
                    "records here would no longer change with the server's. Open it with them "
                    "again, or make a new replica (an empty directory) with fewer trees");
  }
  if (followed && !added.empty()) {
    auto queued = adding(txn);
    for (auto& t : added) {
      if (std::find(queued.begin(), queued.end(), t) == queued.end()) queued.push_back(t);
    }
    txn.setProperty(kAdding, joined(queued));
  }
  txn.setProperty(kFollowed, now);
}

std::vector<std::string> Replica::adding(const ReadTxn& txn) const {
  return lines(txn.property(kAdding).value_or(""));
}

void Replica::startAdding(WriteTxn& txn, std::uint64_t sequence) {
  auto snapshots = snapshotsOf(txn);
  std::string text;
  for (const auto& tree : adding(txn)) {
    bool known = std::any_of(snapshots.begin(), snapshots.end(),
                             [&](const auto& s) { return s.first == tree; });
    if (!known) snapshots.emplace_back(tree, sequence);
  }
  for (const auto& [tree, from] : snapshots) text += tree + " " + std::to_string(from) + "\n";
  txn.setProperty(kSnapshotOf, text);
}

void Replica::doneAdding(WriteTxn& txn) { txn.setProperty(kAdding, ""); }

std::map<std::string, std::uint64_t, std::less<>> Replica::treeSnapshots(const ReadTxn& txn) const {
  std::map<std::string, std::uint64_t, std::less<>> out;
  for (auto& [tree, from] : snapshotsOf(txn)) out.emplace(std::move(tree), from);
  return out;
}

}  // namespace hills::client
