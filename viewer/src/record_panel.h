// The right side of the window: one record's fields (with a picture of a
// Data field that holds one), its JSON to edit, its revision history with
// a field-by-field diff of two revisions, and where it is used.
#pragma once

#include <QLabel>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QTabWidget>
#include <QTableWidget>
#include <QTreeView>

#include "hills/key.h"
#include "record_fields_model.h"
#include "workspace.h"

namespace hills::viewer {

class RecordPanel : public QTabWidget {
  Q_OBJECT

 public:
  explicit RecordPanel(Workspace& workspace, QWidget* parent = nullptr);

  // Shows a record; an id of 0 shows nothing.
  void show(const std::string& tree, std::uint64_t id, std::uint32_t revision);
  // Reads the shown record again.
  void reload();

  RecordFieldsModel& fields() { return fields_; }
  QTreeView* fieldsView() { return fieldsView_; }
  QPlainTextEdit* jsonEdit() { return json_; }
  QTableWidget* historyTable() { return history_; }
  QTableWidget* diffTable() { return diff_; }
  QTableWidget* usesTable() { return uses_; }

  // Saves the JSON tab into the record (hills::updateFromJson).
  void saveJson();
  // Compares the two revisions selected in the history (or the newest two).
  void compareRevisions();
  // Lists the records that reference the shown one.
  void findUses();

 signals:
  // A reference (or a use, or a revision) asks to open this record.
  void openRecord(const OpaqueKey& key);
  void failed(const QString& message);

 private:
  void fillHistory();

  Workspace& ws_;
  RecordFieldsModel fields_;
  QTreeView* fieldsView_;
  QLabel* picture_;
  QPlainTextEdit* json_;
  QPushButton* saveJson_;
  QTableWidget* history_;
  QTableWidget* diff_;
  QTableWidget* uses_;
  QLabel* usesNote_;
};

}  // namespace hills::viewer
