// One record's fields as a tree: every field, down through nested structs
// and lists, with its value and type. Enums by name, Data as hex (and the
// picture when it holds a PNG or JPEG), references as links to the record
// they name. Leaves of a draft are editable when the workspace may write:
// an edit goes through the generic JSON path (hills::updateFromJson), so
// hills checks it against the schema, and a refusal leaves the record as
// it was.
#pragma once

#include <QAbstractItemModel>
#include <QByteArray>
#include <QString>

#include <optional>
#include <string>
#include <vector>

#include "hills/key.h"
#include "field_paths.h"
#include "value_text.h"
#include "workspace.h"

namespace hills::viewer {

class RecordFieldsModel : public QAbstractItemModel {
  Q_OBJECT

 public:
  enum Column { kName, kValue, kType, kColumns };
  // Under Qt::UserRole on a reference's value: its target as "tree/id/revision".
  static constexpr int kRefRole = Qt::UserRole;
  // Under Qt::UserRole + 1 on a Data value holding a picture: its bytes.
  static constexpr int kImageRole = Qt::UserRole + 1;

  explicit RecordFieldsModel(Workspace& workspace, QObject* parent = nullptr);

  // Shows the record (id, revision) of `tree`; no record: an empty model.
  // Throws what reading it throws (Error(kCorrupt) for a value that does
  // not decode, kUnknownTree).
  void setRecord(const std::string& tree, std::uint64_t id, std::uint32_t revision);
  void clear();
  // Reads the record again (after a change).
  void reload();

  const std::string& tree() const { return tree_; }
  std::uint64_t id() const { return id_; }
  std::uint32_t revision() const { return revision_; }
  bool hasRecord() const { return !nodes_.empty(); }
  // Whether the record is a draft (or of an unversioned tree) that this
  // workspace may edit.
  bool editable() const { return editable_; }

  // The reference a value cell holds, if any.
  std::optional<OpaqueKey> referenceAt(const QModelIndex& index) const;
  // The path of a row ("lines[2].quantity").
  QString pathAt(const QModelIndex& index) const;

  QModelIndex index(int row, int column, const QModelIndex& parent = {}) const override;
  QModelIndex parent(const QModelIndex& child) const override;
  int rowCount(const QModelIndex& parent = {}) const override;
  int columnCount(const QModelIndex& parent = {}) const override;
  QVariant data(const QModelIndex& index, int role = Qt::DisplayRole) const override;
  QVariant headerData(int section, Qt::Orientation orientation,
                      int role = Qt::DisplayRole) const override;
  Qt::ItemFlags flags(const QModelIndex& index) const override;
  // Sets a leaf from the text typed into it. Throws nothing: a refusal is
  // reported through editFailed() with hills' message, and returns false.
  bool setData(const QModelIndex& index, const QVariant& value, int role = Qt::EditRole) override;

 signals:
  void editFailed(const QString& message);

 private:
  struct Node {
    int parent = -1;
    int row = 0;  // among its parent's children
    std::vector<int> children;
    QString name, value, type;
    std::vector<PathStep> path;
    std::optional<OpaqueKey> ref;
    QByteArray image;
    QString hex;  // of a Data field: its bytes, 16 a line
    bool leaf = false;  // a value one can type (number, text, bool, enum)
    capnp::schema::Type::Which which = capnp::schema::Type::VOID;
  };
  int add(int parent, QString name, std::vector<PathStep> path);
  void addValue(int node, const capnp::DynamicValue::Reader& value, capnp::Type type,
                std::string_view refTree);
  void build();

  Workspace& ws_;
  std::string tree_;
  std::uint64_t id_ = 0;
  std::uint32_t revision_ = 0;
  bool editable_ = false;
  std::vector<Node> nodes_;  // nodes_[0] is the invisible root
};

}  // namespace hills::viewer
