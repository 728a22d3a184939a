// Typed access to the tree of one record type.
//
//   db.write([&](hills::WriteTxn& txn) {
//     auto parts = txn.tree<plm::Part>();
//     hills::Key<plm::Part> key = parts.create({.number = "P-1", .name = "bolt"});
//     parts.release(key);
//   });
//   db.read([&](const hills::ReadTxn& txn) {
//     if (auto part = txn.tree<plm::Part>().read(key)) use(part->getName());
//   });
#pragma once

#include <capnp/schema.h>
#include <kj/exception.h>

#include <optional>
#include <type_traits>
#include <utility>

#include "hills/txn.h"

namespace hills {

namespace detail {

template <TreeRecord T>
bool writeBody(const T& value, capnp::AnyPointer::Builder body,
               capnp::AnyPointer::Reader previous) {
  using Capnp = typename RecordTraits<T>::Capnp;
  if (previous.isNull()) {
    RecordTraits<T>::write(value, body.initAs<Capnp>());
    return false;
  }
  // Start from the stored struct, so that fields a newer schema added (in new
  // words or in padding this schema leaves unused) are kept; hills then
  // compacts away what the rewrite orphaned.
  body.setAs<Capnp>(previous.getAs<Capnp>());
  RecordTraits<T>::write(value, body.getAs<Capnp>());
  return true;
}

// The typed body of a stored record; Error(kCorrupt) naming the key when
// the body is not a struct Cap'n Proto can read.
template <TreeRecord T>
typename RecordTraits<T>::Reader decodeBody(const StoredRecord& rec) {
  try {
    return rec.body().template getAs<typename RecordTraits<T>::Capnp>();
  } catch (const kj::Exception& e) {
    rec.throwCorrupt(e);
  }
}

// fn may return void (visit all) or bool (false stops).
template <class F, class... A>
bool callVisitor(F& fn, A&&... args) {
  if constexpr (std::is_void_v<std::invoke_result_t<F&, A...>>) {
    fn(std::forward<A>(args)...);
    return true;
  } else {
    return static_cast<bool>(fn(std::forward<A>(args)...));
  }
}

}  // namespace detail

// One record of T read in place (zero-copy), from TreeView::read(). Holds
// the reader state, so its Reader is valid while the Record lives and the
// transaction is open (in a write transaction: until the next change made
// through it). Cannot be copied or moved, and the Reader cannot be taken
// from a temporary Record: `*tree.read(k)` does not compile, since the
// Reader would outlive what it reads through.
//
//   if (auto part = parts.read(key)) std::puts(part->getName().cStr());
template <TreeRecord T>
class Record {
 public:
  using Reader = typename RecordTraits<T>::Reader;

  Record(const Record&) = delete;
  Record& operator=(const Record&) = delete;

  // False when the key had no record.
  explicit operator bool() const { return static_cast<bool>(stored_); }

  Reader reader() const& { return reader_; }
  Reader reader() && = delete;
  Reader operator*() const& { return reader_; }
  Reader operator*() && = delete;
  const Reader* operator->() const& { return &reader_; }
  const Reader* operator->() && = delete;

  Key<T> key() const { return Key<T>{stored_.id(), stored_.revision()}; }
  RecordMeta meta() const { return stored_.meta(); }
  // The record as stored: envelope, untyped body.
  const StoredRecord& stored() const { return stored_; }

 private:
  template <TreeRecord U>
  friend class TreeView;
  Record(const GenericTreeView& tree, Key<T> key) : stored_(tree.find(key.id, key.revision)) {
    if (stored_) reader_ = detail::decodeBody<T>(stored_);
  }

  StoredRecord stored_;
  Reader reader_;
};

// Read access to the tree of T inside a transaction; valid until it ends.
// Cheap to copy.
template <TreeRecord T>
class TreeView {
 public:
  using Traits = RecordTraits<T>;
  using Reader = typename Traits::Reader;

  // An owned copy of the record, or empty when absent. Throws Error(kCorrupt)
  // naming the key when the stored value does not decode.
  std::optional<T> get(Key<T> key) const {
    StoredRecord rec = generic_.find(key.id, key.revision);
    if (!rec) return std::nullopt;
    std::optional<T> out(std::in_place);
    try {
      Traits::read(detail::decodeBody<T>(rec), *out);
    } catch (const kj::Exception& e) {
      rec.throwCorrupt(e);
    }
    return out;
  }

  // The record read in place from the memory map (zero-copy); false when
  // absent. See Record for how long its Reader is valid. Fields are
  // bounds-checked as they are read: a corrupt value throws kj::Exception
  // when read through the Reader, and never reads outside its bytes.
  Record<T> read(Key<T> key) const { return Record<T>(generic_, key); }

  // State, lifecycle, times, author and iteration counters, or empty when absent.
  std::optional<RecordMeta> meta(Key<T> key) const {
    StoredRecord rec = generic_.find(key.id, key.revision);
    if (!rec) return std::nullopt;
    return rec.meta();
  }

  bool contains(Key<T> key) const { return generic_.contains(key.id, key.revision); }

  // The key of the newest revision of `id`, or empty when the id has no record.
  std::optional<Key<T>> latest(std::uint64_t id) const {
    auto rev = generic_.latestRevision(id);
    if (!rev) return std::nullopt;
    return Key<T>{id, *rev};
  }

