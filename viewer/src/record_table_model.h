// The records of one tree as a table: a column per top-level field of the
// stored schema, the key first, then state, lifecycle, author, modified
// and (for a synced database) who has the record borrowed.
//
// Lazy: the model reads rows in pages of kPageRows as the view asks for
// them, one short read transaction per page, and keeps at most kMaxPages
// pages. A page keeps a copy of each record's stored value; a cell is
// formatted only when data() asks for it, read from that copy through a
// CellText (a FieldReader of the record's slots, not the dynamic API). To find where
// row N starts it keeps the key of every kPageRows-th record (16 bytes per
// page of rows), built as far as the view has scrolled. So a tree of
// 1,000,000 records opens after reading one page, and memory stays flat
// however far one scrolls.
//
// Editable: a draft's (or an unversioned record's) top-level number,
// Bool, Text and enum fields outside a union, when the workspace may
// write; setData goes through setLeaf (record_edit.h), as the record
// view's edits do.
#pragma once

#include <QAbstractTableModel>
#include <QColor>
#include <QString>

#include <capnp/message.h>
#include <capnp/schema.h>

#include <cstdint>
#include <list>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "value_text.h"
#include "workspace.h"

namespace hills::viewer {

struct RowKey {
  std::uint64_t id = 0;
  std::uint32_t revision = 0;
  auto operator<=>(const RowKey&) const = default;
};

class RecordTableModel : public QAbstractTableModel {
  Q_OBJECT

 public:
  static constexpr int kPageRows = 256;
  // 2,048 rows: dozens of screens. A page let go lends its buffers to the
  // next one read, so scrolling on touches no fresh memory; a larger cache
  // would fault in more first (each 4 KiB page a fault, which cost more
  // than reading the rows on a virtual machine) for rows read again in
  // under 0.1 ms a page.
  static constexpr std::size_t kMaxPages = 8;
  // How long a changed row stays highlighted.
  static constexpr int kFlashMs = 1500;
  // The id of the row's record, under Qt::UserRole (as qulonglong), and its
  // revision under Qt::UserRole + 1, in every column.
  static constexpr int kIdRole = Qt::UserRole;
  static constexpr int kRevisionRole = Qt::UserRole + 1;

  explicit RecordTableModel(Workspace& workspace, QObject* parent = nullptr);
  ~RecordTableModel() override;

  // Shows the tree `tree` (all of its records, ascending). Throws
  // Error(kUnknownTree).
  void setTree(const std::string& tree);
  const std::string& tree() const { return tree_; }
  capnp::StructSchema schema() const { return schema_; }

  // Shows only the records of `keys` (a filter's result, in key order).
  void showOnly(std::shared_ptr<const std::vector<RowKey>> keys);
  // Shows every record again.
  void showAll();
  bool filtered() const { return keys_ != nullptr; }

  bool descending() const { return descending_; }

  // Sets `out` to the UTF-8 `text`, as the table does for every cell: into
  // the QString `out` holds already when nobody else holds it, else into
  // `spare` (a string the caller keeps from call to call), which then
  // changes places with it. A delegate passes the same variants for every
  // cell it paints, and at most the style's layout cache keeps the last
  // cell's text, so two strings serve every cell: no allocation, no atomic
  // step of a shared string's count. A string someone holds is never
  // written over.
  static void setText(QVariant& out, std::string_view text, QString& spare);

  // The key of a row, and the row of a key (empty when it is not shown).
  RowKey keyAt(int row) const;
  std::optional<int> rowOf(RowKey key) const;

  // The field a column shows; empty for the key and bookkeeping columns.
  std::optional<capnp::StructSchema::Field> fieldOf(int column) const;

  // Records read from the database since the tree was set (what paging
  // costs), and rows held in the cache now.
  std::uint64_t recordsRead() const { return recordsRead_; }
  std::size_t cachedRows() const;

  int rowCount(const QModelIndex& parent = {}) const override;
  int columnCount(const QModelIndex& parent = {}) const override;
  QModelIndex index(int row, int column, const QModelIndex& parent = {}) const override;
  QVariant data(const QModelIndex& index, int role = Qt::DisplayRole) const override;
  // Every role a view asks of a cell at once (a QStyledItemDelegate asks
  // seven to paint one), finding the cell's row once.
  void multiData(const QModelIndex& index, QModelRoleDataSpan roleDataSpan) const override;
  QVariant headerData(int section, Qt::Orientation orientation,
                      int role = Qt::DisplayRole) const override;
  Qt::ItemFlags flags(const QModelIndex& index) const override;
  // Sets a field of the row's record from the text typed into its cell.
  // Throws nothing: a refusal (a value of the wrong type, a released
  // record, a read-only workspace) is reported through editFailed() with
  // hills' message, returns false and changes nothing.
  bool setData(const QModelIndex& index, const QVariant& value, int role = Qt::EditRole) override;
  // Sorts by key (column 0); a sort by another column changes nothing.
  void sort(int column, Qt::SortOrder order = Qt::AscendingOrder) override;

