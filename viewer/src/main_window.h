// hills-viewer's window: the trees on the left with the schema of the
// selected one, its records in the middle under a filter bar, the
// selected record on the right, and a status bar that follows the
// database (and the sync client's connection).
#pragma once

#include <QDialog>
#include <QLabel>
#include <QLineEdit>
#include <QMainWindow>
#include <QPlainTextEdit>
#include <QProgressBar>
#include <QPushButton>
#include <QStandardItemModel>
#include <QTableView>
#include <QTimer>
#include <QTreeView>

#include <memory>
#include <optional>
#include <thread>

#include "filter_run.h"
#include "record_panel.h"
#include "record_table_model.h"
#include "trees_model.h"
#include "workspace.h"

namespace hills::viewer {

class MainWindow : public QMainWindow {
  Q_OBJECT

 public:
  explicit MainWindow(std::unique_ptr<Workspace> workspace, QWidget* parent = nullptr);
  ~MainWindow() override;

  Workspace& workspace() { return *ws_; }
  RecordTableModel& records() { return records_; }
  TreesModel& trees() { return trees_; }
  RecordPanel& panel() { return *panel_; }
  QTableView* recordView() { return recordView_; }
  QTableView* treeView() { return treeView_; }
  QLineEdit* filterEdit() { return filter_; }
  QLabel* filterMessage() { return filterMessage_; }
  bool filtering() const { return run_ != nullptr; }

  // Selects a tree; false when the database has none of that name.
  bool selectTree(const std::string& tree);
  // Runs the filter in the filter bar over the selected tree.
  void applyFilter();
  // Opens a record: selects its tree and row (clearing a filter that hides
  // it) and shows it on the right. A record of a tree this sync client
  // does not replicate is fetched from the server and shown read-only, as
  // JSON (showFetched).
  void openRecord(const OpaqueKey& key);
  // Writes the shown rows to `path` (.csv: CSV, else NDJSON).
  void exportTo(const QString& path);
  // Copies the selected cells of the focused view (the records by
  // default) to the clipboard, tab-separated.
  void copySelection();
  // The last error an action met, as the window showed it.
  const QString& lastError() const { return lastError_; }
  // The JSON of the record last fetched from the server (read on a thread
  // of its own after openRecord), and the window that shows it (null
  // before the first).
  const QString& lastFetched() const { return lastFetched_; }
  QWidget* fetchedWindow() const { return fetched_; }

 private:
  void buildActions();
  void showError(const QString& message);
  // Reads `key` from the server on a thread of its own; fetched() shows it.
  void showFetched(const OpaqueKey& key);
  void fetched(const OpaqueKey& key, const std::optional<Workspace::FetchedJson>& json,
               const QString& error);
  void currentRowChanged();
  std::optional<OpaqueKey> currentKey() const;
  // Runs an action on the selected record, showing hills' refusal if any.
  template <class F>
  void onRecord(const QString& what, F&& fn);
  void updateStatus();

  std::unique_ptr<Workspace> ws_;
  TreesModel trees_;
  RecordTableModel records_;
  QStandardItemModel schema_;
  QTableView* treeView_;
  QTreeView* schemaView_;
  QTableView* recordView_;
  QLineEdit* filter_;
  QLabel* filterMessage_;
  QProgressBar* progress_;
  QPushButton* cancel_;
  RecordPanel* panel_;
  QLabel* status_;
  QTimer statusTimer_;
  QTimer progressTimer_;
  std::unique_ptr<FilterRun> run_;
  QString lastError_;
  QString lastFetched_;
  QDialog* fetched_ = nullptr;  // children of the window
  QLabel* fetchedNote_ = nullptr;
  QPlainTextEdit* fetchedText_ = nullptr;
  bool fetching_ = false;
  std::thread fetchThread_;  // joined before the workspace goes
};

}  // namespace hills::viewer
