// Changes that another database made, stored here as their bytes came
// (applyChange, adopt), and the change-log entries of write hooks.

#include "hills/txn.h"
#include "hills/write_hook.h"
#include "log.h"
#include "state.h"
#include "storage.h"
#include "value_check.h"
#include "write_path.h"

namespace hills {

using detail::TreeState;
using detail::TxnState;

namespace {

// Where another database's value stands against the record held here, by
// the iteration counters that only grow.
enum class Standing { kBehind, kAhead, kBeside };

Standing standing(wire::Envelope::Reader held, wire::Envelope::Reader incoming) {
  auto heldData = held.getDataIteration(), heldMeta = held.getMetaIteration();
  auto data = incoming.getDataIteration(), meta = incoming.getMetaIteration();
  bool level = data == heldData && meta == heldMeta;
  if (!level && data <= heldData && meta <= heldMeta) return Standing::kBehind;
  if (!level && data >= heldData && meta >= heldMeta) return Standing::kAhead;
  return Standing::kBeside;
}

// Whether a write hook keeps this database's `held` value against a
// concurrent one from `origin`.
bool keptOwn(TxnState& t, const TreeState& ts, EventKind kind, std::uint64_t id,
             std::uint32_t revision, const StoredRecord& held,
             kj::ArrayPtr<const capnp::word> incoming, std::string_view origin) {
  const auto& hooks = t.db->options.hooks;
  if (hooks.empty()) return false;
  detail::InPlace after(&ts, id, revision, incoming);
  Mutation m{kind, ts.name, id, revision, &held, &after.record, origin, true, true};
  bool keep = false;
  detail::TxnAccess::withWriteTxn(&t, [&](WriteTxn& txn) {
    for (const auto& hook : hooks) keep = keep || hook->keepOwn(txn, m);
  });
  return keep;
}

// Stores another database's value of (id, revision) as change `kind`.
// `onlyNewer`: skip a value behind the record (or equal to it); a value
// beside it is stored as concurrent. Otherwise it is stored unless equal.
bool storeValue(TxnState& t, GenericTree& tree, EventKind kind, std::uint64_t id,
                std::uint32_t revision, kj::ArrayPtr<const kj::byte> bytes,
                std::string_view origin, bool onlyNewer) {
  const TreeState& ts = *detail::TxnAccess::state(tree);
  auto previous = tree.find(id, revision);
  // The value is stored as it came: the same bytes on every database,
  // checked to be a record of this tree.
  kj::Array<capnp::word> copy;
  auto words = detail::valueWords(ts, id, revision, bytes, copy);
  detail::ValueReader reader(words);
  auto env = detail::envelopeOf(reader, ts, id, revision);
  bool concurrent = false;
  if (previous) {
    if (previous.holds(bytes)) return false;
    if (onlyNewer) {
      auto where = standing(previous.envelope(), env);
      if (where == Standing::kBehind) return false;
      concurrent = where == Standing::kBeside;
    }
  }
  if (env.getTypeId() != ts.typeId) {
    throw Error(ErrorCode::kWrongTree, "a change of " + describe(ts.name, id, revision) +
                                           " holds a record of another type");
  }
  // Nothing that fails to read as a record of this tree is stored: every
  // reader of every database would fail on it.
  detail::checkValue(ts, id, revision, words);
  if (concurrent && keptOwn(t, ts, kind, id, revision, previous, words, origin)) return false;
  detail::Mutating m{kind, id, revision, previous ? &previous : nullptr};
  if (m.kind == EventKind::kCreated && previous) m.kind = EventKind::kUpdated;
  if (previous && t.db->hub->active() && m.kind == EventKind::kUpdated) {
    try {
      m.changed = detail::changedFields(ts.schema, previous.body().getAs<capnp::AnyStruct>(),
                                        env.getBody().getAs<capnp::AnyStruct>());
    } catch (const kj::Exception& e) {
      detail::throwCorrupt(ts, id, revision, e);
    }
  }
  m.value = words;
  m.envelope = env;
  m.fresh = !previous;
  m.origin = origin;
  m.applied = true;
  m.concurrent = concurrent;
  detail::storeMutation(t, ts, m);
  return true;
}

// Removes a record as another database did; false when it is absent.
bool removeValue(TxnState& t, GenericTree& tree, std::uint64_t id, std::uint32_t revision,
                 std::string_view origin) {
  auto previous = tree.find(id, revision);
  if (!previous) return false;  // applied already
  detail::Mutating m{EventKind::kRemoved, id, revision, &previous};
  m.origin = origin;
  m.applied = true;
  detail::storeMutation(t, *detail::TxnAccess::state(tree), m);
  return true;
}

}  // namespace

void GenericTree::applyChange(wire::Change::Reader change, std::string_view origin) {
  TxnState& t = *txn_;
  detail::requireWritable(t);
  std::uint64_t id = change.getId();
  std::uint32_t revision = change.getRevision();
  // The entry came from another database: its Text and Data fields must
  // decode before anything here reads them (write hooks' applyEntry too).
  try {
    change.getTree();
    change.getOrigin();
    change.getNote();
    change.getValue();
  } catch (const kj::Exception& e) {
    throw Error(ErrorCode::kCorrupt, "a change of " + describe(tree_->name, id, revision) +
                                         " does not decode: " + e.getDescription().cStr());
  }
  if (change.getTree() != tree_->name) {
    throw Error(ErrorCode::kWrongTree, "a change of tree '" + std::string(change.getTree().cStr()) +
                                           "' applied to tree '" + tree_->name + "'");
  }
  auto kind = detail::eventKind(change.getKind());
  switch (kind) {
    case EventKind::kRemoved:
      removeValue(t, *this, id, revision, origin);
      return;
    case EventKind::kCreated:
    case EventKind::kUpdated:
    case EventKind::kReleased:
    case EventKind::kNewRevision:
    case EventKind::kLifecycleChanged:
      storeValue(t, *this, kind, id, revision, change.getValue(), origin, true);
      return;
  }
  // A write hook's entry: the hook that takes it applies it.
  bool taken = false;
  detail::TxnAccess::withWriteTxn(&t, [&](WriteTxn& txn) {
    for (const auto& hook : t.db->options.hooks) {
      if (hook->applyEntry(txn, change, origin)) {
        taken = true;
        return;
      }
    }
  });
  if (!taken) return;
  auto rec = find(id, revision);
  auto value = change.getValue();
  kj::Array<capnp::word> copy;
  auto words = value.size() == 0 ? kj::ArrayPtr<const capnp::word>()
                                 : detail::valueWords(*tree_, id, revision, value, copy);
  detail::recordChange(t, *tree_, kind, id, revision,
                       rec ? rec.envelope().getDataIteration() : 0,
                       rec ? rec.envelope().getMetaIteration() : 0, words, {},
                       detail::ChangeNote{origin, change.getNote().cStr(), change.getNumber()});
}

void GenericTreeView::checkValue(std::uint64_t id, std::uint32_t revision,
                                 kj::ArrayPtr<const kj::byte> value) const {
  const TreeState& ts = *tree_;
  kj::Array<capnp::word> copy;
  auto words = detail::valueWords(ts, id, revision, value, copy);
  detail::ValueReader reader(words);
  if (detail::envelopeOf(reader, ts, id, revision).getTypeId() != ts.typeId) {
    throw Error(ErrorCode::kWrongTree,
                describe(ts.name, id, revision) + " holds a record of another type");
  }
  detail::checkValue(ts, id, revision, words);
}

bool GenericTree::adopt(std::uint64_t id, std::uint32_t revision,
                        kj::ArrayPtr<const kj::byte> value, std::string_view origin) {
  TxnState& t = *txn_;
  detail::requireWritable(t);
  if (value.size() == 0) return removeValue(t, *this, id, revision, origin);
  return storeValue(t, *this, EventKind::kCreated, id, revision, value, origin, false);
}

void GenericTree::recordEntry(EventKind kind, std::uint64_t id, std::uint32_t revision,
                              std::string_view note, std::uint64_t number,
                              kj::ArrayPtr<const capnp::word> value, std::string_view origin) {
  TxnState& t = *txn_;
  detail::requireWritable(t);
  if (static_cast<unsigned>(kind) < static_cast<unsigned>(kFirstHookKind)) {
    throw Error(ErrorCode::kInvalidArgument,
                "recordEntry takes a write hook's kind, not '" + std::string(toString(kind)) +
                    "' (" + describe(tree_->name, id, revision) + ")");
  }
  auto rec = find(id, revision);
  detail::recordChange(t, *tree_, kind, id, revision, rec ? rec.envelope().getDataIteration() : 0,
                       rec ? rec.envelope().getMetaIteration() : 0, value, {},
                       detail::ChangeNote{origin, note, number});
}

}  // namespace hills
