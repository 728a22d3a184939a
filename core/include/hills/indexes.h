// Built-in indexers, written on the public Indexer interface (hills/index.h):
// names (unique or not, one or several per record), similarity search over
// names, the latest revision of each id, and "where used" over references.
#pragma once

#include <capnp/schema.h>

#include <algorithm>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "hills/index.h"
#include "hills/tree.h"

namespace hills {

// How a name index compares names.
struct NameOptions {
  bool unique = false;         // a name may belong to one id only (its revisions share it)
  bool caseSensitive = false;  // false: ASCII letters compare without case
  bool trim = true;            // leading and trailing whitespace do not count
  std::string ignored;         // characters left out before comparing, e.g. " -_."
};

// The form of `name` that a name index stores and looks up.
std::string normalizeName(std::string_view name, const NameOptions& options);

namespace detail {
// The trigrams of a normalized name, for similarity search.
std::vector<std::string> trigrams(std::string_view normalized);
// The keys of every record that `body` references ($Hills.ref fields, in
// nested structs and lists too), as ReferenceIndex stores them.
void collectRefs(capnp::StructSchema schema, capnp::AnyPointer::Reader body,
                 std::vector<std::string>& out);
std::string refKey(std::string_view tree, std::uint64_t id, std::uint32_t revision);
}  // namespace detail

// Names of T's records: one name (a part number) or several (aliases, tags)
// per record. With NameOptions::unique, a create or an update that gives a
// record a name another id holds is refused with Error(kAlreadyExists)
// naming the name as the record gives it, the record being written ("a new
// record of tree 'parts'" for a create) and the record that holds the
// name; the refusal changes nothing (see Indexer).
template <TreeRecord T>
class NameIndex : public KeyedIndexer {
 public:
  using Reader = typename RecordTraits<T>::Reader;
  using NameOf = std::function<std::string(Reader)>;
  using NamesOf = std::function<std::vector<std::string>(Reader)>;

  NameIndex(std::string name, std::uint32_t version, NameOf nameOf, NameOptions options = {})
      : NameIndex(std::move(name), version,
                  NamesOf([f = std::move(nameOf)](Reader r) { return std::vector{f(r)}; }),
                  std::move(options)) {}
  NameIndex(std::string name, std::uint32_t version, NamesOf namesOf, NameOptions options = {})
      : name_(std::move(name)),
        version_(version),
        namesOf_(std::move(namesOf)),
        options_(std::move(options)) {}

  std::string name() const override { return name_; }
  std::uint32_t version() const override { return version_; }
  std::string tree() const override { return std::string(RecordTraits<T>::tree); }

  // The records that hold `name` (compared as the options say).
  std::vector<Key<T>> find(const ReadTxn& txn, std::string_view name) const {
    return IndexHandle<T>(name_).exact(txn, normalizeName(name, options_));
  }
  // The records with a name that starts with `prefix`, in name order.
  std::vector<Key<T>> findPrefix(const ReadTxn& txn, std::string_view prefix,
                                 std::size_t limit = SIZE_MAX) const {
    return IndexHandle<T>(name_).prefix(txn, normalizeName(prefix, options_), limit);
  }

 protected:
  void keys(const IndexedRecord& rec, std::vector<std::string>& out) const override {
    for (auto& n : namesOf_(rec.body().getAs<typename RecordTraits<T>::Capnp>())) {
      auto key = normalizeName(n, options_);
      if (!key.empty()) out.push_back(std::move(key));
    }
  }
  bool unique() const override { return options_.unique; }
  std::string keyName(const IndexedRecord& rec, const std::string& key) const override {
    for (auto& n : namesOf_(rec.body().getAs<typename RecordTraits<T>::Capnp>())) {
      if (normalizeName(n, options_) == key) return n;
    }
    return key;
  }

 private:
  std::string name_;
  std::uint32_t version_;
  NamesOf namesOf_;
  NameOptions options_;
};

// Near matches of a name, for a search box: trigrams of the lower-cased name.
template <TreeRecord T>
class SimilarityIndex : public KeyedIndexer {
 public:
  using Reader = typename RecordTraits<T>::Reader;
  using NameOf = std::function<std::string(Reader)>;

  struct Match {
    Key<T> key;
    double score;  // 0..1: the Dice coefficient of the trigram sets
  };

  SimilarityIndex(std::string name, std::uint32_t version, NameOf nameOf)
      : name_(std::move(name)), version_(version), nameOf_(std::move(nameOf)) {}

  std::string name() const override { return name_; }
  std::uint32_t version() const override { return version_; }
  std::string tree() const override { return std::string(RecordTraits<T>::tree); }

