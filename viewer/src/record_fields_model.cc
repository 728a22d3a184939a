#include "record_fields_model.h"

#include <QColor>
#include <QFont>

#include "hills/ref.h"
#include "record_edit.h"

namespace hills::viewer {

RecordFieldsModel::RecordFieldsModel(Workspace& workspace, QObject* parent)
    : QAbstractItemModel(parent), ws_(workspace) {}

void RecordFieldsModel::setRecord(const std::string& tree, std::uint64_t id,
                                  std::uint32_t revision) {
  tree_ = tree;
  id_ = id;
  revision_ = revision;
  reload();
}

void RecordFieldsModel::clear() {
  beginResetModel();
  tree_.clear();
  nodes_.clear();
  editable_ = false;
  endResetModel();
}

void RecordFieldsModel::reload() {
  beginResetModel();
  nodes_.clear();
  editable_ = false;
  try {
    build();
  } catch (...) {
    nodes_.clear();
    endResetModel();
    throw;
  }
  endResetModel();
}

int RecordFieldsModel::add(int parent, QString name, std::vector<PathStep> path) {
  Node n;
  n.parent = parent;
  n.name = std::move(name);
  n.path = std::move(path);
  int id = static_cast<int>(nodes_.size());
  if (parent >= 0) {
    n.row = static_cast<int>(nodes_[static_cast<std::size_t>(parent)].children.size());
    nodes_[static_cast<std::size_t>(parent)].children.push_back(id);
  }
  nodes_.push_back(std::move(n));
  return id;
}

void RecordFieldsModel::addValue(int node, const capnp::DynamicValue::Reader& value,
                                 capnp::Type type, std::string_view refTree) {
  auto at = [&]() -> Node& { return nodes_[static_cast<std::size_t>(node)]; };
  at().type = QString::fromStdString(typeName(type, refTree));
  at().which = type.which();
  at().value = QString::fromStdString(cellText(value, type, refTree, 200));
  if (type.isStruct() && isRefType(type)) {
    auto s = value.as<capnp::DynamicStruct>();
    auto refId = s.get("id").as<std::uint64_t>();
    if (refId != 0 && !refTree.empty()) {
      at().ref = OpaqueKey{std::string(refTree), refId, s.get("revision").as<std::uint32_t>()};
    }
    return;
  }
  if (type.isStruct()) {
    auto s = value.as<capnp::DynamicStruct>();
    for (auto field : s.getSchema().getFields()) {
      if (!isActive(s, field)) continue;
      auto path = at().path;
      path.push_back({field.getProto().getName().cStr(), 0});
      int child = add(node, QString(field.getProto().getName().cStr()), std::move(path));
      addValue(child, s.get(field), field.getType(), refTarget(field));
    }
    return;
  }
  if (type.isList()) {
    auto list = value.as<capnp::DynamicList>();
    auto element = type.asList().getElementType();
    for (capnp::uint i = 0; i < list.size(); ++i) {
      auto path = at().path;
      path.push_back({"", i});
      int child = add(node, QStringLiteral("[%1]").arg(i), std::move(path));
      addValue(child, list[i], element, refTree);
    }
    return;
  }
  if (type.isData()) {
    auto bytes = value.as<capnp::Data>();
    at().hex = QString::fromStdString(hexDump(bytes));
    if (dataKind(bytes) != DataKind::kBytes) {
      at().image = QByteArray(reinterpret_cast<const char*>(bytes.begin()),
                              static_cast<qsizetype>(bytes.size()));
    }
    return;
  }
  at().leaf = typedIn(type);
}

void RecordFieldsModel::build() {
  if (tree_.empty()) return;
  ws_.db().read([&](const ReadTxn& txn) {
    auto tree = txn.tree(tree_);
    auto rec = tree.find(id_, revision_);
    if (!rec) return;
    editable_ = !ws_.readOnly() && (!tree.versioned() || rec.state() == State::kDraft);
    add(-1, {}, {});
    try {
      auto body = rec.body().getAs<capnp::DynamicStruct>(tree.schema());
      for (auto field : tree.schema().getFields()) {
        if (!isActive(body, field)) continue;
        int child = add(0, QString(field.getProto().getName().cStr()),
                        {{field.getProto().getName().cStr(), 0}});
        addValue(child, body.get(field), field.getType(), refTarget(field));
      }
    } catch (const kj::Exception& e) {
      rec.throwCorrupt(e);
    }
  });
}

std::optional<OpaqueKey> RecordFieldsModel::referenceAt(const QModelIndex& index) const {
  if (!index.isValid()) return std::nullopt;
  return nodes_[static_cast<std::size_t>(index.internalId())].ref;
}

QString RecordFieldsModel::pathAt(const QModelIndex& index) const {
  if (!index.isValid()) return {};
  return QString::fromStdString(pathText(nodes_[static_cast<std::size_t>(index.internalId())].path));
}

QModelIndex RecordFieldsModel::index(int row, int column, const QModelIndex& parent) const {
  if (nodes_.empty() || column < 0 || column >= kColumns) return {};
  int p = parent.isValid() ? static_cast<int>(parent.internalId()) : 0;
  const auto& children = nodes_[static_cast<std::size_t>(p)].children;
  if (row < 0 || row >= static_cast<int>(children.size())) return {};
  return createIndex(row, column, static_cast<quintptr>(children[static_cast<std::size_t>(row)]));
}

QModelIndex RecordFieldsModel::parent(const QModelIndex& child) const {
  if (!child.isValid()) return {};
  int p = nodes_[static_cast<std::size_t>(child.internalId())].parent;
  if (p <= 0) return {};
  return createIndex(nodes_[static_cast<std::size_t>(p)].row, 0, static_cast<quintptr>(p));
}

int RecordFieldsModel::rowCount(const QModelIndex& parent) const {
  if (nodes_.empty()) return 0;
  if (parent.isValid() && parent.column() != 0) return 0;
  int p = parent.isValid() ? static_cast<int>(parent.internalId()) : 0;
  return static_cast<int>(nodes_[static_cast<std::size_t>(p)].children.size());
}

int RecordFieldsModel::columnCount(const QModelIndex&) const { return kColumns; }

QVariant RecordFieldsModel::data(const QModelIndex& index, int role) const {
  if (!index.isValid()) return {};
  const Node& n = nodes_[static_cast<std::size_t>(index.internalId())];
  switch (role) {
    case Qt::ToolTipRole:
      if (index.column() == kValue && !n.hex.isEmpty()) return n.hex;
      [[fallthrough]];
    case Qt::DisplayRole:
    case Qt::EditRole:
      if (index.column() == kName) return n.name;
      if (index.column() == kValue) return n.value;
      return n.type;
    case Qt::ForegroundRole:
      if (index.column() == kValue && n.ref) return QColor(0, 90, 200);
      if (index.column() == kType) return QColor(110, 110, 110);
      return {};
    case Qt::FontRole:
      if (index.column() == kValue && n.ref) {
        QFont f;
        f.setUnderline(true);
        return f;
      }
      return {};
    case kRefRole:
      if (!n.ref) return {};
      return QString::fromStdString(n.ref->tree + "/" + std::to_string(n.ref->id) + "/" +
                                    std::to_string(n.ref->revision));
    case kImageRole:
      if (n.image.isEmpty()) return {};
      return n.image;
    default:
      return {};
  }
}

QVariant RecordFieldsModel::headerData(int section, Qt::Orientation orientation, int role) const {
  if (orientation != Qt::Horizontal || role != Qt::DisplayRole) return {};
  static const char* names[] = {"field", "value", "type"};
  return section >= 0 && section < kColumns ? QString(names[section]) : QVariant();
}

Qt::ItemFlags RecordFieldsModel::flags(const QModelIndex& index) const {
  if (!index.isValid()) return Qt::NoItemFlags;
  auto f = QAbstractItemModel::flags(index);
  const Node& n = nodes_[static_cast<std::size_t>(index.internalId())];
  if (index.column() == kValue && n.leaf && editable_) f |= Qt::ItemIsEditable;
  return f;
}

bool RecordFieldsModel::setData(const QModelIndex& index, const QVariant& value, int role) {
  if (!index.isValid() || role != Qt::EditRole || index.column() != kValue) return false;
  const Node n = nodes_[static_cast<std::size_t>(index.internalId())];
  if (!n.leaf || !editable_) return false;
  try {
    setLeaf(ws_, tree_, id_, revision_, n.path, n.which, value.toString());
  } catch (const std::exception& e) {
    emit editFailed(QString::fromUtf8(e.what()));
    return false;
  }
  // Read again once the view has closed its editor (a reset now would
  // take the editor from under it).
  QMetaObject::invokeMethod(
      this,
      [this] {
        try {
          reload();
        } catch (const std::exception& e) {
          emit editFailed(QString::fromUtf8(e.what()));
        }
      },
      Qt::QueuedConnection);
  return true;
}

}  // namespace hills::viewer
