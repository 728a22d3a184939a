#include "record_panel.h"

#include <QDateTime>
#include <QHeaderView>
#include <QPixmap>
#include <QSplitter>
#include <QVBoxLayout>

#include "hills/generic.h"
#include "record_queries.h"

namespace hills::viewer {

namespace {

QTableWidget* makeTable(const QStringList& headers, QWidget* parent) {
  auto* t = new QTableWidget(0, static_cast<int>(headers.size()), parent);
  t->setHorizontalHeaderLabels(headers);
  t->setEditTriggers(QAbstractItemView::NoEditTriggers);
  t->setSelectionBehavior(QAbstractItemView::SelectRows);
  t->horizontalHeader()->setStretchLastSection(true);
  t->verticalHeader()->hide();
  return t;
}

void setRow(QTableWidget* t, int row, const QStringList& cells) {
  for (int c = 0; c < cells.size(); ++c) t->setItem(row, c, new QTableWidgetItem(cells[c]));
}

QString timeText(std::chrono::system_clock::time_point t) {
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
  return QDateTime::fromMSecsSinceEpoch(ms).toString(QStringLiteral("yyyy-MM-dd HH:mm:ss"));
}

}  // namespace

RecordPanel::RecordPanel(Workspace& workspace, QWidget* parent)
    : QTabWidget(parent), ws_(workspace), fields_(workspace) {
  // Fields, with the picture of the selected Data field below.
  auto* fieldsPage = new QSplitter(Qt::Vertical);
  fieldsView_ = new QTreeView;
  fieldsView_->setModel(&fields_);
  fieldsView_->setAlternatingRowColors(true);
  fieldsView_->setEditTriggers(QAbstractItemView::DoubleClicked | QAbstractItemView::EditKeyPressed);
  fieldsView_->header()->setSectionResizeMode(QHeaderView::Interactive);
  picture_ = new QLabel;
  picture_->setAlignment(Qt::AlignCenter);
  picture_->setMinimumHeight(0);
  fieldsPage->addWidget(fieldsView_);
  fieldsPage->addWidget(picture_);
  addTab(fieldsPage, tr("Fields"));
  connect(&fields_, &RecordFieldsModel::editFailed, this, &RecordPanel::failed);
  connect(fieldsView_, &QTreeView::activated, this, [this](const QModelIndex& index) {
    if (auto key = fields_.referenceAt(fields_.index(index.row(), RecordFieldsModel::kValue,
                                                     index.parent()))) {
      emit openRecord(*key);
    }
  });
  connect(fieldsView_->selectionModel(), &QItemSelectionModel::currentChanged, this,
          [this](const QModelIndex& index) {
            auto bytes = fields_.data(fields_.index(index.row(), RecordFieldsModel::kValue,
                                                    index.parent()),
                                      RecordFieldsModel::kImageRole)
                             .toByteArray();
            QPixmap pixmap;
            if (!bytes.isEmpty() && pixmap.loadFromData(bytes)) {
              picture_->setPixmap(pixmap.scaled(320, 240, Qt::KeepAspectRatio,
                                                Qt::SmoothTransformation));
            } else {
              picture_->clear();
            }
          });

  // JSON.
  auto* jsonPage = new QWidget;
  auto* jsonLayout = new QVBoxLayout(jsonPage);
  json_ = new QPlainTextEdit;
  json_->setFont(QFont(QStringLiteral("monospace")));
  saveJson_ = new QPushButton(tr("Save JSON"));
  jsonLayout->addWidget(json_);
  jsonLayout->addWidget(saveJson_, 0, Qt::AlignRight);
  addTab(jsonPage, tr("JSON"));
  connect(saveJson_, &QPushButton::clicked, this, &RecordPanel::saveJson);

  // History and diff.
  auto* historyPage = new QSplitter(Qt::Vertical);
  history_ = makeTable({tr("revision"), tr("state"), tr("lifecycle"), tr("author"), tr("modified")},
                       historyPage);
  history_->setSelectionMode(QAbstractItemView::ExtendedSelection);
  auto* compare = new QPushButton(tr("Compare selected revisions"));
  diff_ = makeTable({tr("field"), tr("before"), tr("after")}, historyPage);
  historyPage->addWidget(history_);
  historyPage->addWidget(compare);
  historyPage->addWidget(diff_);
  addTab(historyPage, tr("History"));
  connect(compare, &QPushButton::clicked, this, &RecordPanel::compareRevisions);
  connect(history_, &QTableWidget::cellDoubleClicked, this, [this](int row, int) {
    emit openRecord({fields_.tree(), fields_.id(),
                     history_->item(row, 0)->text().toUInt()});
  });

  // Where used.
  auto* usesPage = new QWidget;
  auto* usesLayout = new QVBoxLayout(usesPage);
  auto* find = new QPushButton(tr("Find the records that use this one"));
  usesNote_ = new QLabel;
  uses_ = makeTable({tr("tree"), tr("key"), tr("field")}, usesPage);
  usesLayout->addWidget(find, 0, Qt::AlignLeft);
  usesLayout->addWidget(usesNote_);
  usesLayout->addWidget(uses_);
  addTab(usesPage, tr("Where used"));
  connect(find, &QPushButton::clicked, this, &RecordPanel::findUses);
  connect(uses_, &QTableWidget::cellDoubleClicked, this, [this](int row, int) {
    auto key = uses_->item(row, 1)->text().split('/');
    emit openRecord({uses_->item(row, 0)->text().toStdString(), key.value(0).toULongLong(),
                     key.value(1).toUInt()});
  });
}

void RecordPanel::show(const std::string& tree, std::uint64_t id, std::uint32_t revision) {
  uses_->setRowCount(0);
  usesNote_->clear();
  diff_->setRowCount(0);
  if (id == 0) {
    fields_.clear();
    json_->clear();
    history_->setRowCount(0);
    return;
  }
  fields_.setRecord(tree, id, revision);
  reload();
}

void RecordPanel::reload() {
  if (fields_.tree().empty()) return;
  try {
    fields_.reload();
  } catch (const std::exception& e) {
    emit failed(QString::fromUtf8(e.what()));
  }
  fieldsView_->expandToDepth(0);
  fieldsView_->resizeColumnToContents(0);
  picture_->clear();
  std::string json;
  try {
    json = ws_.db().read([&](const ReadTxn& txn) {
      auto tree = txn.tree(fields_.tree());
      auto rec = tree.find(fields_.id(), fields_.revision());
      return rec ? toJson(tree, rec) : std::string();
    });
  } catch (const std::exception& e) {
    json = e.what();
  }
  json_->setPlainText(QString::fromStdString(json));
  json_->setReadOnly(!fields_.editable());
  saveJson_->setEnabled(fields_.editable());
  fillHistory();
}

void RecordPanel::fillHistory() {
  auto revisions = history(ws_.db(), fields_.tree(), fields_.id());
  history_->setRowCount(static_cast<int>(revisions.size()));
  for (std::size_t i = 0; i < revisions.size(); ++i) {
    const auto& r = revisions[i];
    setRow(history_, static_cast<int>(i),
           {QString::number(r.revision), QString(toString(r.state).data()),
            QString::number(r.lifecycle), QString::fromStdString(r.author), timeText(r.modified)});
    if (r.revision == fields_.revision()) history_->selectRow(static_cast<int>(i));
  }
}

void RecordPanel::saveJson() {
  try {
    ws_.edit([&](WriteTxn& txn) {
      auto tree = txn.tree(fields_.tree());
      updateFromJson(tree, fields_.id(), fields_.revision(), json_->toPlainText().toStdString());
    });
    reload();
  } catch (const std::exception& e) {
    emit failed(QString::fromUtf8(e.what()));
  }
}

void RecordPanel::compareRevisions() {
  std::vector<std::uint32_t> picked;
  for (const auto& range : history_->selectedRanges()) {
    for (int r = range.topRow(); r <= range.bottomRow(); ++r) {
      picked.push_back(history_->item(r, 0)->text().toUInt());
    }
  }
  if (picked.size() < 2) {
    int n = history_->rowCount();
    if (n < 2) {
      emit failed(tr("This record has one revision: there is nothing to compare it with."));
      return;
    }
    picked = {history_->item(n - 2, 0)->text().toUInt(), history_->item(n - 1, 0)->text().toUInt()};
  }
  std::sort(picked.begin(), picked.end());
  try {
    auto lines = diffRevisions(ws_.db(), fields_.tree(), fields_.id(), picked.front(), picked.back());
    diff_->setRowCount(static_cast<int>(lines.size()));
    diff_->setHorizontalHeaderLabels({tr("field"), tr("revision %1").arg(picked.front()),
                                      tr("revision %1").arg(picked.back())});
    for (std::size_t i = 0; i < lines.size(); ++i) {
      setRow(diff_, static_cast<int>(i),
             {QString::fromStdString(lines[i].path), QString::fromStdString(lines[i].before),
              QString::fromStdString(lines[i].after)});
    }
  } catch (const std::exception& e) {
    emit failed(QString::fromUtf8(e.what()));
  }
}

void RecordPanel::findUses() {
  if (fields_.tree().empty()) return;
  constexpr std::size_t kLimit = 1000;
  bool truncated = false;
  auto uses = whereUsed(ws_.db(), {fields_.tree(), fields_.id(), fields_.revision()}, kLimit,
                        &truncated);
  uses_->setRowCount(static_cast<int>(uses.size()));
  for (std::size_t i = 0; i < uses.size(); ++i) {
    const auto& u = uses[i];
    setRow(uses_, static_cast<int>(i),
           {QString::fromStdString(u.key.tree),
            QStringLiteral("%1/%2").arg(u.key.id).arg(u.key.revision),
            QString::fromStdString(u.field)});
  }
  usesNote_->setText(uses.empty() ? tr("No record uses this one.")
                     : truncated  ? tr("The first %1 uses:").arg(kLimit)
                                  : tr("%n use(s):", nullptr, static_cast<int>(uses.size())));
}

}  // namespace hills::viewer
