#include "main_window.h"

#include <QApplication>
#include <QClipboard>
#include <QDialog>
#include <QFontDatabase>
#include <QLocale>
#include <QFileDialog>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QInputDialog>
#include <QMenuBar>
#include <QMessageBox>
#include <QPlainTextEdit>
#include <QProgressDialog>
#include <QSplitter>
#include <QStatusBar>
#include <QToolBar>
#include <QVBoxLayout>

#include "hills/generic.h"
#include "view_export.h"

namespace hills::viewer {

MainWindow::MainWindow(std::unique_ptr<Workspace> workspace, QWidget* parent)
    : QMainWindow(parent), ws_(std::move(workspace)), trees_(*ws_), records_(*ws_) {
  setWindowTitle(QStringLiteral("hills-viewer — %1").arg(QString::fromStdString(ws_->dir())));

  // Left: trees over the schema of the selected one.
  auto* left = new QSplitter(Qt::Vertical);
  treeView_ = new QTableView;
  treeView_->setModel(&trees_);
  treeView_->setSelectionBehavior(QAbstractItemView::SelectRows);
  treeView_->setSelectionMode(QAbstractItemView::SingleSelection);
  treeView_->verticalHeader()->hide();
  treeView_->horizontalHeader()->setStretchLastSection(true);
  treeView_->resizeColumnsToContents();
  schemaView_ = new QTreeView;
  schemaView_->setModel(&schema_);
  left->addWidget(treeView_);
  left->addWidget(schemaView_);
  left->setMinimumWidth(240);

  // Middle: the filter bar over the records.
  auto* middle = new QWidget;
  auto* middleLayout = new QVBoxLayout(middle);
  middleLayout->setContentsMargins(0, 0, 0, 0);
  auto* bar = new QHBoxLayout;
  filter_ = new QLineEdit;
  filter_->setPlaceholderText(tr("filter, e.g.  mass > 2 and name ~ \"bolt\"   (Enter to apply)"));
  filter_->setClearButtonEnabled(true);
  progress_ = new QProgressBar;
  progress_->setMaximumWidth(160);
  progress_->hide();
  cancel_ = new QPushButton(tr("Cancel"));
  cancel_->hide();
  bar->addWidget(filter_);
  bar->addWidget(progress_);
  bar->addWidget(cancel_);
  filterMessage_ = new QLabel;
  filterMessage_->setTextFormat(Qt::RichText);
  filterMessage_->setWordWrap(true);
  filterMessage_->setSizePolicy(QSizePolicy::Ignored, QSizePolicy::Preferred);
  filterMessage_->hide();
  recordView_ = new QTableView;
  recordView_->setModel(&records_);
  recordView_->setSelectionBehavior(QAbstractItemView::SelectRows);
  recordView_->setSelectionMode(QAbstractItemView::ExtendedSelection);
  recordView_->setSortingEnabled(true);
  recordView_->sortByColumn(0, Qt::AscendingOrder);
  // Records sort by key only: a click on another column's header keeps the
  // indicator on the key.
  connect(recordView_->horizontalHeader(), &QHeaderView::sortIndicatorChanged, this,
          [this](int column, Qt::SortOrder) {
            if (column == 0) return;
            recordView_->horizontalHeader()->setSortIndicator(
                0, records_.descending() ? Qt::DescendingOrder : Qt::AscendingOrder);
            statusBar()->showMessage(tr("Records sort by key; a filter picks them by field."), 5000);
          });
  recordView_->verticalHeader()->hide();
  recordView_->verticalHeader()->setSectionResizeMode(QHeaderView::Fixed);
  recordView_->verticalHeader()->setDefaultSectionSize(22);
  recordView_->setWordWrap(false);
  // A draft's number, Bool, Text and enum cells are edited in place (F2 or
  // a double click); the rest in the record view.
  recordView_->setEditTriggers(QAbstractItemView::DoubleClicked | QAbstractItemView::EditKeyPressed);
  middleLayout->addLayout(bar);
  middleLayout->addWidget(filterMessage_);
  middleLayout->addWidget(recordView_);

  panel_ = new RecordPanel(*ws_);

  auto* split = new QSplitter;
  split->addWidget(left);
  split->addWidget(middle);
  split->addWidget(panel_);
  split->setStretchFactor(0, 2);
  split->setStretchFactor(1, 5);
  split->setStretchFactor(2, 3);
  setCentralWidget(split);

  status_ = new QLabel;
  statusBar()->addWidget(status_, 1);
  connect(&statusTimer_, &QTimer::timeout, this, &MainWindow::updateStatus);
  statusTimer_.start(1000);
  updateStatus();

  connect(treeView_->selectionModel(), &QItemSelectionModel::currentRowChanged, this,
          [this](const QModelIndex& index) {
            if (index.isValid()) selectTree(trees_.treeAt(index.row()).name);
          });
  connect(recordView_->selectionModel(), &QItemSelectionModel::currentRowChanged, this,
          &MainWindow::currentRowChanged);
  connect(&records_, &QAbstractItemModel::modelReset, this, [this] {
    // The selection model forgets on reset: keep showing the record.
    if (auto key = panel_->fields().hasRecord()
                       ? std::optional<RowKey>(RowKey{panel_->fields().id(), panel_->fields().revision()})
                       : std::nullopt) {
      if (auto row = records_.rowOf(*key)) {
        recordView_->selectionModel()->setCurrentIndex(
            records_.index(*row, 0), QItemSelectionModel::ClearAndSelect | QItemSelectionModel::Rows);
      }
    }
  });
  connect(ws_.get(), &Workspace::changed, panel_, &RecordPanel::reload);
  connect(filter_, &QLineEdit::returnPressed, this, &MainWindow::applyFilter);
  connect(cancel_, &QPushButton::clicked, this, [this] {
    if (run_) run_->cancel();
  });
  connect(panel_, &RecordPanel::openRecord, this, &MainWindow::openRecord);
  connect(panel_, &RecordPanel::failed, this, &MainWindow::showError);
  connect(&records_, &RecordTableModel::editFailed, this, &MainWindow::showError);
  connect(&progressTimer_, &QTimer::timeout, this, [this] {
    if (run_) progress_->setValue(static_cast<int>(run_->done() * 1000 / std::max<std::uint64_t>(1, run_->total())));
  });

  buildActions();
  // The first tree that holds records (or the first tree).
  for (int row = 0; row < trees_.rowCount(); ++row) {
    if (trees_.treeAt(row).records > 0 || row + 1 == trees_.rowCount()) {
      treeView_->selectRow(row);
      break;
    }
  }
  resize(1400, 820);
}

MainWindow::~MainWindow() {
  if (fetchThread_.joinable()) fetchThread_.join();
}

void MainWindow::buildActions() {
  auto* tools = addToolBar(tr("Record"));
  tools->setMovable(false);
  auto* fileMenu = menuBar()->addMenu(tr("&File"));
  auto* recordMenu = menuBar()->addMenu(tr("&Record"));
  auto add = [&](QMenu* menu, const QString& text, auto fn, const QKeySequence& keys = {}) {
    auto* action = new QAction(text, this);
    if (!keys.isEmpty()) action->setShortcut(keys);
    connect(action, &QAction::triggered, this, fn);
    menu->addAction(action);
    if (menu == recordMenu) tools->addAction(action);
    return action;
  };
  add(fileMenu, tr("&Export view…"), [this] {
    auto path = QFileDialog::getSaveFileName(this, tr("Export the records shown"), {},
                                             tr("NDJSON (*.ndjson);;CSV (*.csv)"));
    if (!path.isEmpty()) exportTo(path);
  }, QKeySequence(tr("Ctrl+E")));
  add(fileMenu, tr("&Quit"), [this] { close(); }, QKeySequence::Quit);
  auto* editMenu = menuBar()->addMenu(tr("&Edit"));
  add(editMenu, tr("&Copy"), [this] { copySelection(); }, QKeySequence::Copy);

  add(recordMenu, tr("New"), [this] {
    if (records_.tree().empty()) return;
    try {
      std::uint64_t id = 0;
      ws_->edit([&](WriteTxn& txn) {
        auto tree = txn.tree(records_.tree());
        id = createFromJson(tree, "{}");
      });
      openRecord({records_.tree(), id, 0});
    } catch (const std::exception& e) {
      showError(QString::fromUtf8(e.what()));
    }
  }, QKeySequence::New);
  add(recordMenu, tr("Remove"), [this] {
    onRecord(tr("remove"), [this](const OpaqueKey& k) {
      ws_->edit([&](WriteTxn& txn) { txn.tree(k.tree).remove(k.id, k.revision); });
    });
  });
  add(recordMenu, tr("Release"), [this] {
    onRecord(tr("release"), [this](const OpaqueKey& k) {
      if (auto* c = ws_->client()) return c->release(k);
      ws_->edit([&](WriteTxn& txn) { txn.tree(k.tree).release(k.id, k.revision); });
    });
  });
  add(recordMenu, tr("New revision"), [this] {
    onRecord(tr("make a new revision of"), [this](const OpaqueKey& k) {
      std::uint32_t rev = 0;
      if (auto* c = ws_->client()) {
        rev = c->newRevision(k);
      } else {
        ws_->edit([&](WriteTxn& txn) { rev = txn.tree(k.tree).newRevision(k.id, k.revision); });
      }
      openRecord({k.tree, k.id, rev});
    });
  });
  add(recordMenu, tr("Lifecycle…"), [this] {
    onRecord(tr("set the lifecycle of"), [this](const OpaqueKey& k) {
      bool ok = false;
      int value = QInputDialog::getInt(this, tr("Lifecycle"), tr("The record's lifecycle number:"),
                                       0, 0, INT32_MAX, 1, &ok);
      if (!ok) return;
      if (auto* c = ws_->client()) return c->setLifecycle(k, static_cast<std::uint32_t>(value));
      ws_->edit([&](WriteTxn& txn) {
        txn.tree(k.tree).setLifecycle(k.id, k.revision, static_cast<std::uint32_t>(value));
      });
    });
  });
  if (ws_->client()) {
    add(recordMenu, tr("Check out"), [this] {
      onRecord(tr("check out"), [this](const OpaqueKey& k) { ws_->client()->checkOut(k); });
    });
    add(recordMenu, tr("Check in"), [this] {
      onRecord(tr("check in"), [this](const OpaqueKey& k) { ws_->client()->checkIn(k); });
    });
    add(recordMenu, tr("Conflicts…"), [this] {
      auto conflicts = ws_->client()->conflicts();
      QString text;
      for (const auto& c : conflicts) {
        text += QString::fromStdString(describe(c.key) + ": " + c.brokenBy) + "\n";
      }
      QMessageBox::information(
          this, tr("Conflict copies"),
          conflicts.empty()
              ? tr("No conflict copies: every edit made here reached the server.")
              : tr("Edits made here that the server refused, kept as copies. Open each record, "
                   "bring what you want to keep into the server's version (check it out, "
                   "edit, check in), then drop the copies.\n\n") + text);
    });
  }
}

void MainWindow::showError(const QString& message) {
  lastError_ = message;
  statusBar()->showMessage(message, 10000);
  if (isVisible()) QMessageBox::warning(this, tr("hills refused"), message);
}

template <class F>
void MainWindow::onRecord(const QString& what, F&& fn) {
  auto key = currentKey();
  if (!key) {
    showError(tr("Select a record to %1 first.").arg(what));
    return;
  }
  try {
    QApplication::setOverrideCursor(Qt::WaitCursor);
    fn(*key);
    QApplication::restoreOverrideCursor();
    ws_->poll();
    panel_->reload();
  } catch (const std::exception& e) {
    QApplication::restoreOverrideCursor();
    showError(QString::fromUtf8(e.what()));
  }
}

std::optional<OpaqueKey> MainWindow::currentKey() const {
  auto index = recordView_->currentIndex();
  if (!index.isValid()) return std::nullopt;
  auto key = records_.keyAt(index.row());
  if (key.id == 0) return std::nullopt;
  return OpaqueKey{records_.tree(), key.id, key.revision};
}

void MainWindow::currentRowChanged() {
  auto key = currentKey();
  try {
    if (key) {
      panel_->show(key->tree, key->id, key->revision);
    } else {
      panel_->show({}, 0, 0);
    }
  } catch (const std::exception& e) {
    showError(QString::fromUtf8(e.what()));
  }
}

bool MainWindow::selectTree(const std::string& tree) {
  int row = trees_.rowOf(tree);
  if (row < 0) return false;
  if (records_.tree() == tree) return true;
  run_.reset();
  progress_->hide();
  cancel_->hide();
  filterMessage_->hide();
  if (treeView_->currentIndex().row() != row) treeView_->selectRow(row);
  records_.setTree(tree);
  fillSchema(schema_, ws_->db(), tree);
  schemaView_->expandToDepth(0);
  schemaView_->resizeColumnToContents(0);
  recordView_->resizeColumnsToContents();
  for (int c = 0; c < records_.columnCount(); ++c) {
    recordView_->setColumnWidth(c, std::min(recordView_->columnWidth(c), 260));
  }
  panel_->show({}, 0, 0);
  if (records_.rowCount() > 0) recordView_->selectRow(0);
  return true;
}

void MainWindow::applyFilter() {
  if (records_.tree().empty()) return;
  run_.reset();
  filterMessage_->hide();
  std::string text = filter_->text().toStdString();
  try {
    Filter filter(text, records_.schema());
    if (filter.all()) {
      records_.showAll();
      return;
    }
    run_ = std::make_unique<FilterRun>(ws_->db(), records_.tree(), std::move(filter));
  } catch (const FilterError& e) {
    // Point at the mistake: the expression with the wrong part marked.
    QString expr = filter_->text();
    auto at = static_cast<qsizetype>(e.position());
    auto len = std::max<qsizetype>(1, static_cast<qsizetype>(e.length()));
    QString marked = expr.left(at).toHtmlEscaped() +
                     "<span style='background:#f4b4b4'>" +
                     (at < expr.size() ? expr.mid(at, len).toHtmlEscaped() : QStringLiteral("&nbsp;")) +
                     "</span>" + expr.mid(at + len).toHtmlEscaped();
    filterMessage_->setText("<tt>" + marked + "</tt><br><b>" + QString::fromUtf8(e.what()).toHtmlEscaped() + "</b>");
    filterMessage_->show();
    filter_->setCursorPosition(static_cast<int>(at));
    lastError_ = QString::fromUtf8(e.what());
    return;
  }
  progress_->setRange(0, 1000);
  progress_->setValue(0);
  progress_->show();
  cancel_->show();
  progressTimer_.start(100);
  connect(run_.get(), &FilterRun::finished, this,
          [this](std::shared_ptr<const std::vector<RowKey>> keys, quint64 undecodable,
                 bool cancelled, QString error) {
            progressTimer_.stop();
            progress_->hide();
            cancel_->hide();
            auto total = run_->total();
            run_.reset();
            if (!error.isEmpty()) return showError(error);
            records_.showOnly(keys);
            QString note = tr("%1 of %2 records match").arg(QLocale().toString(qulonglong(keys->size())),
                                                            QLocale().toString(qulonglong(total)));
            if (cancelled) note += tr(" (cancelled: only the records read so far)");
            if (undecodable > 0) note += tr("; %1 do not decode").arg(undecodable);
            filterMessage_->setText(note);
            filterMessage_->show();
          });
}

void MainWindow::openRecord(const OpaqueKey& key) {
  if (!ws_->holds(key.tree)) {
    showFetched(key);
    return;
  }
  if (!selectTree(key.tree)) {
    showError(tr("This database has no tree '%1'.").arg(QString::fromStdString(key.tree)));
    return;
  }
  auto row = records_.rowOf({key.id, key.revision});
  if (!row && records_.filtered()) {
    records_.showAll();
    filterMessage_->hide();
    row = records_.rowOf({key.id, key.revision});
  }
  if (!row) {
    showError(tr("There is no record %1 in tree '%2'.")
                  .arg(QStringLiteral("%1/%2").arg(key.id).arg(key.revision),
                       QString::fromStdString(key.tree)));
    return;
  }
  auto index = records_.index(*row, 0);
  recordView_->selectionModel()->setCurrentIndex(
      index, QItemSelectionModel::ClearAndSelect | QItemSelectionModel::Rows);
  recordView_->scrollTo(index, QAbstractItemView::PositionAtCenter);
}

namespace {

// "boms 12/0": a record as the fetched record's window names it.
QString recordName(const OpaqueKey& key) {
  return QStringLiteral("%1 %2/%3")
      .arg(QString::fromStdString(key.tree))
      .arg(key.id)
      .arg(key.revision);
}

}  // namespace

void MainWindow::showFetched(const OpaqueKey& key) {
  QString name = recordName(key);
  if (fetching_) {
    statusBar()->showMessage(tr("Still reading a record from the server; %1 waits").arg(name),
                             10000);
    return;
  }
  // On a thread of its own: a server that does not answer would hold the
  // window for up to the client's call timeout.
  if (fetchThread_.joinable()) fetchThread_.join();
  fetching_ = true;
  statusBar()->showMessage(tr("Reading %1 from the server…").arg(name));
  fetchThread_ = std::thread([this, key] {
    std::optional<Workspace::FetchedJson> json;
    QString error;
    try {
      json = ws_->fetchJson(key);
    } catch (const std::exception& e) {
      error = QString::fromUtf8(e.what());
    }
    QMetaObject::invokeMethod(
        this, [this, key, json = std::move(json), error] { fetched(key, json, error); },
        Qt::QueuedConnection);
  });
}

void MainWindow::fetched(const OpaqueKey& key, const std::optional<Workspace::FetchedJson>& json,
                         const QString& error) {
  fetching_ = false;
  QString name = recordName(key);
  if (!error.isEmpty()) {
    showError(tr("Fetching %1 from the server failed: %2").arg(name, error));
    return;
  }
  if (!json) {
    showError(tr("The server has no record %1.").arg(name));
    return;
  }
  lastFetched_ = QString::fromStdString(json->json);
  QString from = json->fromCache ? tr("the read cache") : tr("the server");
  statusBar()->showMessage(tr("%1 read from %2").arg(name, from), 10000);
  // One window for fetched records, not modal: the table stays usable.
  if (!fetched_) {
    fetched_ = new QDialog(this);
    fetched_->setObjectName(QStringLiteral("fetchedRecord"));
    auto* layout = new QVBoxLayout(fetched_);
    fetchedNote_ = new QLabel(fetched_);
    fetchedNote_->setWordWrap(true);
    fetchedText_ = new QPlainTextEdit(fetched_);
    fetchedText_->setReadOnly(true);
    fetchedText_->setFont(QFontDatabase::systemFont(QFontDatabase::FixedFont));
    auto* close = new QPushButton(tr("Close"), fetched_);
    connect(close, &QPushButton::clicked, fetched_, &QDialog::close);
    layout->addWidget(fetchedNote_);
    layout->addWidget(fetchedText_);
    layout->addWidget(close, 0, Qt::AlignRight);
    fetched_->resize(640, 360);
  }
  fetched_->setWindowTitle(tr("%1, read-only").arg(name));
  fetchedNote_->setText(tr("This viewer does not replicate tree '%1' (--trees): %2 was read from "
                           "%3, and cannot be edited here.")
                            .arg(QString::fromStdString(key.tree), name,
                                 json->fromCache
                                     ? tr("the read cache (a released record, or the server "
                                          "out of reach)")
                                     : tr("the server")));
  fetchedText_->setPlainText(lastFetched_);
  if (isVisible()) {
    fetched_->show();
    fetched_->raise();
  }
}

void MainWindow::exportTo(const QString& path) {
  if (records_.tree().empty()) return;
  std::shared_ptr<const std::vector<RowKey>> keys;
  if (records_.filtered()) {
    auto all = std::make_shared<std::vector<RowKey>>();
    for (int r = 0; r < records_.rowCount(); ++r) all->push_back(records_.keyAt(r));
    std::sort(all->begin(), all->end());
    keys = all;
  }
  QProgressDialog dialog(tr("Exporting…"), tr("Cancel"), 0, 1000, this);
  dialog.setWindowModality(Qt::WindowModal);
  dialog.setMinimumDuration(300);
  try {
    auto written = exportView(
        ws_->db(), records_.tree(), keys,
        path.endsWith(QStringLiteral(".csv"), Qt::CaseInsensitive) ? ExportFormat::kCsv
                                                                   : ExportFormat::kNdjson,
        path.toStdString(), [&](std::uint64_t done, std::uint64_t total) {
          dialog.setValue(static_cast<int>(done * 1000 / std::max<std::uint64_t>(1, total)));
          QApplication::processEvents();
          return !dialog.wasCanceled();
        });
    statusBar()->showMessage(tr("Wrote %1 records to %2").arg(written).arg(path), 10000);
  } catch (const std::exception& e) {
    showError(QString::fromUtf8(e.what()));
  }
}

void MainWindow::copySelection() {
  // The focused view's selected cells, as tab-separated lines (what a
  // spreadsheet pastes as rows and columns).
  auto* view = qobject_cast<QAbstractItemView*>(QApplication::focusWidget());
  if (!view) view = recordView_;
  auto indexes = view->selectionModel() ? view->selectionModel()->selectedIndexes() : QModelIndexList{};
  if (indexes.isEmpty() && view->currentIndex().isValid()) indexes.push_back(view->currentIndex());
  std::sort(indexes.begin(), indexes.end(), [](const QModelIndex& a, const QModelIndex& b) {
    return a.row() != b.row() ? a.row() < b.row() : a.column() < b.column();
  });
  QString text;
  int row = -1;
  for (const auto& index : indexes) {
    if (row >= 0) text += index.row() == row ? QStringLiteral("\t") : QStringLiteral("\n");
    row = index.row();
    text += index.data().toString();
  }
  QApplication::clipboard()->setText(text);
}

void MainWindow::updateStatus() { status_->setText(ws_->statusLine()); }

}  // namespace hills::viewer
