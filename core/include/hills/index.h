// User indexers: secondary indexes kept in the same write transaction as the
// records they index, so they never drift from them.
//
//   auto byNumber = std::make_shared<hills::NameIndex<plm::Part>>(
//       "partNumbers", 1, [](plm::Part::Reader p) { return std::string(p.getNumber()); },
//       hills::NameOptions{.unique = true});
//   options.indexers = {byNumber};
//   hills::Database db(dir, options);           // builds the index if missing or stale
//   db.read([&](const hills::ReadTxn& txn) { auto keys = byNumber->find(txn, "p-000042"); });
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "hills/key.h"
#include "hills/txn.h"

namespace hills {

namespace detail {
struct IndexState;
struct IndexOps;
}  // namespace detail

// A record as an indexer sees it, read in place; valid during the call.
struct IndexedRecord {
  std::uint64_t id = 0;
  std::uint32_t revision = 0;
  wire::Envelope::Reader envelope;  // state, lifecycle, iterations...

  capnp::AnyPointer::Reader body() const { return envelope.getBody(); }
  bool released() const { return envelope.getState() == wire::State::RELEASED; }
};

// The id and revision of an indexed record (its tree is the index's).
struct RecordId {
  std::uint64_t id = 0;
  std::uint32_t revision = 0;
  friend auto operator<=>(const RecordId&, const RecordId&) = default;
};

// Read access to one index inside a transaction: its entries map index keys
// (bytes, ordered bytewise) to records. Valid until the transaction ends.
class IndexView {
 public:
  const std::string& name() const;
  const std::string& tree() const;

  // The records under `key`, in record key order.
  std::vector<RecordId> exact(std::string_view key) const;
  // The first record under `key` (in record key order); empty when none.
  std::optional<RecordId> first(std::string_view key) const;
  // Entries whose key starts with `prefix`, in key order, at most `limit`.
  std::vector<RecordId> prefix(std::string_view prefix, std::size_t limit = SIZE_MAX) const;
  // Entries whose key lies in [from, to), in key order, at most `limit`.
  std::vector<RecordId> range(std::string_view from, std::string_view to,
                              std::size_t limit = SIZE_MAX) const;
  std::size_t count(std::string_view key) const;
  // Calls fn(key, record) for every entry with key in [from, to) (to empty:
  // no upper bound) until it returns false.
  void scan(std::string_view from, std::string_view to,
            kj::FunctionParam<bool(std::string_view key, RecordId record)> fn) const;
  // Number of entries.
  std::uint64_t size() const;

 protected:
  friend class ReadTxn;
  friend struct detail::IndexOps;
  IndexView(detail::TxnState* txn, const detail::IndexState* index) : txn_(txn), index_(index) {}

  detail::TxnState* txn_;
  const detail::IndexState* index_;
};

// Write access for an indexer, during a mutation or a rebuild.
class IndexWriter : public IndexView {
 public:
  // Adds the entry (key -> record); adding it twice keeps one. Throws
  // Error(kInvalidArgument) for an empty key or one over 500 bytes.
  void put(std::string_view key, RecordId record);
  // Adds the entry only when no entry has this key, and then returns empty;
  // otherwise returns the first record under the key and adds nothing.
  std::optional<RecordId> putIfAbsent(std::string_view key, RecordId record);
  // Removes the entry; nothing when it is absent.
  void remove(std::string_view key, RecordId record);

  // The indexed tree as this transaction sees it (before the change being
  // indexed is stored).
  GenericTreeView records() const;

