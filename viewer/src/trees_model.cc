#include "trees_model.h"

#include <QLocale>

#include <set>

#include "hills/ref.h"
#include "value_text.h"

namespace hills::viewer {

TreesModel::TreesModel(Workspace& workspace, QObject* parent)
    : QAbstractTableModel(parent), ws_(workspace) {
  connect(&ws_, &Workspace::changed, this, &TreesModel::refresh);
  refresh();
}

void TreesModel::refresh() {
  auto trees = ws_.db().trees();
  std::vector<std::string> types;
  for (const auto& t : trees) {
    auto schema = ws_.db().storedSchema(t.name);
    std::string name = schema.getProto().getDisplayName();
    auto colon = name.find(':');
    types.push_back(colon == std::string::npos ? name : name.substr(colon + 1));
  }
  bool same = trees.size() == trees_.size();
  for (std::size_t i = 0; same && i < trees.size(); ++i) same = trees[i].name == trees_[i].name;
  if (!same) {
    beginResetModel();
    trees_ = std::move(trees);
    types_ = std::move(types);
    endResetModel();
    return;
  }
  trees_ = std::move(trees);
  types_ = std::move(types);
  if (!trees_.empty()) emit dataChanged(index(0, kRecords), index(rowCount() - 1, kRecords));
}

int TreesModel::rowOf(const std::string& name) const {
  for (std::size_t i = 0; i < trees_.size(); ++i) {
    if (trees_[i].name == name) return static_cast<int>(i);
  }
  return -1;
}

int TreesModel::rowCount(const QModelIndex& parent) const {
  return parent.isValid() ? 0 : static_cast<int>(trees_.size());
}

int TreesModel::columnCount(const QModelIndex& parent) const {
  return parent.isValid() ? 0 : kColumns;
}

QVariant TreesModel::data(const QModelIndex& index, int role) const {
  if (!index.isValid()) return {};
  const auto& t = trees_[static_cast<std::size_t>(index.row())];
  if (role == Qt::TextAlignmentRole && index.column() == kRecords) {
    return int(Qt::AlignRight | Qt::AlignVCenter);
  }
  if (role != Qt::DisplayRole && role != Qt::ToolTipRole) return {};
  switch (index.column()) {
    case kName: return QString::fromStdString(t.name);
    case kRecords:
      // A tree a sync client does not replicate holds nothing here.
      if (!ws_.holds(t.name)) return QStringLiteral("not replicated");
      return QLocale().toString(static_cast<qulonglong>(t.records));
    case kVersioned: return t.versioned ? QStringLiteral("versioned") : QStringLiteral("unversioned");
    case kType: return QString::fromStdString(types_[static_cast<std::size_t>(index.row())]);
    default: return {};
  }
}

QVariant TreesModel::headerData(int section, Qt::Orientation orientation, int role) const {
  if (orientation != Qt::Horizontal || role != Qt::DisplayRole) return {};
  static const char* names[] = {"tree", "records", "revisions", "type"};
  return section >= 0 && section < kColumns ? QString(names[section]) : QVariant();
}

namespace {

void addFields(QStandardItem* parent, capnp::StructSchema schema, std::set<std::uint64_t>& open) {
  // A struct that holds itself (through a list) is listed once per branch.
  if (!open.insert(schema.getProto().getId()).second) return;
  for (auto field : schema.getFields()) {
    auto type = field.getType();
    auto refTree = refTarget(field);
    QList<QStandardItem*> row{
        new QStandardItem(QString(field.getProto().getName().cStr())),
        new QStandardItem(QString::fromStdString(typeName(type, refTree))),
        new QStandardItem(field.getProto().isGroup()
                              ? QStringLiteral("group")
                              : QStringLiteral("@%1").arg(field.getProto().getOrdinal().isExplicit()
                                                              ? field.getProto().getOrdinal().getExplicit()
                                                              : field.getIndex()))};
    for (auto* item : row) item->setEditable(false);
    auto element = type;
    while (element.isList()) element = element.asList().getElementType();
    if (element.isStruct() && !isRefType(element)) addFields(row[0], element.asStruct(), open);
    if (element.isEnum()) {
      for (auto e : element.asEnum().getEnumerants()) {
        QList<QStandardItem*> en{new QStandardItem(QString(e.getProto().getName().cStr())),
                                 new QStandardItem(QStringLiteral("enumerant")),
                                 new QStandardItem(QStringLiteral("%1").arg(e.getOrdinal()))};
        for (auto* item : en) item->setEditable(false);
        row[0]->appendRow(en);
      }
    }
    parent->appendRow(row);
  }
  open.erase(schema.getProto().getId());
}

}  // namespace

void fillSchema(QStandardItemModel& model, const Database& db, const std::string& tree) {
  model.clear();
  model.setHorizontalHeaderLabels({QStringLiteral("field"), QStringLiteral("type"),
                                   QStringLiteral("ordinal")});
  std::set<std::uint64_t> open;
  addFields(model.invisibleRootItem(), db.storedSchema(tree), open);
}

}  // namespace hills::viewer
