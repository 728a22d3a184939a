// Changes a program makes to its own trees: create, update, remove,
// release, new revision, lifecycle, and its id ranges. Changes that another
// database made are in apply.cc; both take the write path (write_path.cc).
#include "hills/tree.h"
#include "hills/txn.h"
#include "ids.h"
#include "state.h"
#include "storage.h"
#include "write_path.h"

namespace hills {

using detail::TreeState;
using detail::TxnState;

using detail::requireWritable;

void GenericTree::addIdRange(std::uint64_t start, std::uint64_t end) {
  requireWritable(*txn_);
  detail::addIdRange(*txn_, *tree_, start, end);
}

void GenericTree::dropIdRange(std::uint64_t start, std::uint64_t end) {
  requireWritable(*txn_);
  detail::dropIdRange(*txn_, *tree_, start, end);
}

std::pair<std::uint64_t, std::uint64_t> GenericTree::grantIds(std::uint64_t count) {
  requireWritable(*txn_);
  return detail::grantIds(*txn_, *tree_, count);
}

std::uint64_t GenericTree::create(BodyWriter write) {
  TxnState& t = *txn_;
  requireWritable(t);
  if (!t.db->options.hooks.empty()) {
    detail::TxnAccess::withWriteTxn(&t, [&](WriteTxn& txn) {
      for (const auto& hook : t.db->options.hooks) hook->checkCreate(txn, tree_->name);
    });
  }
  std::uint64_t id = detail::allocateId(t, *tree_);
  detail::ValueBuilder builder(t);
  auto& msg = builder.get();
  auto env = msg.initRoot<wire::Envelope>();
  env.setState(wire::State::DRAFT);
  env.setTypeId(tree_->typeId);
  env.setCreated(t.now);
  env.setModified(t.now);
  env.setAuthor(t.db->options.author);
  env.setDataIteration(1);
  env.setMetaIteration(1);
  bool compact = write(env.getBody(), capnp::AnyPointer::Reader());
  kj::Array<capnp::word> spill;
  detail::Mutating m{EventKind::kCreated, id, 0};
  m.value = detail::singleSegment(msg, compact, spill);
  m.envelope = msg.getRoot<wire::Envelope>().asReader();
  m.fresh = true;
  detail::storeMutation(t, *tree_, m);
  return id;
}

void GenericTree::update(std::uint64_t id, std::uint32_t revision, BodyWriter write) {
  TxnState& t = *txn_;
  requireWritable(t);
  const StoredRecord old = require(id, revision);
  auto draftsOnly = [&] {
    if (old.state() == State::kReleased) {
      throw Error(ErrorCode::kReleased, describe(tree_->name, id, revision) +
                                            " is released: its data is frozen; make a new revision");
    }
  };
  // Without write hooks nothing comes between: a released record is refused
  // before the body writer runs.
  if (t.db->options.hooks.empty()) draftsOnly();
  try {
    auto o = old.envelope();
    detail::ValueBuilder builder(t);
    auto& msg = builder.get();
    auto env = msg.initRoot<wire::Envelope>();
    env.setState(o.getState());
    env.setLifecycle(o.getLifecycle());
    env.setTypeId(o.getTypeId());
    env.setCreated(o.getCreated());
    env.setModified(t.now);
    env.setAuthor(t.db->options.author);
    env.setDataIteration(o.getDataIteration() + 1);
    env.setMetaIteration(o.getMetaIteration());
    bool compact = write(env.getBody(), o.getBody());
    bool notify = t.db->hub->active();
    std::vector<std::string> changed;
    if (notify) {
      // Compared before the put: afterwards LMDB may have moved the old bytes.
      changed = detail::changedFields(tree_->schema, o.getBody().getAs<capnp::AnyStruct>(),
                                      env.getBody().asReader().getAs<capnp::AnyStruct>());
    }
    kj::Array<capnp::word> spill;
    detail::Mutating m{EventKind::kUpdated, id, revision, &old};
    m.value = detail::singleSegment(msg, compact, spill);
    m.envelope = env.asReader();
    m.changed = std::move(changed);
    detail::storeMutation(t, *tree_, m, draftsOnly);
  } catch (const kj::Exception& e) {
    detail::throwCorrupt(*tree_, id, revision, e);
  }
}

void GenericTree::remove(std::uint64_t id, std::uint32_t revision) {
  TxnState& t = *txn_;
  requireWritable(t);
  const StoredRecord old = require(id, revision);
  detail::Mutating m{EventKind::kRemoved, id, revision, &old};
  detail::storeMutation(t, *tree_, m, [&] {
    if (old.state() == State::kReleased) {
      throw Error(ErrorCode::kReleased, describe(tree_->name, id, revision) +
                                            " is released: it cannot be removed, so that records "
                                            "that point to it keep what they pointed to");
    }
  });
}

namespace {

// Stores a copy of `old` changed by `change` under (id, revision), and
// records the event `kind`; `rules` are hills' rules for the operation.
template <class F>
void rewrite(TxnState& t, const TreeState& tree, const StoredRecord& old, std::uint64_t id,
             std::uint32_t revision, bool fresh, EventKind kind, F&& change,
             kj::FunctionParam<void()> rules = [] {}) {
  try {
    detail::ValueBuilder builder(t);
    auto& msg = builder.get();
    msg.setRoot(old.envelope());
    auto env = msg.getRoot<wire::Envelope>();
    env.setModified(t.now);
    env.setAuthor(t.db->options.author);
    change(env);
    kj::Array<capnp::word> spill;
    // A new revision is a new record: it replaces nothing.
    detail::Mutating m{kind, id, revision, fresh ? nullptr : &old};
    m.value = detail::singleSegment(msg, false, spill);
    m.envelope = env.asReader();
    m.fresh = fresh;
    detail::storeMutation(t, tree, m, rules);
  } catch (const kj::Exception& e) {
    detail::throwCorrupt(tree, old.id(), old.revision(), e);
  }
}

void requireVersioned(const TreeState& tree, std::string_view what) {
  if (!tree.versioned) {
    throw Error(ErrorCode::kUnversioned, "tree '" + tree.name +
                                             "' is unversioned: its records are "
                                             "edited in place and cannot " +
                                             std::string(what));
  }
}

}  // namespace

void GenericTree::release(std::uint64_t id, std::uint32_t revision) {
  TxnState& t = *txn_;
  requireWritable(t);
  requireVersioned(*tree_, "be released");
  const StoredRecord old = require(id, revision);
  rewrite(
      t, *tree_, old, id, revision, false, EventKind::kReleased,
      [&](wire::Envelope::Builder env) {
        env.setState(wire::State::RELEASED);
        env.setMetaIteration(env.getMetaIteration() + 1);
      },
      [&] {
        if (old.state() == State::kReleased) {
          throw Error(ErrorCode::kReleased,
                      describe(tree_->name, id, revision) + " is released already");
        }
      });
}

std::uint32_t GenericTree::newRevision(std::uint64_t id, std::uint32_t revision) {
  TxnState& t = *txn_;
  requireWritable(t);
  requireVersioned(*tree_, "have new revisions");
  auto latest = latestRevision(id);
  const StoredRecord old = require(id, revision);
  if (revision == UINT32_MAX) {
    throw Error(ErrorCode::kInvalidArgument,
                describe(tree_->name, id, revision) + " has no next revision");
  }
  rewrite(
      t, *tree_, old, id, revision + 1, true, EventKind::kNewRevision,
      [&](wire::Envelope::Builder env) {
        env.setState(wire::State::DRAFT);
        env.setLifecycle(0);
        env.setCreated(t.now);
        env.setDataIteration(1);
        env.setMetaIteration(1);
      },
      [&] {
        if (old.state() != State::kReleased) {
          throw Error(ErrorCode::kNotReleased,
                      describe(tree_->name, id, revision) +
                          " is a draft: edit it, or release it before making a new revision");
        }
        if (!latest) {
          throw Error(ErrorCode::kCorrupt, "tree '" + tree_->name +
                                               "' holds a malformed key near id " +
                                               std::to_string(id) + " (database " + t.db->path +
                                               ")");
        }
        if (latest != revision) {
          throw Error(ErrorCode::kNotLatest, describe(tree_->name, id, revision) +
                                                 " is not the newest revision; " +
                                                 describe(tree_->name, id, *latest) + " is");
        }
      });
  return revision + 1;
}

void GenericTree::setLifecycle(std::uint64_t id, std::uint32_t revision, std::uint32_t lifecycle) {
  TxnState& t = *txn_;
  requireWritable(t);
  const StoredRecord old = require(id, revision);
  rewrite(t, *tree_, old, id, revision, false, EventKind::kLifecycleChanged,
          [&](wire::Envelope::Builder env) {
            env.setLifecycle(lifecycle);
            env.setMetaIteration(env.getMetaIteration() + 1);
          });
}

}  // namespace hills
