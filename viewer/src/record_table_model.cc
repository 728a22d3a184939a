#include "record_table_model.h"

#include <QDateTime>
#include <QTimer>

#include <capnp/serialize.h>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <ctime>
#include <optional>

#include "hills/ref.h"
#include "record_edit.h"
#include "value_text.h"

namespace hills::viewer {

namespace {

// The bookkeeping columns after the fields.
enum Meta { kState, kLifecycle, kAuthor, kModified, kBorrowedBy, kMetaColumns };
const char* const kMetaNames[] = {"state", "lifecycle", "author", "modified", "borrowed by"};

qint64 nowMs() { return QDateTime::currentMSecsSinceEpoch(); }

// Appends "2026-12-01 17:02:08" in local time. localtime_r rather than
// QDateTime, which looks the time zone up again on every call. Records
// written together share their second: the last one is kept.
void appendLocalTime(std::string& out, qint64 ms) {
  thread_local std::time_t lastSeconds = -1;
  thread_local char last[32];
  thread_local std::size_t lastSize = 0;
  std::time_t seconds = static_cast<std::time_t>(ms / 1000);
  if (seconds != lastSeconds) {
    std::tm tm{};
    localtime_r(&seconds, &tm);
    lastSize = std::strftime(last, sizeof(last), "%Y-%m-%d %H:%M:%S", &tm);
    lastSeconds = seconds;
  }
  out.append(last, lastSize);
}

// Whether `text` is all ASCII: eight bytes at a time.
bool isAscii(std::string_view text) {
  std::size_t i = 0;
  std::uint64_t high = 0;
  for (; i + 8 <= text.size(); i += 8) {
    std::uint64_t word;
    std::memcpy(&word, text.data() + i, sizeof(word));
    high |= word;
  }
  for (; i < text.size(); ++i) high |= static_cast<unsigned char>(text[i]);
  return (high & 0x8080808080808080u) == 0;
}

// Appends "42/1", or "42" for an unversioned tree.
void appendKey(std::string& out, RowKey key, bool versioned) {
  char buf[40];
  char* end = std::to_chars(buf, buf + 20, key.id).ptr;  // 20 digits at most
  if (versioned) {
    *end++ = '/';
    end = std::to_chars(end, buf + sizeof(buf), key.revision).ptr;
  }
  out.append(buf, static_cast<std::size_t>(end - buf));
}

void appendUndecodable(std::string& out, const kj::Exception& e) {
  out.append("(does not decode: ").append(e.getDescription().cStr()).append(")");
}

}  // namespace

void RecordTableModel::setText(QVariant& out, std::string_view text, QString& spare) {
  auto size = static_cast<qsizetype>(text.size());
  // Most cells are ASCII, which Latin-1 widens without UTF-8's checks.
  if (!isAscii(text)) {
    out.setValue(QString::fromUtf8(text.data(), size));
  } else if (out.metaType() == QMetaType::fromType<QString>()) {
    auto& held = *static_cast<QString*>(out.data());
    if (!held.isDetached()) held.swap(spare);
    held = QLatin1StringView(text.data(), size);  // in place when detached and large enough
  } else {
    out.setValue(QString(QLatin1StringView(text.data(), size)));
  }
}

// The stored value of one row, opened as a message: data() asks for the
// cells of one row after another, so one row stays open until another is
// asked for.
struct RecordTableModel::OpenRow {
  const Page* page = nullptr;
  std::size_t at = 0;
  kj::ArrayPtr<const capnp::word> segment;  // a stored value is one segment, no segment table
  std::optional<capnp::SegmentArrayMessageReader> message;
  wire::Envelope::Reader envelope;
  capnp::AnyStruct::Reader body;
  std::string error;  // why the value does not decode, if it does not
};

RecordTableModel::RecordTableModel(Workspace& workspace, QObject* parent)
    : QAbstractTableModel(parent), ws_(workspace), open_(std::make_unique<OpenRow>()) {
  connect(&ws_, &Workspace::changed, this, &RecordTableModel::refresh);
}

RecordTableModel::~RecordTableModel() = default;

void RecordTableModel::setTree(const std::string& tree) {
  beginResetModel();
  tree_ = tree;
  schema_ = ws_.db().storedSchema(tree);
  cells_ = std::make_unique<CellText>(schema_);
  fields_.clear();
  typedIn_.clear();
  for (auto f : schema_.getFields()) {
    fields_.push_back(f);
    typedIn_.push_back(!f.getProto().isGroup() && typedIn(f.getType()) &&
                       f.getProto().getDiscriminantValue() == capnp::schema::Field::NO_DISCRIMINANT);
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
  rows_ = tree_.empty() ? 0
                        : static_cast<int>(std::min<std::uint64_t>(keys_ ? keys_->size() : total_, INT32_MAX));
  columns_ = tree_.empty() ? 0 : 1 + static_cast<int>(fields_.size()) + kMetaColumns - (showBorrows_ ? 0 : 1);
  anchors_.clear();
  last_ = nullptr;
  forgetOpenRow();
  pages_.clear();
  lru_.clear();
  holders_ = currentHolders();
}

std::map<RowKey, std::string> RecordTableModel::currentHolders() const {
  std::map<RowKey, std::string> holders;
  for (const auto& b : ws_.borrows()) {
    if (b.key.tree == tree_) holders[{b.key.id, b.key.revision}] = b.holder;
  }
  return holders;
}

void RecordTableModel::forgetOpenRow() const { open_->page = nullptr; }

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

int RecordTableModel::rowCount(const QModelIndex& parent) const {
  return parent.isValid() ? 0 : rows();
}

int RecordTableModel::columnCount(const QModelIndex& parent) const {
  return parent.isValid() ? 0 : columns();
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

void RecordTableModel::sort(int column, Qt::SortOrder order) {
  if (column != 0) return;  // by key only: other columns keep the key's order
  bool descending = order == Qt::DescendingOrder;
  if (descending == descending_) return;
  beginResetModel();
  descending_ = descending;
  endResetModel();
}

const RecordTableModel::OpenRow& RecordTableModel::open(const Page& page, std::size_t at) const {
  OpenRow& o = *open_;
  if (o.page == &page && o.at == at) return o;
  o.page = &page;
  o.at = at;
  o.error.clear();
  const Row& row = page.rows[at];
  try {
    o.segment = kj::arrayPtr(page.words.data() + row.valueAt, row.valueWords);
    o.message.emplace(kj::arrayPtr(&o.segment, 1));
    o.envelope = o.message->getRoot<wire::Envelope>();
    o.body = o.envelope.getBody().getAs<capnp::AnyStruct>();
  } catch (const kj::Exception& e) {
    appendUndecodable(o.error, e);
  }
  return o;
}

bool RecordTableModel::editable(const Row& row, int column) const {
  int field = column - 1;
  return field >= 0 && field < static_cast<int>(fields_.size()) && typedIn_[static_cast<std::size_t>(field)] &&
         !row.missing && !ws_.readOnly() && (!versioned_ || row.state == State::kDraft);
}

void RecordTableModel::writeCell(const Page& page, std::size_t at, int column, bool edit) const {
  const Row& row = page.rows[at];
  buffer_.clear();
  if (column == 0) {
    appendKey(buffer_, row.key, versioned_);
    return;
  }
  int meta = column - 1 - static_cast<int>(fields_.size());
  if (row.missing) {
    if (meta == kState) buffer_ = "removed";
    return;
  }
  if (meta < 0) {
    const OpenRow& o = open(page, at);
    if (!o.error.empty()) {
      buffer_ = o.error;
      return;
    }
    auto field = static_cast<std::size_t>(column - 1);
    try {
      if (edit && typedIn_[field]) {
        // The whole value, as one types it: Text uncut, with its line breaks.
        auto v = cells_->reader().read(o.body, field);
        if (v.kind == FieldValue::Kind::kText) {
          buffer_.assign(v.text.data(), v.text.size());
          return;
        }
      }
      cells_->append(buffer_, o.body, field);
    } catch (const kj::Exception& e) {
      buffer_.clear();
      appendUndecodable(buffer_, e);
    }
    return;
  }
  switch (meta) {
    case kState:
      buffer_ = !versioned_ ? "unversioned" : row.state == State::kReleased ? "released" : "draft";
      return;
    case kLifecycle: {
      char digits[12];
      buffer_.append(digits, std::to_chars(digits, digits + sizeof(digits), row.lifecycle).ptr);
      return;
    }
    case kAuthor: {
      const OpenRow& o = open(page, at);
      if (!o.error.empty()) return;
      try {
        auto author = o.envelope.getAuthor();
        buffer_.assign(author.cStr(), author.size());
      } catch (const kj::Exception& e) {
        appendUndecodable(buffer_, e);
      }
      return;
    }
    case kModified:
      appendLocalTime(buffer_, row.modifiedMs);
      return;
    case kBorrowedBy: {
      auto holder = holders_.find(row.key);
      if (holder != holders_.end()) buffer_ = holder->second;
      return;
    }
    default:
      return;
  }
}

QModelIndex RecordTableModel::index(int row, int column, const QModelIndex& parent) const {
  // What QAbstractTableModel::index does, without asking for the counts
  // through virtual calls: a view asks for the index of every cell it paints.
  if (parent.isValid() || row < 0 || column < 0 || row >= rows() || column >= columns()) {
    return {};
  }
  return createIndex(row, column);
}

const RecordTableModel::Page* RecordTableModel::rowPage(const QModelIndex& index,
                                                        std::size_t& at) const {
  if (!index.isValid() || index.row() >= rows()) return nullptr;
  int asc = ascendingRow(index.row());
  const Page& p = page(asc / kPageRows);
  at = static_cast<std::size_t>(asc % kPageRows);
  return at < p.rows.size() ? &p : nullptr;
}

// Inlined into its two callers: a delegate asks for seven roles of each
// cell, most hold nothing here, and each would otherwise cost a call.
[[gnu::always_inline]] inline bool RecordTableModel::roleData(const Page& p, std::size_t at, int column, int role,
                                       QVariant& out) const {
  const Row& row = p.rows[at];
  switch (role) {
    case Qt::DisplayRole:
    case Qt::ToolTipRole:
    case Qt::EditRole:
      writeCell(p, at, column, role == Qt::EditRole);
      setText(out, buffer_, spare_);
      return true;
    case Qt::BackgroundRole: {
      if (flashes_.empty()) return false;
      auto flash = flashes_.find(row.key);
      if (flash == flashes_.end() || nowMs() - flash->second >= kFlashMs) return false;
      out = QColor(255, 226, 120);
      return true;
    }
    case Qt::TextAlignmentRole:
      if (column != 0) return false;
      out = int(Qt::AlignRight | Qt::AlignVCenter);
      return true;
    case kIdRole:
      out = QVariant::fromValue<qulonglong>(row.key.id);
      return true;
    case kRevisionRole:
      out = QVariant::fromValue<uint>(row.key.revision);
      return true;
    default:
      return false;
  }
}

QVariant RecordTableModel::data(const QModelIndex& index, int role) const {
  std::size_t at = 0;
  const Page* p = rowPage(index, at);
  QVariant out;
  if (p) roleData(*p, at, index.column(), role, out);
  return out;
}

void RecordTableModel::multiData(const QModelIndex& index, QModelRoleDataSpan roleDataSpan) const {
  std::size_t at = 0;
  const Page* p = rowPage(index, at);
  const int column = index.column();
  for (QModelRoleData& d : roleDataSpan) {
    // A view reuses its spans: a role this cell holds nothing in is emptied.
    bool set = p && roleData(*p, at, column, d.role(), d.data());
    if (!set && d.data().isValid()) d.clearData();
  }
}

Qt::ItemFlags RecordTableModel::flags(const QModelIndex& index) const {
  // What QAbstractTableModel::flags gives a cell, without its two calls: a
  // view asks for the flags of every cell it paints.
  if (!index.isValid() || index.model() != this) return {};
  Qt::ItemFlags f = Qt::ItemIsSelectable | Qt::ItemIsEnabled | Qt::ItemNeverHasChildren;
  if (ws_.readOnly()) return f;
  std::size_t at = 0;
  const Page* p = rowPage(index, at);
  if (p && editable(p->rows[at], index.column())) f |= Qt::ItemIsEditable;
  return f;
}

bool RecordTableModel::setData(const QModelIndex& index, const QVariant& value, int role) {
  std::size_t at = 0;
  const Page* p = role == Qt::EditRole ? rowPage(index, at) : nullptr;
  if (!p) return false;
  const RowKey key = p->rows[at].key;
  int column = index.column() - 1;
  if (column < 0 || column >= static_cast<int>(fields_.size()) ||
      !typedIn_[static_cast<std::size_t>(column)]) {
    return false;
  }
  auto field = fields_[static_cast<std::size_t>(column)];
  // A read-only workspace, a released record or one that is gone: hills
  // refuses, in its own words.
  try {
    setLeaf(ws_, tree_, key.id, key.revision, {{field.getProto().getName().cStr(), 0}},
            field.getType().which(), value.toString());
  } catch (const std::exception& e) {
    emit editFailed(QString::fromUtf8(e.what()));
    return false;
  }
  return true;  // the workspace saw the commit: refresh() has read the row again
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
  auto holders = currentHolders();
  auto holderOf = [](const std::map<RowKey, std::string>& h, RowKey key) {
    auto it = h.find(key);
    return it == h.end() ? std::string() : it->second;
  };
  std::swap(holders, holders_);
  anchors_.clear();
  forgetOpenRow();
  qint64 now = nowMs();
  int firstChanged = INT32_MAX, lastChanged = -1;
  Page fresh;  // each page read again into the buffers of the one before
  for (auto& [number, p] : pages_) {
    readPage(number, fresh);
    for (std::size_t i = 0; i < fresh.rows.size(); ++i) {
      const Row& f = fresh.rows[i];
      bool changed = i >= p.rows.size() || f.key != p.rows[i].key ||
                     f.dataIteration != p.rows[i].dataIteration ||
                     f.metaIteration != p.rows[i].metaIteration || f.missing != p.rows[i].missing ||
                     holderOf(holders, f.key) != holderOf(holders_, f.key);
      if (!changed) continue;
      flashes_[f.key] = now;
      int asc = number * kPageRows + static_cast<int>(i);
      firstChanged = std::min(firstChanged, asc);
      lastChanged = std::max(lastChanged, asc);
    }
    p.rows.swap(fresh.rows);
    p.words.swap(fresh.words);
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
