// The trees of a database as a table (name, records, versioned, record
// type), and the schema of one tree as a tree of fields.
#pragma once

#include <QAbstractTableModel>
#include <QStandardItemModel>

#include <vector>

#include "hills/database.h"
#include "workspace.h"

namespace hills::viewer {

class TreesModel : public QAbstractTableModel {
  Q_OBJECT

 public:
  enum Column { kName, kRecords, kVersioned, kType, kColumns };
  explicit TreesModel(Workspace& workspace, QObject* parent = nullptr);

  const TreeInfo& treeAt(int row) const { return trees_[static_cast<std::size_t>(row)]; }
  // The row of the tree `name`, or -1.
  int rowOf(const std::string& name) const;

  int rowCount(const QModelIndex& parent = {}) const override;
  int columnCount(const QModelIndex& parent = {}) const override;
  QVariant data(const QModelIndex& index, int role = Qt::DisplayRole) const override;
  QVariant headerData(int section, Qt::Orientation orientation,
                      int role = Qt::DisplayRole) const override;

 public slots:
  // Counts again; a tree that appeared (a peer's schema) is added.
  void refresh();

 private:
  Workspace& ws_;
  std::vector<TreeInfo> trees_;
  std::vector<std::string> types_;
};

// Fills `model` with the schema of `tree`: a row per field (name, type,
// ordinal), nested structs and the enumerants of enums as children,
// references naming their tree.
void fillSchema(QStandardItemModel& model, const Database& db, const std::string& tree);

}  // namespace hills::viewer
