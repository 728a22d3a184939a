#include "tree_scope.h"

#include <algorithm>

namespace hills::server {

namespace {

std::string joined(const std::set<std::string, std::less<>>& names) {
  std::string out;
  for (const auto& name : names) out += (out.empty() ? "" : ", ") + name;
  return out;
}

}  // namespace

bool mayRead(const ClientAccount& account, std::string_view tree) {
  return account.trees.empty() ||
         std::find(account.trees.begin(), account.trees.end(), tree) != account.trees.end();
}

void requireReadable(const ClientAccount& account, std::string_view tree) {
  if (mayRead(account, tree)) return;
  throw Error(ErrorCode::kDenied, "client '" + account.name + "' may not read tree '" +
                                      std::string(tree) +
                                      "': the server's configuration does not allow it");
}

TreeScope TreeScope::ofHello(const Database& db, const ClientAccount& account,
                             capnp::List<capnp::Text>::Reader trees) {
  std::set<std::string, std::less<>> held;
  for (const auto& tree : db.trees()) held.insert(tree.name);
  TreeScope scope;
  if (trees.size() == 0) {
    for (const auto& tree : held) {
      if (mayRead(account, tree)) continue;
      throw Error(ErrorCode::kDenied,
                  "client '" + account.name + "' asked for every tree, but it may not read tree '" +
                      tree + "': its replica must name the trees it follows (ClientOptions::"
                      "replicate)");
    }
    // An account limited to some trees follows those only, whatever the
    // server comes to hold later.
    if (!account.trees.empty()) {
      scope.trees_ = std::make_shared<std::set<std::string, std::less<>>>(account.trees.begin(),
                                                                         account.trees.end());
    }
    return scope;
  }
  auto wanted = std::make_shared<std::set<std::string, std::less<>>>();
  for (auto name : trees) {
    std::string tree = name.cStr();
    if (held.count(tree) == 0) {
      throw Error(ErrorCode::kUnknownTree, "client '" + account.name + "' asked for tree '" +
                                               tree + "', which this server does not hold");
    }
    requireReadable(account, tree);
    wanted->insert(std::move(tree));
  }
  scope.trees_ = std::move(wanted);
  return scope;
}

void TreeScope::require(std::string_view tree, std::string_view client,
                        std::string_view what) const {
  if (follows(tree)) return;
  throw Error(ErrorCode::kWrongTree,
              "client '" + std::string(client) + "' may not " + std::string(what) + " in tree '" +
                  std::string(tree) + "': its replica follows " + describe() + " only");
}

void fetchRecords(const Database& db, const ClientAccount& account,
                  capnp::List<sync::Wanted>::Reader wanted,
                  sync::Session::FetchResults::Builder results) {
  if (wanted.size() > kMaxFetch) {
    throw Error(ErrorCode::kInvalidArgument, "a fetch of " + std::to_string(wanted.size()) +
                                                 " records; at most " + std::to_string(kMaxFetch) +
                                                 " per call");
  }
  for (auto w : wanted) requireReadable(account, w.getKey().getTree().cStr());
  db.read([&](const ReadTxn& txn) {
    results.setLast(txn.lastSequence());
    auto out = results.initRecords(wanted.size());
    for (unsigned i = 0; i < wanted.size(); ++i) {
      OpaqueKey key = protocol::keyOf(wanted[i].getKey());
      auto tree = txn.tree(key.tree);
      std::optional<std::uint32_t> revision = key.revision;
      if (wanted[i].getNewest()) revision = tree.latestRevision(key.id);
      if (revision) key.revision = *revision;
      protocol::setKey(out[i].initKey(), key);
      if (!revision) continue;
      auto rec = tree.find(key.id, key.revision);
      if (!rec) continue;
      out[i].setFound(true);
      out[i].setValue(rec.value().asBytes());
      out[i].setOrigin(rec.envelope().getAuthor());
    }
  });
}

std::string TreeScope::describe() const { return all() ? "every tree" : joined(*trees_); }

}  // namespace hills::server