 private:
  friend struct detail::IndexOps;
  using IndexView::IndexView;
};

// A user indexer. Registered in Options::indexers. For every mutation of
// tree(), inside its write transaction and before the change is stored,
// hills first calls check() on every indexer of the tree, then apply() on
// every one: `before` is the record as it was (null for a create or a new
// revision), `after` as it is becoming (null for a remove); both for an
// update, a release and a lifecycle change.
//
// check() decides whether the mutation may happen (a unique key taken by
// another record, say) and must not write. When it throws, nothing has
// been written: the mutation is refused with an Error naming the indexer
// (the indexer's own code, as for any refusal: kAlreadyExists for a taken
// key) and changes nothing, so a caller that catches it may go on and
// commit. The default accepts every mutation.
//
// apply() writes the entries. When it throws, entries may be half written:
// the whole transaction aborts and write() throws Error naming the indexer,
// even if the function passed to write() caught the first error.
//
// When version() differs from the version the index was built with, or the
// index is missing, hills rebuilds it at open by calling check(out, nullptr,
// record) and apply(out, nullptr, record) for every record; a throw from
// either fails the open.
// Both may be called from any thread that writes, and more than once for
// the same change (write() runs its function again after growing a full
// map), so they must keep no state outside the IndexWriter; a kMapFull error
// escaping apply is such a retry, not the indexer's failure. They must not
// call into the Database.
class Indexer {
 public:
  virtual ~Indexer() = default;
  virtual std::string name() const = 0;  // unique in the database; letters, digits, -_.
  virtual std::uint32_t version() const = 0;
  virtual std::string tree() const = 0;
  virtual void check(const IndexView& /*index*/, const IndexedRecord* /*before*/,
                     const IndexedRecord* /*after*/) {}
  virtual void apply(IndexWriter& out, const IndexedRecord* before, const IndexedRecord* after) = 0;
};

// An indexer whose entries are a function of each record alone: it names the
// keys of a record, and hills adds and removes entries as they change.
class KeyedIndexer : public Indexer {
 public:
  // With unique(): refuses a record whose new key another id holds, with
  // Error(kAlreadyExists) naming the key as the record gives it (keyName())
  // and the record that holds it; and a key that is empty or over 500
  // bytes, with Error(kInvalidArgument).
  void check(const IndexView& index, const IndexedRecord* before,
             const IndexedRecord* after) override;
  void apply(IndexWriter& out, const IndexedRecord* before, const IndexedRecord* after) override;

 protected:
  // The index keys of `record` (duplicates are fine).
  virtual void keys(const IndexedRecord& record, std::vector<std::string>& out) const = 0;
  // true: a key may belong to one id only (its revisions share it).
  virtual bool unique() const { return false; }
  // `key` (one of keys(record)) as the record gives it, for messages. The
  // default is the key itself.
  virtual std::string keyName(const IndexedRecord& /*record*/, const std::string& key) const {
    return key;
  }

 private:
  // The keys a mutation takes away from `before` and adds for `after`
  // (not those in place already), each sorted and without duplicates.
  void changedKeys(const IndexedRecord* before, const IndexedRecord* after,
                   std::vector<std::string>& removed, std::vector<std::string>& added) const;
};

// Typed lookups in any index of T's tree. Copyable; holds only the name.
template <TreeRecord T>
class IndexHandle {
 public:
  explicit IndexHandle(std::string name) : name_(std::move(name)) {}
  const std::string& name() const { return name_; }

  std::vector<Key<T>> exact(const ReadTxn& txn, std::string_view key) const {
    return typed(view(txn).exact(key));
  }
  std::vector<Key<T>> prefix(const ReadTxn& txn, std::string_view p,
                             std::size_t limit = SIZE_MAX) const {
    return typed(view(txn).prefix(p, limit));
  }
  std::vector<Key<T>> range(const ReadTxn& txn, std::string_view from, std::string_view to,
                            std::size_t limit = SIZE_MAX) const {
    return typed(view(txn).range(from, to, limit));
  }
  std::size_t count(const ReadTxn& txn, std::string_view key) const { return view(txn).count(key); }

 private:
  IndexView view(const ReadTxn& txn) const {
    IndexView v = txn.index(name_);
    if (v.tree() != RecordTraits<T>::tree) {
      throw Error(ErrorCode::kWrongTree, "index '" + name_ + "' indexes tree '" + v.tree() +
                                             "', not '" + std::string(RecordTraits<T>::tree) + "'");
    }
    return v;
  }
  static std::vector<Key<T>> typed(const std::vector<RecordId>& ids) {
    std::vector<Key<T>> out;
    out.reserve(ids.size());
    for (auto r : ids) out.push_back(Key<T>{r.id, r.revision});
    return out;
  }

  std::string name_;
};

}  // namespace hills
