#include "record_edit.h"

#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>

#include "hills/generic.h"

namespace hills::viewer {

namespace {

// Sets the value at path[at..] inside `v` (a JSON object or array).
bool setAt(QJsonValue& v, const std::vector<PathStep>& path, std::size_t at,
           const QJsonValue& value) {
  if (at == path.size()) {
    v = value;
    return true;
  }
  const PathStep& step = path[at];
  if (!step.name.empty()) {
    QJsonObject o = v.toObject();
    QJsonValue child = o.value(QString::fromStdString(step.name));
    if (!setAt(child, path, at + 1, value)) return false;
    o.insert(QString::fromStdString(step.name), child);
    v = o;
  } else {
    QJsonArray a = v.toArray();
    if (static_cast<qsizetype>(step.index) >= a.size()) return false;
    QJsonValue child = a.at(step.index);
    if (!setAt(child, path, at + 1, value)) return false;
    a.replace(step.index, child);
    v = a;
  }
  return true;
}

QJsonValue typed(capnp::schema::Type::Which which, const QString& text) {
  using W = capnp::schema::Type;
  switch (which) {
    case W::FLOAT32:
    case W::FLOAT64: {
      bool ok = false;
      double d = text.trimmed().toDouble(&ok);
      return ok ? QJsonValue(d) : QJsonValue(text);
    }
    case W::BOOL:
      if (text.trimmed() == "true") return true;
      if (text.trimmed() == "false") return false;
      return text;
    case W::TEXT:
    case W::ENUM:
      return text;
    default:
      return text.trimmed();  // integers as strings, as Cap'n Proto's JSON writes 64-bit ones
  }
}

}  // namespace

bool typedIn(capnp::Type type) {
  using W = capnp::schema::Type;
  switch (type.which()) {
    case W::VOID: case W::DATA: case W::LIST: case W::STRUCT: case W::INTERFACE:
    case W::ANY_POINTER:
      return false;
    default:
      return true;
  }
}

void setLeaf(Workspace& ws, const std::string& tree, std::uint64_t id, std::uint32_t revision,
             const std::vector<PathStep>& path, capnp::schema::Type::Which which,
             const QString& text) {
  ws.edit([&](WriteTxn& txn) {
    auto t = txn.tree(tree);
    auto rec = t.require(id, revision);
    auto doc = QJsonDocument::fromJson(QByteArray::fromStdString(toJson(t, rec)));
    QJsonValue root = doc.object();
    if (path.empty() || !setAt(root, path, 0, typed(which, text))) {
      throw Error(ErrorCode::kInvalidArgument, "the field " + pathText(path) + " is gone");
    }
    // The top-level field whole: updateFromJson replaces what it names.
    QString top = QString::fromStdString(path.front().name);
    QJsonObject change;
    change.insert(top, root.toObject().value(top));
    updateFromJson(t, id, revision, QJsonDocument(change).toJson(QJsonDocument::Compact).toStdString());
  });
}

}  // namespace hills::viewer
