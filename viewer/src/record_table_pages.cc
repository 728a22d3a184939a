// The record table's rows (record_table_model.h): read from the tree a
// page of kPageRows at a time, at most kMaxPages kept, the least recently
// used let go; the first key of every page read so far is kept, so a page
// far down is found without walking the tree again.
#include <algorithm>

#include "record_table_model.h"

namespace hills::viewer {

std::size_t RecordTableModel::cachedRows() const {
  std::size_t n = 0;
  for (const auto& [number, p] : pages_) n += p.rows.size();
  return n;
}

RowKey RecordTableModel::keyAt(int row) const {
  int asc = ascendingRow(row);
  if (keys_) return (*keys_)[static_cast<std::size_t>(asc)];
  const Page& p = page(asc / kPageRows);
  std::size_t at = static_cast<std::size_t>(asc % kPageRows);
  return at < p.rows.size() ? p.rows[at].key : RowKey{};
}

std::optional<int> RecordTableModel::rowOf(RowKey key) const {
  int asc = -1;
  if (keys_) {
    auto it = std::lower_bound(keys_->begin(), keys_->end(), key);
    if (it == keys_->end() || *it != key) return std::nullopt;
    asc = static_cast<int>(it - keys_->begin());
  } else {
    int pages = static_cast<int>((total_ + kPageRows - 1) / kPageRows);
    // The page whose first key is the last at or before `key`.
    int number = 0;
    for (;;) {
      if (static_cast<int>(anchors_.size()) <= number + 1 && number + 1 < pages) {
        ws_.db().read([&](const ReadTxn& txn) { extendAnchors(txn, number + 1); });
      }
      if (number + 1 >= pages || number + 1 >= static_cast<int>(anchors_.size()) ||
          anchors_[static_cast<std::size_t>(number + 1)] > key) {
        break;
      }
      ++number;
    }
    const Page& p = page(number);
    for (std::size_t i = 0; i < p.rows.size(); ++i) {
      if (p.rows[i].key == key) asc = number * kPageRows + static_cast<int>(i);
    }
    if (asc < 0) return std::nullopt;
  }
  return descending_ ? rowCount() - 1 - asc : asc;
}

void RecordTableModel::extendAnchors(const ReadTxn& txn, int upToPage) const {
  if (static_cast<int>(anchors_.size()) > upToPage) return;
  auto tree = txn.tree(tree_);
  RowKey from = anchors_.empty() ? RowKey{0, 0} : anchors_.back();
  std::uint64_t row = anchors_.empty() ? 0 : (anchors_.size() - 1) * kPageRows;
  bool first = true;
  tree.scan(from.id, UINT64_MAX, [&](const StoredRecord& rec) {
    RowKey key{rec.id(), rec.revision()};
    if (key < from) return true;
    if (first && !anchors_.empty()) {
      first = false;  // the anchor we started from
      ++row;
      return true;
    }
    first = false;
    if (row % kPageRows == 0) anchors_.push_back(key);
    ++row;
    ++recordsRead_;
    return static_cast<int>(anchors_.size()) <= upToPage;
  });
}

void RecordTableModel::addRow(const StoredRecord& rec, Page& page) const {
  auto env = rec.envelope();
  Row& row = page.rows.emplace_back();
  row.key = {rec.id(), rec.revision()};
  row.dataIteration = env.getDataIteration();
  row.metaIteration = env.getMetaIteration();
  row.lifecycle = env.getLifecycle();
  row.state = rec.state();
  row.modifiedMs = env.getModified() / 1000000;
  auto value = rec.value();
  row.valueAt = page.words.size();
  row.valueWords = value.size();
  page.words.insert(page.words.end(), value.begin(), value.end());
  ++recordsRead_;
}

void RecordTableModel::readPage(int number, Page& page) const {
  page.rows.clear();
  page.words.clear();
  page.rows.reserve(kPageRows);
  ws_.db().read([&](const ReadTxn& txn) {
    auto tree = txn.tree(tree_);
    if (keys_) {
      std::size_t begin = static_cast<std::size_t>(number) * kPageRows;
      std::size_t end = std::min(keys_->size(), begin + kPageRows);
      for (std::size_t i = begin; i < end; ++i) {
        RowKey key = (*keys_)[i];
        if (auto rec = tree.find(key.id, key.revision)) {
          addRow(rec, page);
        } else {
          Row& row = page.rows.emplace_back();
          row.key = key;
          row.missing = true;
          ++recordsRead_;
        }
      }
      return;
    }
    extendAnchors(txn, number);
    if (static_cast<int>(anchors_.size()) <= number) return;
    RowKey from = anchors_[static_cast<std::size_t>(number)];
    tree.scan(from.id, UINT64_MAX, [&](const StoredRecord& rec) {
      RowKey key{rec.id(), rec.revision()};
      if (key < from) return true;
      if (page.rows.size() == static_cast<std::size_t>(kPageRows)) {
        // The first key of the next page: scrolling on needs no walk.
        if (static_cast<int>(anchors_.size()) == number + 1) anchors_.push_back(key);
        return false;
      }
      if (page.rows.empty()) page.words.reserve(kPageRows * (rec.value().size() + 8));
      addRow(rec, page);
      return true;
    });
  });
}

const RecordTableModel::Page& RecordTableModel::fetchPage(int number) const {
  auto it = pages_.find(number);
  if (it != pages_.end()) {
    lru_.splice(lru_.begin(), lru_, it->second.lru);
    last_ = &it->second;
    lastNumber_ = number;
    return it->second;
  }
  forgetOpenRow();
  Page fresh;
  while (pages_.size() >= kMaxPages) {
    auto evicted = pages_.find(lru_.back());
    // The page let go lends its buffers to the one read next: memory
    // already touched, not fresh pages of the heap to fault in.
    fresh.rows.swap(evicted->second.rows);
    fresh.words.swap(evicted->second.words);
    pages_.erase(evicted);
    lru_.pop_back();
  }
  last_ = nullptr;
  readPage(number, fresh);
  lru_.push_front(number);
  Page& p = pages_[number];
  p = std::move(fresh);
  p.lru = lru_.begin();
  last_ = &p;
  lastNumber_ = number;
  return p;
}

}  // namespace hills::viewer