 signals:
  void editFailed(const QString& message);

 public slots:
  // Reads again what changed: rows whose record changed update in place
  // and are highlighted for kFlashMs; a change in the number of records
  // resets the model.
  void refresh();

 private:
  struct Row {
    RowKey key;
    std::uint32_t dataIteration = 0;
    std::uint32_t metaIteration = 0;
    std::uint32_t lifecycle = 0;
    State state = State::kDraft;
    bool missing = false;   // a filtered key whose record is gone
    qint64 modifiedMs = 0;  // formatted when shown
    std::size_t valueAt = 0, valueWords = 0;  // the stored value, in the page's words
  };
  struct Page {
    std::vector<Row> rows;
    std::vector<capnp::word> words;  // the rows' stored values, one after another
    std::list<int>::iterator lru;
  };
  struct OpenRow;  // the last row whose value data() read

  void resetState();
  // rowCount() and columnCount() of the table, without a virtual call: a
  // view asks for the index, flags and data of every cell it paints.
  // Counted again by resetState(), which every change of them goes through.
  int rows() const { return rows_; }
  int columns() const { return columns_; }
  int ascendingRow(int row) const { return descending_ ? rows() - 1 - row : row; }
  // Page `number`: mostly the page of the last call, as a view asks for the
  // cells of one row after another.
  const Page& page(int number) const {
    if (last_ && lastNumber_ == number) [[likely]] return *last_;
    return fetchPage(number);
  }
  const Page& fetchPage(int number) const;
  // Reads page `number` into `page`, whose buffers it reuses.
  void readPage(int number, Page& page) const;
  void extendAnchors(const ReadTxn& txn, int upToPage) const;
  void addRow(const StoredRecord& rec, Page& page) const;
  const OpenRow& open(const Page& page, std::size_t at) const;
  void forgetOpenRow() const;
  // The page and place of the row `index` shows; nullptr when it has none.
  const Page* rowPage(const QModelIndex& index, std::size_t& at) const;
  // Sets `out` to what the cell shows in `role` and returns true, or
  // returns false and leaves `out` alone when the role holds nothing here
  // (most of those a delegate asks for: no QVariant is made for them).
  // The one list of the roles the table serves.
  bool roleData(const Page& page, std::size_t at, int column, int role, QVariant& out) const;
  // Writes what a cell shows into buffer_ as UTF-8; `edit`: as one types
  // it (Text uncut).
  void writeCell(const Page& page, std::size_t at, int column, bool edit) const;
  bool editable(const Row& row, int column) const;
  std::map<RowKey, std::string> currentHolders() const;
  void clearFlashes();

  Workspace& ws_;
  std::string tree_;
  capnp::StructSchema schema_;
  std::unique_ptr<CellText> cells_;          // of schema_
  std::vector<capnp::StructSchema::Field> fields_;
  std::vector<bool> typedIn_;                // of each field: edited in its cell
  bool versioned_ = true;
  bool showBorrows_ = false;
  bool descending_ = false;
  std::uint64_t total_ = 0;
  std::shared_ptr<const std::vector<RowKey>> keys_;
  int rows_ = 0, columns_ = 0;  // shown
  std::map<RowKey, std::string> holders_;

  mutable std::vector<RowKey> anchors_;  // the key of row k * kPageRows
  mutable std::unordered_map<int, Page> pages_;
  mutable std::list<int> lru_;  // page numbers, most recent first
  mutable const Page* last_ = nullptr;  // the page of the last lookup
  mutable int lastNumber_ = -1;
  mutable std::unique_ptr<OpenRow> open_;
  mutable std::string buffer_;  // a cell's text on its way to a QString
  mutable QString spare_;       // setText's second string
  mutable std::uint64_t recordsRead_ = 0;
  std::map<RowKey, qint64> flashes_;  // when each changed row was seen changing
};

}  // namespace hills::viewer
