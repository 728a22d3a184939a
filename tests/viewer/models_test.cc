// The viewer's models against real databases, checked with Qt's
// QAbstractItemModelTester: the lazy record table, one record's fields
// (and editing them through hills' rules), the trees, export, and live
// updates from another process.
#include <QAbstractItemModelTester>
#include <QSignalSpy>
#include <QtTest>

#include <sys/wait.h>

#include <array>
#include <fstream>
#include <sstream>

#include "child_process.h"
#include "hills/ref.h"
#include "record_fields_model.h"
#include "record_table_model.h"
#include "trees_model.h"
#include "view_export.h"
#include "viewer_fixtures.h"

using namespace hills;
using namespace hills::viewer;

class ModelsTest : public QObject {
  Q_OBJECT

 private:
  test::TempDir dir_;
  std::string path_;

  static QString cell(const QAbstractItemModel& m, int row, int column) {
    return m.data(m.index(row, column)).toString();
  }
  static int exitCode(pid_t pid) {
    int status = 0;
    ::waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }
  static int column(const QAbstractItemModel& m, const QString& name) {
    for (int c = 0; c < m.columnCount(); ++c) {
      if (m.headerData(c, Qt::Horizontal).toString() == name) return c;
    }
    return -1;
  }

 private slots:
  void initTestCase() {
    path_ = dir_.sub("db");
    test::makePlmDatabase(path_, 300);
  }

  void theTreesAreListedWithTheirCounts() {
    auto ws = Workspace::openLocal(path_, false);
    TreesModel trees(*ws);
    QAbstractItemModelTester tester(&trees, QAbstractItemModelTester::FailureReportingMode::QtTest);
    QCOMPARE(trees.rowCount(), 3);
    int parts = trees.rowOf("parts");
    QVERIFY(parts >= 0);
    QCOMPARE(cell(trees, parts, TreesModel::kRecords), QLocale().toString(301));
    QCOMPARE(cell(trees, trees.rowOf("stock"), TreesModel::kVersioned), QString("unversioned"));
    QCOMPARE(cell(trees, parts, TreesModel::kType), QString("Part"));
  }

