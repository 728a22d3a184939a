// What the core does with indexes: open-time rebuilds and the indexer hook
// that every mutation runs.
#pragma once

#include <functional>
#include <string>
#include <string_view>

#include "hills/index.h"

namespace hills::detail {

struct IndexState;
struct TxnState;
struct TreeState;

struct IndexOps {
  static GenericTreeView treeView(TxnState* t, TreeState* tree);
  static IndexView view(TxnState* t, std::string_view name);
  // In a write transaction: whether `key` sorts after every key of the
  // index, so it is absent for sure (checked without a search when the
  // transaction knows its last key, as it does while keys come in order).
  static bool sortsLast(const IndexView& view, std::string_view key);

  // Runs the tree's indexers for one mutation, before it is stored: every
  // check first, then every apply. A check's refusal throws Error naming the
  // indexer and the record, with nothing written. A failure in apply also
  // marks the transaction so it cannot commit.
  static void apply(TxnState& t, const TreeState& tree, const IndexedRecord* before,
                    const IndexedRecord* after);
  // The stored words of a record.
  static kj::ArrayPtr<const capnp::word> words(const StoredRecord& rec) {
    return rec.reader_.words();
  }

  // Empties the index and feeds it every record of its tree; stores its stamp.
  static void rebuild(
      TxnState& t, IndexState& ix,
      const std::function<void(std::string_view, std::uint64_t, std::uint64_t)>& progress);
  // "<version> <tree>": what an index was built for, kept in _meta.
  static std::string stamp(const IndexState& ix);
};

}  // namespace hills::detail