  // Calls fn(Key<T>, Reader) for every record, in key order. fn returns void,
  // or bool where false stops. The Reader is valid during the call only.
  template <class F>
  void forEach(F&& fn) const {
    forEachInRange(0, UINT64_MAX, std::forward<F>(fn));
  }

  // Same, for the records whose id lies in [firstId, lastId].
  template <class F>
  void forEachInRange(std::uint64_t firstId, std::uint64_t lastId, F&& fn) const {
    generic_.scan(firstId, lastId, [&](const StoredRecord& rec) {
      Reader r = detail::decodeBody<T>(rec);
      try {
        return detail::callVisitor(fn, Key<T>{rec.id(), rec.revision()}, r);
      } catch (const kj::Exception& e) {
        rec.throwCorrupt(e);
      }
    });
  }

  // Same, for the revisions of one id, oldest first.
  template <class F>
  void forEachRevision(std::uint64_t id, F&& fn) const {
    forEachInRange(id, id, std::forward<F>(fn));
  }

  // Number of records, all revisions counted.
  std::uint64_t size() const { return generic_.size(); }

  // The same tree without compiled types.
  const GenericTreeView& generic() const { return generic_; }

 protected:
  friend class ReadTxn;
  friend class WriteTxn;
  explicit TreeView(GenericTreeView generic) : generic_(generic) {}

  GenericTreeView generic_;
};

// Read and write access to the tree of T inside a write transaction; valid
// until it ends. Each call does all it says or throws and changes nothing.
template <TreeRecord T>
class Tree : public TreeView<T> {
 public:
  // Stores `value` as a new draft (id, 0) with the next id of this database's
  // range and returns its key. Throws Error(kNoIds) when no id is left.
  Key<T> create(const T& value) {
    auto id = mutableGeneric().create(
        [&](capnp::AnyPointer::Builder body, capnp::AnyPointer::Reader prev) {
          return detail::writeBody(value, body, prev);
        });
    return Key<T>{id, 0};
  }

  // Replaces the data of a draft (any record of an unversioned tree). Fields
  // that a newer schema added and T does not know are kept, at the top level
  // and in nested structs; lists are written afresh, so unknown fields of
  // list elements are not. Throws kNotFound, or kReleased for a released
  // record.
  void update(Key<T> key, const T& value) {
    mutableGeneric().update(key.id, key.revision,
                            [&](capnp::AnyPointer::Builder body, capnp::AnyPointer::Reader prev) {
                              return detail::writeBody(value, body, prev);
                            });
  }

  // Removes a draft. Throws kNotFound, or kReleased for a released record.
  void remove(Key<T> key) { mutableGeneric().remove(key.id, key.revision); }

  // Freezes a draft for good. Throws kNotFound, kUnversioned, kReleased.
  void release(Key<T> key) { mutableGeneric().release(key.id, key.revision); }

  // A new draft (id, revision + 1) copied from the released, newest revision
  // `key`. Throws kNotFound, kUnversioned, kNotReleased, kNotLatest.
  Key<T> newRevision(Key<T> key) {
    return Key<T>{key.id, mutableGeneric().newRevision(key.id, key.revision)};
  }

  // Sets the application's lifecycle number; allowed on released records.
  void setLifecycle(Key<T> key, std::uint32_t lifecycle) {
    mutableGeneric().setLifecycle(key.id, key.revision, lifecycle);
  }

 private:
  friend class WriteTxn;
  explicit Tree(GenericTree generic) : TreeView<T>(generic), writer_(generic) {}
  GenericTree& mutableGeneric() { return writer_; }

  GenericTree writer_;
};

// The key of a typed record for generic code.
template <TreeRecord T>
OpaqueKey opaque(Key<T> key) {
  return OpaqueKey{std::string(RecordTraits<T>::tree), key.id, key.revision};
}

// The typed key of an opaque one. Throws Error(kWrongTree) when the key
// names another tree than T's.
template <TreeRecord T>
Key<T> keyCast(const OpaqueKey& key) {
  if (key.tree != RecordTraits<T>::tree) {
    throw Error(ErrorCode::kWrongTree, "the key " + describe(key) + " names tree '" + key.tree +
                                           "', not '" + std::string(RecordTraits<T>::tree) + "'");
  }
  return Key<T>{key.id, key.revision};
}

namespace detail {
// Checks that the tree found under T's name holds T's type; throws
// kWrongTree otherwise.
void checkTreeType(const TreeState* tree, std::string_view name, std::uint64_t typeId);
}  // namespace detail

template <TreeRecord T>
TreeView<T> ReadTxn::tree() const {
  detail::TreeState* state = treeState(RecordTraits<T>::tree);
  detail::checkTreeType(state, RecordTraits<T>::tree, RecordTraits<T>::typeId);
  return TreeView<T>(GenericTreeView(state_, state));
}

template <TreeRecord T>
Tree<T> WriteTxn::tree() {
  detail::TreeState* state = treeState(RecordTraits<T>::tree);
  detail::checkTreeType(state, RecordTraits<T>::tree, RecordTraits<T>::typeId);
  return Tree<T>(GenericTree(state_, state));
}

}  // namespace hills