  void theRecordTableReadsOnlyThePagesItShows() {
    auto ws = Workspace::openLocal(path_, false);
    RecordTableModel model(*ws);
    QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::QtTest);
    model.setTree("parts");
    QCOMPARE(model.rowCount(), 301);
    QCOMPARE(cell(model, 0, 0), QString("1/0"));
    QCOMPARE(cell(model, 0, column(model, "number")), QString("P-100001"));
    QCOMPARE(cell(model, 0, column(model, "kind")), QString("manufactured"));
    QCOMPARE(cell(model, 2, 0), QString("2/1"));  // revisions follow their id
    QCOMPARE(cell(model, 1, column(model, "state")), QString("released"));
    QCOMPARE(cell(model, 0, column(model, "author")), QString("test"));
    QCOMPARE(column(model, "borrowed by"), -1);  // a plain database has no borrows
    // The tester read rows of its own; a fresh model shows what paging costs.
    RecordTableModel fresh(*ws);
    fresh.setTree("parts");
    QCOMPARE(cell(fresh, 0, 0), QString("1/0"));
    QVERIFY(fresh.recordsRead() <= RecordTableModel::kPageRows + 1);
    QCOMPARE(cell(fresh, 300, 0), QString("300/0"));  // the last row: anchors, then one page
    // The first page, the walk to row 300's page (one read per record
    // before it) and that page: never the rest of the tree.
    QVERIFY2(fresh.recordsRead() <= 2 * RecordTableModel::kPageRows + 300,
             std::to_string(fresh.recordsRead()).c_str());
    QVERIFY(fresh.cachedRows() <= 2 * RecordTableModel::kPageRows);
    // Descending order by key; rowOf finds a key either way.
    fresh.sort(0, Qt::DescendingOrder);
    QCOMPARE(cell(fresh, 0, 0), QString("300/0"));
    fresh.sort(1, Qt::AscendingOrder);  // not by number: the key's order stays
    QCOMPARE(cell(fresh, 0, 0), QString("300/0"));
    QCOMPARE(fresh.rowOf({2, 1}).value(), 298);
    QVERIFY(!fresh.rowOf({999, 0}));
    // A filter's keys.
    fresh.sort(0, Qt::AscendingOrder);
    fresh.showOnly(std::make_shared<std::vector<RowKey>>(std::vector<RowKey>{{3, 0}, {7, 0}}));
    QCOMPARE(fresh.rowCount(), 2);
    QCOMPARE(cell(fresh, 1, column(fresh, "number")), QString("P-100007"));
    QCOMPARE(fresh.rowOf({7, 0}).value(), 1);
    fresh.showAll();
    QCOMPARE(fresh.rowCount(), 301);
  }

  void oneRecordShowsItsFieldsReferencesAndPicture() {
    auto ws = Workspace::openLocal(path_, false);
    RecordFieldsModel fields(*ws);
    QAbstractItemModelTester tester(&fields, QAbstractItemModelTester::FailureReportingMode::QtTest);
    fields.setRecord("parts", 1, 0);
    QVERIFY(fields.hasRecord());
    QVERIFY(!fields.editable());  // read-only open
    QModelIndex kind, drawing, dimensions;
    for (int r = 0; r < fields.rowCount(); ++r) {
      auto name = fields.index(r, 0).data().toString();
      if (name == "kind") kind = fields.index(r, RecordFieldsModel::kValue);
      if (name == "drawing") drawing = fields.index(r, RecordFieldsModel::kValue);
      if (name == "dimensions") dimensions = fields.index(r, 0);
    }
    QCOMPARE(kind.data().toString(), QString("manufactured"));
    QVERIFY(!drawing.data(RecordFieldsModel::kImageRole).toByteArray().isEmpty());
    QImage image;
    QVERIFY(image.loadFromData(drawing.data(RecordFieldsModel::kImageRole).toByteArray()));
    QCOMPARE(image.width(), 48);
    QVERIFY(drawing.data(Qt::ToolTipRole).toString().startsWith("000000  89 50 4e 47 0d 0a 1a 0a"));
    QCOMPARE(fields.rowCount(dimensions), 3);

    fields.setRecord("boms", 1, 0);
    QModelIndex lines;
    for (int r = 0; r < fields.rowCount(); ++r) {
      if (fields.index(r, 0).data().toString() == "lines") lines = fields.index(r, 0);
    }
    auto line1 = fields.index(1, 0, lines);
    auto part = fields.index(0, RecordFieldsModel::kValue, line1);
    QCOMPARE(fields.pathAt(part), QString("lines[1].part"));
    auto ref = fields.referenceAt(part);
    QVERIFY(ref.has_value());
    QCOMPARE(ref->tree, std::string("parts"));
    QCOMPARE(ref->id, std::uint64_t(3));
  }

  void anEditGoesThroughHillsRulesAndARefusalChangesNothing() {
    test::TempDir dir;
    test::makePlmDatabase(dir.sub("db"), 5);
    auto ws = Workspace::openLocal(dir.sub("db"), true);
    QVERIFY(!ws->readOnly());
    RecordFieldsModel fields(*ws);
    QSignalSpy failed(&fields, &RecordFieldsModel::editFailed);
    fields.setRecord("parts", 3, 0);
    QVERIFY(fields.editable());
    auto find = [&](const QString& name) {
      for (int r = 0; r < fields.rowCount(); ++r) {
        if (fields.index(r, 0).data().toString() == name) return fields.index(r, RecordFieldsModel::kValue);
      }
      return QModelIndex();
    };
    QVERIFY(fields.flags(find("name")) & Qt::ItemIsEditable);
    QVERIFY(fields.setData(find("name"), QString("renamed in the viewer")));
    QVERIFY(fields.setData(find("kind"), QString("software")));
    QVERIFY(fields.setData(find("mass"), QString("7.25")));
    QCOMPARE(failed.count(), 0);
    QCoreApplication::processEvents();  // the model reads the record again
    // A value of the wrong type is refused with hills' message; nothing changes.
    QVERIFY(!fields.setData(find("leadTimeDays"), QString("soon")));
    QCOMPARE(failed.count(), 1);
    QVERIFY(failed.front().front().toString().contains("leadTimeDays"));
    QVERIFY(!fields.setData(find("kind"), QString("gizmo")));
    QCOMPARE(failed.count(), 2);
    ws->db().read([&](const ReadTxn& txn) {
      auto rec = txn.tree("parts").find(3, 0);
      auto body = rec.body().getAs<capnp::DynamicStruct>(txn.tree("parts").schema());
      QCOMPARE(QString(body.get("name").as<capnp::Text>().cStr()), QString("renamed in the viewer"));
      QCOMPARE(body.get("mass").as<double>(), 7.25);
      QCOMPARE(body.get("kind").as<capnp::DynamicEnum>().getRaw(), std::uint16_t(3));
      QCOMPARE(body.get("leadTimeDays").as<std::uint16_t>(), std::uint16_t(0));
    });
    // A released record is not editable.
    fields.setRecord("parts", 2, 0);
    QVERIFY(!fields.editable());
    QVERIFY(!(fields.flags(find("name")) & Qt::ItemIsEditable));
  }

  void aDraftIsEditedInItsTableCellAndARefusalChangesNothing() {
    test::TempDir dir;
    test::makePlmDatabase(dir.sub("db"), 5);
    {
      // A read-only open edits nothing, and says how to edit.
      auto readOnly = Workspace::openLocal(dir.sub("db"), false);
      RecordTableModel shown(*readOnly);
      QSignalSpy refused(&shown, &RecordTableModel::editFailed);
      shown.setTree("parts");
      int row = shown.rowOf({3, 0}).value(), name = column(shown, "name");
      QVERIFY(!(shown.flags(shown.index(row, name)) & Qt::ItemIsEditable));
      QVERIFY(!shown.setData(shown.index(row, name), QString("from a reader")));
      QCOMPARE(refused.count(), 1);
      QVERIFY(refused.front().front().toString().contains("--write"));
      QCOMPARE(cell(shown, row, name), QString("part 3"));
    }
    auto ws = Workspace::openLocal(dir.sub("db"), true);
    RecordTableModel model(*ws);
    QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::QtTest);
    QSignalSpy failed(&model, &RecordTableModel::editFailed);
    model.setTree("parts");
    int name = column(model, "name"), kind = column(model, "kind"), mass = column(model, "mass"),
        lead = column(model, "leadTimeDays"), makeable = column(model, "makeable");
    int draft = model.rowOf({3, 0}).value(), released = model.rowOf({2, 0}).value();
    auto editable = [&](int row, int c) {
      return bool(model.flags(model.index(row, c)) & Qt::ItemIsEditable);
    };
    QVERIFY(editable(draft, name) && editable(draft, kind) && editable(draft, makeable));
    QVERIFY(!editable(draft, 0));                            // the key
    QVERIFY(!editable(draft, column(model, "tags")));        // a list: the record view edits it
    QVERIFY(!editable(draft, column(model, "dimensions")));  // a struct: likewise
    QVERIFY(!editable(draft, column(model, "state")));
    QVERIFY(!editable(released, name));
    // The edit goes through hills and shows in the row.
    QVERIFY(model.setData(model.index(draft, name), QString("renamed in the table")));
    QVERIFY(model.setData(model.index(draft, kind), QString("software")));
    QVERIFY(model.setData(model.index(draft, mass), QString("7.25")));
    QVERIFY(model.setData(model.index(draft, makeable), QString("true")));
    QCOMPARE(failed.count(), 0);
    QCOMPARE(cell(model, draft, name), QString("renamed in the table"));
    QCOMPARE(cell(model, draft, kind), QString("software"));
    QCOMPARE(cell(model, draft, mass), QString("7.25"));
    QCOMPARE(model.data(model.index(draft, name), Qt::EditRole).toString(),
             QString("renamed in the table"));
    // Refused, in hills' words; nothing changes.
    QVERIFY(!model.setData(model.index(draft, lead), QString("soon")));
    QCOMPARE(failed.count(), 1);
    QVERIFY2(failed.back().front().toString().contains("leadTimeDays"),
             qPrintable(failed.back().front().toString()));
    QVERIFY(!model.setData(model.index(draft, kind), QString("gizmo")));
    QCOMPARE(failed.count(), 2);
    QVERIFY(!model.setData(model.index(released, name), QString("changed after release")));
    QCOMPARE(failed.count(), 3);
    QVERIFY(failed.back().front().toString().contains("released"));
    QCOMPARE(cell(model, released, name), QString("part 2"));
    QCOMPARE(cell(model, draft, kind), QString("software"));
    QCOMPARE(cell(model, draft, lead), QString("0"));
    ws->db().read([&](const ReadTxn& txn) {
      auto rec = txn.tree("parts").find(3, 0);
      auto body = rec.body().getAs<capnp::DynamicStruct>(txn.tree("parts").schema());
      QCOMPARE(QString(body.get("name").as<capnp::Text>().cStr()), QString("renamed in the table"));
      QCOMPARE(body.get("mass").as<double>(), 7.25);
      QVERIFY(body.get("makeable").as<bool>());
    });
  }

  void aViewGetsEveryRoleOfACellInOneCallAsDataGivesThem() {
    // multiData (what a delegate calls to paint a cell) fills each role as
    // data() does, and empties the roles the cell holds nothing in,
    // whatever a view left in them.
    test::TempDir dir;
    test::makePlmDatabase(dir.sub("db"), 5);
    auto ws = Workspace::openLocal(dir.sub("db"), true);
    RecordTableModel model(*ws);
    model.setTree("parts");
    const int roles[] = {Qt::FontRole,       Qt::TextAlignmentRole,         Qt::ForegroundRole,
                         Qt::CheckStateRole, Qt::DecorationRole,            Qt::DisplayRole,
                         Qt::BackgroundRole, Qt::ToolTipRole,               Qt::EditRole,
                         RecordTableModel::kIdRole, RecordTableModel::kRevisionRole};
    std::vector<QModelRoleData> asked;
    for (int role : roles) asked.emplace_back(role);
    auto ask = [&](const QModelIndex& index) {
      for (auto& d : asked) d.setData(QStringLiteral("left by the view"));
      static_cast<const QAbstractItemModel&>(model).multiData(index, asked);
    };
    auto got = [&](int role) {
      for (const auto& d : asked) {
        if (d.role() == role) return d.data();
      }
      return QVariant();
    };
    // An edit flashes its row: the background is set there and nowhere else.
    int name = column(model, "name"), edited = model.rowOf({3, 0}).value();
    QVERIFY(model.setData(model.index(edited, name), QString("part 3, edited")));
    for (int row = 0; row < model.rowCount(); ++row) {
      for (int c = 0; c < model.columnCount(); ++c) {
        ask(model.index(row, c));
        for (const auto& d : asked) {
          QCOMPARE(d.data(), model.data(model.index(row, c), d.role()));
        }
        QCOMPARE(got(Qt::BackgroundRole).isValid(), row == edited);
        QCOMPARE(got(Qt::TextAlignmentRole).isValid(), c == 0);
        for (int none : {Qt::FontRole, Qt::ForegroundRole, Qt::CheckStateRole, Qt::DecorationRole}) {
          QVERIFY(!got(none).isValid());
        }
      }
    }
    ask(model.index(edited, name));
    QCOMPARE(got(Qt::DisplayRole).toString(), QString("part 3, edited"));
    QCOMPARE(got(Qt::EditRole).toString(), QString("part 3, edited"));
    QCOMPARE(got(Qt::BackgroundRole).value<QColor>(), QColor(255, 226, 120));
    ask(model.index(model.rowOf({2, 1}).value(), 0));
    QCOMPARE(got(Qt::DisplayRole).toString(), QString("2/1"));
    QCOMPARE(got(Qt::TextAlignmentRole).toInt(), int(Qt::AlignRight | Qt::AlignVCenter));
    QCOMPARE(got(RecordTableModel::kIdRole).toULongLong(), 2ull);
    QCOMPARE(got(RecordTableModel::kRevisionRole).toUInt(), 1u);
    // Descending, the first row is the last key.
    model.sort(0, Qt::DescendingOrder);
    ask(model.index(0, 0));
    QCOMPARE(got(Qt::DisplayRole).toString(), QString("5/0"));
    QCOMPARE(got(RecordTableModel::kIdRole).toULongLong(), 5ull);
    // An index a view kept from before a filter left fewer rows: every
    // role empty.
    QModelIndex stale = model.index(5, 0);
    QVERIFY(stale.isValid());
    model.showOnly(std::make_shared<std::vector<RowKey>>(std::vector<RowKey>{{3, 0}, {4, 0}}));
    ask(stale);
    for (const auto& d : asked) QVERIFY(!d.data().isValid());
    QVERIFY(!model.index(model.rowCount(), 0).isValid());
    QVERIFY(!model.index(0, model.columnCount()).isValid());
  }

  void tableCellsReadAsTheRecordViewReadsThem() {
    // The table's cells (read by plan) and the value text of the dynamic
    // API agree on every field of every record.
    auto ws = Workspace::openLocal(path_, false);
    for (std::string tree : {"parts", "boms", "stock"}) {
      RecordTableModel model(*ws);
      model.setTree(tree);
      ws->db().read([&](const ReadTxn& txn) {
        auto view = txn.tree(tree);
        for (int row = 0; row < model.rowCount(); ++row) {
          auto key = model.keyAt(row);
          auto body = view.find(key.id, key.revision).body().getAs<capnp::DynamicStruct>(view.schema());
          for (int c = 1; c <= static_cast<int>(view.schema().getFields().size()); ++c) {
            auto f = *model.fieldOf(c);
            QString expected = isActive(body, f)
                                   ? QString::fromStdString(cellText(body.get(f), f.getType(), refTarget(f)))
                                   : QString();
            QCOMPARE(cell(model, row, c), expected);
          }
        }
      });
    }
  }

  void aCellsTextIsWrittenIntoAStringNobodyElseHolds() {
    auto held = [](const QVariant& v) {
      return static_cast<const QString*>(v.constData())->constData();
    };
    QVariant v;
    QString spare;
    RecordTableModel::setText(v, "a first, longer text", spare);
    const QChar* first = held(v);
    RecordTableModel::setText(v, "shorter", spare);
    QCOMPARE(v.toString(), QString("shorter"));
    QCOMPARE(held(v), first);  // written over: no new string
    // A style keeps the last text it laid out: the next goes into the
    // spare, and the two change places.
    QString kept = v.toString();
    RecordTableModel::setText(v, "next", spare);
    QCOMPARE(kept, QString("shorter"));  // a string someone holds is never written over
    QCOMPARE(v.toString(), QString("next"));
    QCOMPARE(spare.constData(), first);
    const QChar* second = held(v);
    kept = v.toString();  // the first string is let go
    RecordTableModel::setText(v, "then", spare);
    QCOMPARE(kept, QString("next"));
    QCOMPARE(v.toString(), QString("then"));
    QCOMPARE(held(v), first);  // two strings serve every cell
    QCOMPARE(spare.constData(), second);
    RecordTableModel::setText(v, "20 \xc2\xb5m, \xe2\x8f\x8e", spare);
    QCOMPARE(v.toString(), QString::fromUtf8("20 \xc2\xb5m, \xe2\x8f\x8e"));
    v = 42;  // a variant that holds no string
    RecordTableModel::setText(v, "7", spare);
    QCOMPARE(v.toString(), QString("7"));
    RecordTableModel::setText(v, "", spare);
    QVERIFY(v.toString().isEmpty());
  }

  void aCellsTextAViewKeepsStaysAsItWasWhenLaterCellsAreRead() {
    // A delegate passes the same variants for every cell: the table writes
    // each text over the last one when the view let it go, never over a
    // text the view kept.
    auto ws = Workspace::openLocal(path_, false);
    RecordTableModel model(*ws);
    model.setTree("parts");
    QVERIFY(model.rowCount() > 2);
    std::array<QModelRoleData, 1> asked{QModelRoleData(Qt::DisplayRole)};
    std::vector<QString> kept, copies;
    for (int row = 0; row < model.rowCount(); ++row) {
      for (int c = 0; c < model.columnCount(); ++c) {
        static_cast<const QAbstractItemModel&>(model).multiData(model.index(row, c), asked);
        QString text = asked[0].data().toString();
        QCOMPARE(text, model.data(model.index(row, c)).toString());
        if (row % 2 == 1) continue;  // let go: the next cell may be written over it
        kept.push_back(text);
        copies.emplace_back(text.constData(), text.size());  // a deep copy
      }
    }
    QCOMPARE(kept, copies);
  }

  void aReadOnlyWorkspaceRefusesEditsAndSaysHow() {
    auto ws = Workspace::openLocal(path_, false);
    try {
      ws->edit([](WriteTxn&) {});
      QFAIL("a read-only workspace took an edit");
    } catch (const Error& e) {
      QVERIFY(QString(e.what()).contains("--write"));
    }
  }

  void theShownRowsExportAsNdjsonAndCsv() {
    auto ws = Workspace::openLocal(path_, false);
    auto keys = std::make_shared<std::vector<RowKey>>(std::vector<RowKey>{{1, 0}, {2, 1}});
    std::string ndjson = dir_.sub("out.ndjson"), csv = dir_.sub("out.csv");
    QCOMPARE(exportView(ws->db(), "parts", keys, ExportFormat::kNdjson, ndjson), std::uint64_t(2));
    std::ifstream in(ndjson);
    std::string line;
    std::vector<QJsonObject> rows;
    while (std::getline(in, line)) {
      rows.push_back(QJsonDocument::fromJson(QByteArray::fromStdString(line)).object());
    }
    QCOMPARE(rows.size(), std::size_t(2));
    QCOMPARE(rows[1]["revision"].toInt(), 1);
    QCOMPARE(rows[1]["data"].toObject()["name"].toString(), QString("part 2 revised"));
    QCOMPARE(exportView(ws->db(), "parts", nullptr, ExportFormat::kCsv, csv), std::uint64_t(301));
    std::ifstream c(csv);
    std::getline(c, line);
    QVERIFY(QString::fromStdString(line).startsWith("id,revision,number,name,"));
    std::getline(c, line);
    QVERIFY(QString::fromStdString(line).startsWith("1,0,P-100001,part 1,"));
    // A file that cannot be written is named.
    try {
      exportView(ws->db(), "parts", nullptr, ExportFormat::kCsv, dir_.sub("no/such/dir.csv"));
      QFAIL("wrote into a missing directory");
    } catch (const Error& e) {
      QVERIFY(QString(e.what()).contains("no/such/dir.csv"));
    }
  }

  void aCommitOfAnotherProcessShowsWithoutARefresh() {
    test::TempDir dir;
    test::makePlmDatabase(dir.sub("db"), 5);
    auto ws = Workspace::openLocal(dir.sub("db"), false);
    RecordTableModel model(*ws);
    model.setTree("parts");
    QCOMPARE(model.rowCount(), 6);
    int name = column(model, "name");
    QCOMPARE(cell(model, 3, name), QString("part 3"));
    QSignalSpy changed(&model, &QAbstractItemModel::dataChanged);
    // Another process renames part 3.
    pid_t pid = test::spawnProcess(VIEWER_WRITER_BIN, {dir.sub("db"), "rename", "3", "renamed elsewhere"},
                                 dir.sub("writer.log"), -1, {});
    QCOMPARE(exitCode(pid), 0);
    QTRY_COMPARE_WITH_TIMEOUT(cell(model, 3, name), QString("renamed elsewhere"), 5000);
    QVERIFY(changed.count() >= 1);
    QVERIFY(model.data(model.index(3, 0), Qt::BackgroundRole).isValid());  // highlighted
    QVERIFY(!model.data(model.index(0, 0), Qt::BackgroundRole).isValid());
    // And a record it creates appears.
    pid = test::spawnProcess(VIEWER_WRITER_BIN, {dir.sub("db"), "create", "0", "made elsewhere"},
                             dir.sub("writer.log"), -1, {});
    QCOMPARE(exitCode(pid), 0);
    QTRY_COMPARE_WITH_TIMEOUT(model.rowCount(), 7, 5000);
    QCOMPARE(cell(model, 6, name), QString("made elsewhere"));
  }
};

QTEST_GUILESS_MAIN(ModelsTest)
#include "models_test.moc"
