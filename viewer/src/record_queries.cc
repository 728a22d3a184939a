#include "record_queries.h"

#include <capnp/dynamic.h>

#include <set>

#include "hills/ref.h"

namespace hills::viewer {

namespace {

// Whether a struct of `schema` can hold a reference into `tree`.
bool refersTo(capnp::StructSchema schema, std::string_view tree, std::set<std::uint64_t>& seen) {
  if (!seen.insert(schema.getProto().getId()).second) return false;
  for (auto field : schema.getFields()) {
    auto type = field.getType();
    while (type.isList()) type = type.asList().getElementType();
    if (!type.isStruct()) continue;
    if (isRefType(type)) {
      if (refTarget(field) == tree) return true;
      continue;
    }
    if (refersTo(type.asStruct(), tree, seen)) return true;
  }
  return false;
}

}  // namespace

std::vector<Revision> history(const Database& db, const std::string& tree, std::uint64_t id) {
  return db.read([&](const ReadTxn& txn) {
    std::vector<Revision> out;
    txn.tree(tree).scan(id, id, [&](const StoredRecord& rec) {
      auto meta = rec.meta();
      out.push_back({rec.revision(), meta.state, meta.lifecycle, meta.author, meta.modified});
      return true;
    });
    return out;
  });
}

std::vector<Use> whereUsed(const Database& db, const OpaqueKey& target, std::size_t limit,
                           bool* truncated) {
  if (truncated) *truncated = false;
  auto trees = db.trees();
  return db.read([&](const ReadTxn& txn) {
    std::vector<Use> out;
    // A reference's leaf text, as value_text writes it: "parts 42/1".
    std::string text =
        target.tree + " " + std::to_string(target.id) + "/" + std::to_string(target.revision);
    for (const auto& info : trees) {
      auto tree = txn.tree(info.name);
      std::set<std::uint64_t> seen;
      if (!refersTo(tree.schema(), target.tree, seen)) continue;
      bool more = true;
      tree.scan(0, UINT64_MAX, [&](const StoredRecord& rec) {
        try {
          bool found = false;
          forEachRef(tree.schema(), rec.body(), [&](const RefValue& ref) {
            found = found || (ref.tree == target.tree && ref.id == target.id &&
                              ref.revision == target.revision);
          });
          if (!found) return true;
          for (const auto& leaf : leaves(rec.body().getAs<capnp::DynamicStruct>(tree.schema()))) {
            if (leaf.text != text) continue;
            if (out.size() == limit) {
              if (truncated) *truncated = true;
              more = false;
              return false;
            }
            out.push_back({{info.name, rec.id(), rec.revision()}, leaf.path});
          }
        } catch (const kj::Exception&) {
          // A record that does not decode references nothing the viewer can show.
        }
        return true;
      });
      if (!more) break;
    }
    return out;
  });
}

std::vector<FieldDiff> diffRevisions(const Database& db, const std::string& tree, std::uint64_t id,
                                     std::uint32_t before, std::uint32_t after) {
  return db.read([&](const ReadTxn& txn) {
    auto view = txn.tree(tree);
    auto a = view.require(id, before);
    auto b = view.require(id, after);
    try {
      return diff(a.body().getAs<capnp::DynamicStruct>(view.schema()),
                  b.body().getAs<capnp::DynamicStruct>(view.schema()));
    } catch (const kj::Exception& e) {
      // Name the revision that does not decode.
      try {
        (void)a.body().getAs<capnp::DynamicStruct>(view.schema()).totalSize();
      } catch (const kj::Exception&) {
        a.throwCorrupt(e);
      }
      b.throwCorrupt(e);
    }
  });
}

}  // namespace hills::viewer
