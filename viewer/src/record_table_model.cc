#include "record_table_model.h"

#include <QDateTime>
#include <QTimer>

#include <capnp/dynamic.h>

#include <algorithm>
#include <ctime>

#include "hills/ref.h"
#include "value_text.h"

namespace hills::viewer {

namespace {

// The bookkeeping columns after the fields.
enum Meta { kState, kLifecycle, kAuthor, kModified, kBorrowedBy, kMetaColumns };
const char* const kMetaNames[] = {"state", "lifecycle", "author", "modified", "borrowed by"};

qint64 nowMs() { return QDateTime::currentMSecsSinceEpoch(); }

// "2026-12-01 17:02:08" in local time. localtime_r rather than QDateTime,
// which looks the time zone up again on every call.
QString localTime(qint64 ms) {
  std::time_t seconds = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  localtime_r(&seconds, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S", &tm);
  return QString::fromLatin1(buf);
}

}  // namespace

RecordTableModel::RecordTableModel(Workspace& workspace, QObject* parent)
    : QAbstractTableModel(parent), ws_(workspace) {
  connect(&ws_, &Workspace::changed, this, &RecordTableModel::refresh);
}

void RecordTableModel::setTree(const std::string& tree) {
  beginResetModel();
  tree_ = tree;
  schema_ = ws_.db().storedSchema(tree);
  fields_.clear();
  types_.clear();
  refTrees_.clear();
  for (auto f : schema_.getFields()) {
    fields_.push_back(f);
    types_.push_back(f.getType());
    refTrees_.push_back(refTarget(f));
  }
  auto info = ws_.db().read([&](const ReadTxn& txn) {
    auto view = txn.tree(tree);
    return std::pair{view.versioned(), view.size()};
  });
  versioned_ = info.first;
  total_ = info.second;
  showBorrows_ = ws_.role() != Role::kPlain;
  keys_.reset();
  descending_ = false;
  recordsRead_ = 0;
  flashes_.clear();
  resetState();
  endResetModel();
}

void RecordTableModel::resetState() {
  anchors_.clear();
  last_ = nullptr;
  pages_.clear();
  lru_.clear();
  holders_.clear();
  for (const auto& b : ws_.borrows()) {
    if (b.key.tree == tree_) holders_[{b.key.id, b.key.revision}] = b.holder;
  }
}

void RecordTableModel::showOnly(std::shared_ptr<const std::vector<RowKey>> keys) {
  beginResetModel();
  keys_ = std::move(keys);
  resetState();
  endResetModel();
}

void RecordTableModel::showAll() {
  beginResetModel();
  keys_.reset();
  total_ = ws_.db().read([&](const ReadTxn& txn) { return txn.tree(tree_).size(); });
  resetState();
  endResetModel();
}

std::size_t RecordTableModel::cachedRows() const {
  std::size_t n = 0;
  for (const auto& [number, p] : pages_) n += p.rows.size();
  return n;
}

int RecordTableModel::rowCount(const QModelIndex& parent) const {
  if (parent.isValid() || tree_.empty()) return 0;
  std::uint64_t n = keys_ ? keys_->size() : total_;
  return static_cast<int>(std::min<std::uint64_t>(n, INT32_MAX));
}

int RecordTableModel::columnCount(const QModelIndex& parent) const {
  if (parent.isValid() || tree_.empty()) return 0;
  return 1 + static_cast<int>(fields_.size()) + kMetaColumns - (showBorrows_ ? 0 : 1);
}

std::optional<capnp::StructSchema::Field> RecordTableModel::fieldOf(int column) const {
  if (column < 1 || column > static_cast<int>(fields_.size())) return std::nullopt;
  return fields_[column - 1];
}

QVariant RecordTableModel::headerData(int section, Qt::Orientation orientation, int role) const {
  if (orientation != Qt::Horizontal) return {};
  if (role == Qt::ToolTipRole) {
    if (auto f = fieldOf(section)) {
      return QString::fromStdString(typeName(f->getType(), refTarget(*f)));
    }
    return {};
  }
  if (role != Qt::DisplayRole) return {};
  if (section == 0) return QStringLiteral("key");
  if (auto f = fieldOf(section)) return QString(f->getProto().getName().cStr());
  int meta = section - 1 - static_cast<int>(fields_.size());
  if (meta >= 0 && meta < kMetaColumns) return QString(kMetaNames[meta]);
  return {};
}

int RecordTableModel::ascendingRow(int row) const {
  return descending_ ? rowCount() - 1 - row : row;
}

void RecordTableModel::sort(int column, Qt::SortOrder order) {
  if (column != 0) return;  // by key only: other columns keep the key's order
  bool descending = order == Qt::DescendingOrder;
  if (descending == descending_) return;
  beginResetModel();
  descending_ = descending;
  endResetModel();
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

void RecordTableModel::formatRow(const StoredRecord& rec, Row& row) const {
  auto meta = rec.meta();
  row.key = {rec.id(), rec.revision()};
  row.dataIteration = meta.dataIteration;
  row.metaIteration = meta.metaIteration;
  row.cells.assign(fields_.size() + kMetaColumns, QString());
  try {
    auto body = rec.body().getAs<capnp::DynamicStruct>(schema_);
    std::string& text = buffer_;
    for (std::size_t i = 0; i < fields_.size(); ++i) {
      auto field = fields_[i];
      if (!isActive(body, field)) continue;
      text.clear();
      appendCellText(text, body.get(field), types_[i], refTrees_[i]);
      row.cells[i] = QString::fromUtf8(text.data(), static_cast<qsizetype>(text.size()));
    }
  } catch (const kj::Exception& e) {
    row.cells[0] = QStringLiteral("(does not decode: %1)").arg(e.getDescription().cStr());
  }
  auto at = [&](int m) -> QString& { return row.cells[fields_.size() + m]; };
  at(kState) = versioned_ ? QString(toString(meta.state).data()) : QStringLiteral("unversioned");
  at(kLifecycle) = QString::number(meta.lifecycle);
  at(kAuthor) = QString::fromStdString(meta.author);
  row.modifiedMs =
      std::chrono::duration_cast<std::chrono::milliseconds>(meta.modified.time_since_epoch())
          .count();
  auto holder = holders_.find(row.key);
  if (holder != holders_.end()) at(kBorrowedBy) = QString::fromStdString(holder->second);
}

std::vector<RecordTableModel::Row> RecordTableModel::readPage(int number) const {
  std::vector<Row> rows;
  ws_.db().read([&](const ReadTxn& txn) {
    auto tree = txn.tree(tree_);
    if (keys_) {
      std::size_t begin = static_cast<std::size_t>(number) * kPageRows;
      std::size_t end = std::min(keys_->size(), begin + kPageRows);
      for (std::size_t i = begin; i < end; ++i) {
        Row row;
        row.key = (*keys_)[i];
        if (auto rec = tree.find(row.key.id, row.key.revision)) {
          formatRow(rec, row);
        } else {
          row.missing = true;
          row.cells.assign(fields_.size() + kMetaColumns, QString());
          row.cells[fields_.size() + kState] = QStringLiteral("removed");
        }
        ++recordsRead_;
        rows.push_back(std::move(row));
      }
      return;
    }
    extendAnchors(txn, number);
    if (static_cast<int>(anchors_.size()) <= number) return;
    RowKey from = anchors_[static_cast<std::size_t>(number)];
    tree.scan(from.id, UINT64_MAX, [&](const StoredRecord& rec) {
      if (RowKey{rec.id(), rec.revision()} < from) return true;
      Row row;
      formatRow(rec, row);
      ++recordsRead_;
      rows.push_back(std::move(row));
      return rows.size() < static_cast<std::size_t>(kPageRows);
    });
  });
  return rows;
}

const RecordTableModel::Page& RecordTableModel::page(int number) const {
  // A view asks for the cells of one row after another: mostly the page of
  // the last call.
  if (last_ && lastNumber_ == number) return *last_;
  auto it = pages_.find(number);
  if (it != pages_.end()) {
    lru_.splice(lru_.begin(), lru_, it->second.lru);
    last_ = &it->second;
    lastNumber_ = number;
    return it->second;
  }
  while (pages_.size() >= kMaxPages) {
    pages_.erase(lru_.back());
    lru_.pop_back();
  }
  last_ = nullptr;
  auto rows = readPage(number);
  lru_.push_front(number);
  Page& p = pages_[number];
  p.lru = lru_.begin();
  p.rows = std::move(rows);
  last_ = &p;
  lastNumber_ = number;
  return p;
}

QVariant RecordTableModel::data(const QModelIndex& index, int role) const {
  if (!index.isValid() || index.row() >= rowCount()) return {};
  int asc = ascendingRow(index.row());
  const Page& p = page(asc / kPageRows);
  std::size_t at = static_cast<std::size_t>(asc % kPageRows);
  if (at >= p.rows.size()) return {};
  const Row& row = p.rows[at];
  switch (role) {
    case Qt::DisplayRole:
    case Qt::ToolTipRole:
      if (index.column() == 0) {
        return versioned_ ? QStringLiteral("%1/%2").arg(row.key.id).arg(row.key.revision)
                          : QString::number(row.key.id);
      }
      if (index.column() == 1 + static_cast<int>(fields_.size()) + kModified && !row.missing) {
        return localTime(row.modifiedMs);
      }
      return row.cells[static_cast<std::size_t>(index.column() - 1)];
    case Qt::BackgroundRole: {
      auto flash = flashes_.find(row.key);
      if (flash != flashes_.end() && nowMs() - flash->second < kFlashMs) {
        return QColor(255, 226, 120);
      }
      return {};
    }
    case Qt::TextAlignmentRole:
      if (index.column() == 0) return int(Qt::AlignRight | Qt::AlignVCenter);
      return {};
    case kIdRole:
      return QVariant::fromValue<qulonglong>(row.key.id);
    case kRevisionRole:
      return QVariant::fromValue<uint>(row.key.revision);
    default:
      return {};
  }
}

void RecordTableModel::refresh() {
  if (tree_.empty()) return;
  std::uint64_t total = 0;
  try {
    total = ws_.db().read([&](const ReadTxn& txn) { return txn.tree(tree_).size(); });
  } catch (const Error&) {
    return;  // the tree is gone from this database's view; keep what is shown
  }
  if (!keys_ && total != total_) {
    beginResetModel();
    total_ = total;
    resetState();
    endResetModel();
    return;
  }
  // Same rows: read the cached pages again and compare.
  std::map<RowKey, std::string> holders;
  for (const auto& b : ws_.borrows()) {
    if (b.key.tree == tree_) holders[{b.key.id, b.key.revision}] = b.holder;
  }
  bool holdersChanged = holders != holders_;
  holders_ = std::move(holders);
  anchors_.clear();
  qint64 now = nowMs();
  int firstChanged = INT32_MAX, lastChanged = -1;
  for (auto& [number, p] : pages_) {
    auto fresh = readPage(number);
    for (std::size_t i = 0; i < fresh.size(); ++i) {
      bool changed = i >= p.rows.size() || fresh[i].key != p.rows[i].key ||
                     fresh[i].dataIteration != p.rows[i].dataIteration ||
                     fresh[i].metaIteration != p.rows[i].metaIteration ||
                     fresh[i].missing != p.rows[i].missing ||
                     (holdersChanged && fresh[i].cells != p.rows[i].cells);
      if (!changed) continue;
      flashes_[fresh[i].key] = now;
      int asc = number * kPageRows + static_cast<int>(i);
      firstChanged = std::min(firstChanged, asc);
      lastChanged = std::max(lastChanged, asc);
    }
    p.rows = std::move(fresh);
  }
  if (lastChanged < 0) return;
  int a = descending_ ? rowCount() - 1 - lastChanged : firstChanged;
  int b = descending_ ? rowCount() - 1 - firstChanged : lastChanged;
  emit dataChanged(index(a, 0), index(b, columnCount() - 1));
  QTimer::singleShot(kFlashMs + 50, this, &RecordTableModel::clearFlashes);
}

void RecordTableModel::clearFlashes() {
  qint64 now = nowMs();
  bool any = false;
  for (auto it = flashes_.begin(); it != flashes_.end();) {
    if (now - it->second >= kFlashMs) {
      it = flashes_.erase(it);
      any = true;
    } else {
      ++it;
    }
  }
  if (any && rowCount() > 0) emit dataChanged(index(0, 0), index(rowCount() - 1, columnCount() - 1));
}

}  // namespace hills::viewer