  // Up to `limit` records whose name is most like `query`, best first (ties
  // in key order). Records sharing no trigram with the query are not listed.
  std::vector<Match> search(const ReadTxn& txn, std::string_view query, std::size_t limit) const {
    std::vector<Match> best;
    auto grams = detail::trigrams(normalizeName(query, kOptions));
    if (limit == 0 || grams.empty()) return best;
    std::map<Key<T>, std::size_t> common;
    IndexHandle<T> handle(name_);
    for (const auto& g : grams) {
      for (auto k : handle.exact(txn, g)) ++common[k];
    }
    // Most shared trigrams first: a record sharing s of the query's n
    // trigrams scores at most 2s / (n + s), so once that bound falls below
    // the limit-th best exact score, no later candidate can enter.
    std::vector<std::pair<Key<T>, std::size_t>> candidates(common.begin(), common.end());
    std::stable_sort(candidates.begin(), candidates.end(),
                     [](const auto& a, const auto& b) { return a.second > b.second; });
    const double n = static_cast<double>(grams.size());
    auto better = [](const Match& a, const Match& b) {
      return a.score != b.score ? a.score > b.score : a.key < b.key;
    };
    auto records = txn.tree<T>();
    for (auto& [key, shared] : candidates) {
      double s = static_cast<double>(shared);
      if (best.size() == limit && 2.0 * s / (n + s) < best.back().score) break;
      auto rec = records.read(key);
      if (!rec) continue;
      auto own = detail::trigrams(normalizeName(nameOf_(*rec), kOptions)).size();
      Match m{key, 2.0 * s / (n + static_cast<double>(own))};
      best.insert(std::upper_bound(best.begin(), best.end(), m, better), m);
      if (best.size() > limit) best.pop_back();
    }
    return best;
  }

 protected:
  void keys(const IndexedRecord& rec, std::vector<std::string>& out) const override {
    auto grams = detail::trigrams(
        normalizeName(nameOf_(rec.body().getAs<typename RecordTraits<T>::Capnp>()), kOptions));
    out.insert(out.end(), grams.begin(), grams.end());
  }

 private:
  static inline const NameOptions kOptions{};
  std::string name_;
  std::uint32_t version_;
  NameOf nameOf_;
};

// The newest revision of every id of T's tree.
template <TreeRecord T>
class LatestRevisionIndex : public Indexer {
 public:
  explicit LatestRevisionIndex(std::string name, std::uint32_t version = 1)
      : name_(std::move(name)), version_(version) {}

  std::string name() const override { return name_; }
  std::uint32_t version() const override { return version_; }
  std::string tree() const override { return std::string(RecordTraits<T>::tree); }

  std::optional<Key<T>> latest(const ReadTxn& txn, std::uint64_t id) const {
    auto keys = IndexHandle<T>(name_).exact(txn, idKey(id));
    if (keys.empty()) return std::nullopt;
    return keys.back();
  }
  // The newest revision of every id, in id order.
  std::vector<Key<T>> all(const ReadTxn& txn) const {
    return IndexHandle<T>(name_).range(txn, idKey(0), {});
  }

  void apply(IndexWriter& out, const IndexedRecord* before, const IndexedRecord* after) override {
    const IndexedRecord& rec = after ? *after : *before;
    std::string key = idKey(rec.id);
    auto current = out.exact(key);
    if (after) {
      if (!current.empty() && current.back().revision > after->revision) return;
      // An edit of the newest revision leaves the entry as it is.
      if (current.size() == 1 && current[0] == RecordId{after->id, after->revision}) return;
      for (auto r : current) out.remove(key, r);
      out.put(key, RecordId{after->id, after->revision});
      return;
    }
    // A remove: the id's newest other revision takes its place.
    bool wasLatest = std::find(current.begin(), current.end(),
                               RecordId{before->id, before->revision}) != current.end();
    if (!wasLatest) return;
    out.remove(key, RecordId{before->id, before->revision});
    std::optional<std::uint32_t> previous;
    out.records().scan(before->id, before->id, [&](const StoredRecord& r) {
      if (r.revision() != before->revision) previous = r.revision();
      return true;
    });
    if (previous) out.put(key, RecordId{before->id, *previous});
  }

 private:
  static std::string idKey(std::uint64_t id) {
    std::string k(8, '\0');
    for (int i = 0; i < 8; ++i) k[i] = static_cast<char>(id >> (56 - 8 * i));
    return k;
  }
  std::string name_;
  std::uint32_t version_;
};

// "Where used": the records of T that reference a given record, found
// through every $Hills.ref field of T (nested structs and lists included).
template <TreeRecord T>
class ReferenceIndex : public KeyedIndexer {
 public:
  explicit ReferenceIndex(std::string name, std::uint32_t version = 1)
      : name_(std::move(name)), version_(version) {}

  std::string name() const override { return name_; }
  std::uint32_t version() const override { return version_; }
  std::string tree() const override { return std::string(RecordTraits<T>::tree); }

  // The records of T that reference exactly `target`.
  template <TreeRecord U>
  std::vector<Key<T>> whereUsed(const ReadTxn& txn, Key<U> target) const {
    return IndexHandle<T>(name_).exact(
        txn, detail::refKey(RecordTraits<U>::tree, target.id, target.revision));
  }
  // The records of T that reference any revision of `target`'s id.
  template <TreeRecord U>
  std::vector<Key<T>> whereUsedAnyRevision(const ReadTxn& txn, Key<U> target) const {
    auto k = detail::refKey(RecordTraits<U>::tree, target.id, 0);
    auto keys = IndexHandle<T>(name_).prefix(txn, k.substr(0, k.size() - 4));
    std::sort(keys.begin(), keys.end());
    keys.erase(std::unique(keys.begin(), keys.end()), keys.end());
    return keys;
  }

 protected:
  void keys(const IndexedRecord& rec, std::vector<std::string>& out) const override {
    detail::collectRefs(capnp::Schema::from<typename RecordTraits<T>::Capnp>(), rec.body(), out);
  }

 private:
  std::string name_;
  std::uint32_t version_;
};

}  // namespace hills
