// Partial replicas on the server: the trees a client may read (its
// account's `trees`) and the trees one session follows (its hello's
// `trees`). The session's scope filters what the server sends it (log
// batches, pulls, snapshots, borrows) and refuses its requests about other
// trees; docs/ARCHITECTURE.md, "Partial replicas".
#pragma once

#include <capnp/list.h>

#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "hills/database.h"
#include "hills/protocol.h"
#include "hills/server.h"

namespace hills::server {

// Whether `account` may read `tree` (its trees list is empty, or names it).
bool mayRead(const ClientAccount& account, std::string_view tree);

// Throws Error(kDenied) naming the client and the tree when `account` may
// not read `tree`.
void requireReadable(const ClientAccount& account, std::string_view tree);

// The trees one session follows: every tree, or a set of them.
class TreeScope {
 public:
  // Every tree.
  TreeScope() = default;

  // The scope a hello asks for: `trees` empty is every tree the account may
  // read (every tree, for an account that may read every tree; the trees
  // its configuration lists, for one limited to some, including those the
  // server comes to hold later). Throws
  // Error(kUnknownTree) for a tree `db` does not hold and Error(kDenied)
  // for one `account` may not read, naming the tree and the client; and
  // Error(kDenied) for an empty list from an account limited to some trees
  // while the server holds others, since such a session would miss them.
  static TreeScope ofHello(const Database& db, const ClientAccount& account,
                           capnp::List<capnp::Text>::Reader trees);

  // Every tree, without filtering.
  bool all() const { return trees_ == nullptr; }
  bool follows(std::string_view tree) const { return all() || trees_->count(tree) > 0; }

  // Throws Error(kWrongTree) naming the tree and `client` when the session
  // does not follow `tree`: `what` is the request ("check out", "push").
  void require(std::string_view tree, std::string_view client, std::string_view what) const;

  // "parts, stock", or "every tree".
  std::string describe() const;

 private:
  std::shared_ptr<const std::set<std::string, std::less<>>> trees_;  // null: every tree
};

// Most records one fetch may ask for.
inline constexpr unsigned kMaxFetch = sync::MAX_FETCH;

// Session.fetch: reads the records `wanted` names, of any tree `account`
// may read, in one read transaction of `db`, into `results`. Throws
// Error(kDenied) naming the tree when the account may not read one of
// them (before reading anything), kUnknownTree for a tree `db` does not
// hold, kInvalidArgument for more than kMaxFetch keys.
void fetchRecords(const Database& db, const ClientAccount& account,
                  capnp::List<sync::Wanted>::Reader wanted,
                  sync::Session::FetchResults::Builder results);

}  // namespace hills::server
