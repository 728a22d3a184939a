// The real window on a real X server (Xvfb): open a database, pick a tree,
// filter, open a record, follow a reference, edit a draft, and a mistake
// in a filter. Screenshots of each step go to $HILLS_SCREENSHOTS (default:
// viewer-screenshots in the working directory).
#include <QApplication>
#include <QDir>
#include <QLineEdit>
#include <QScreen>
#include <QtTest>

#include "main_window.h"
#include "viewer_fixtures.h"

using namespace hills;
using namespace hills::viewer;

class WindowTest : public QObject {
  Q_OBJECT

 private:
  test::TempDir dir_;
  std::unique_ptr<MainWindow> window_;
  QString shots_;

  void shot(const QString& name) {
    QApplication::processEvents();
    QTest::qWait(150);
    QVERIFY(window_->grab().save(shots_ + "/" + name + ".png"));
  }

 private slots:
  void initTestCase() {
    QVERIFY2(QGuiApplication::platformName() == "xcb",
             "run under an X server (xvfb-run): the window test looks at real pixels");
    shots_ = qEnvironmentVariable("HILLS_SCREENSHOTS", QDir::currentPath() + "/viewer-screenshots");
    QDir().mkpath(shots_);
    test::makePlmDatabase(dir_.sub("db"), 40);
    window_ = std::make_unique<MainWindow>(Workspace::openLocal(dir_.sub("db"), true));
    window_->show();
    QVERIFY(QTest::qWaitForWindowExposed(window_.get()));
  }

  void theWindowOpensOnTheFirstTreeWithItsRecords() {
    QVERIFY(window_->selectTree("parts"));
    QCOMPARE(window_->records().rowCount(), 41);
    QVERIFY(window_->recordView()->isVisible());
    QCOMPARE(window_->panel().fields().id(), std::uint64_t(1));
    shot("01-parts");
  }

  void aFilterNarrowsTheTable() {
    window_->filterEdit()->setText("mass > 15 and kind = assembly");
    QTest::keyClick(window_->filterEdit(), Qt::Key_Return);
    QTRY_VERIFY(!window_->filtering());
    QCOMPARE(window_->records().rowCount(), 2);  // mass 0.5 n > 15 and n % 4 == 2: parts 34 and 38
    shot("02-filtered");
  }

  void aMistakeInAFilterIsShownWhereItIs() {
    window_->filterEdit()->setText("mass > 2 and nmae ~ \"bolt\"");
    QTest::keyClick(window_->filterEdit(), Qt::Key_Return);
    QVERIFY(window_->filterMessage()->isVisible());
    QVERIFY(window_->filterMessage()->text().contains("no field 'nmae'"));
    QCOMPARE(window_->filterEdit()->cursorPosition(), 13);
    shot("03-filter-mistake");
    window_->filterEdit()->clear();
    QTest::keyClick(window_->filterEdit(), Qt::Key_Return);
    QCOMPARE(window_->records().rowCount(), 41);
  }

  void aReferenceOpensTheRecordItNames() {
    window_->openRecord({"boms", 1, 0});
    QCOMPARE(window_->records().tree(), std::string("boms"));
    auto& fields = window_->panel().fields();
    QCOMPARE(fields.tree(), std::string("boms"));
    window_->panel().fieldsView()->expandAll();
    shot("04-bom");
    QModelIndex assembly;
    for (int r = 0; r < fields.rowCount(); ++r) {
      if (fields.index(r, 0).data().toString() == "assembly") assembly = fields.index(r, 1);
    }
    QVERIFY(assembly.isValid());
    emit window_->panel().fieldsView()->activated(assembly);
    QCOMPARE(window_->records().tree(), std::string("parts"));
    QCOMPARE(fields.id(), std::uint64_t(1));
    shot("05-followed-reference");
  }

  void aDraftIsEditedInTheWindow() {
    window_->openRecord({"parts", 5, 0});
    auto& fields = window_->panel().fields();
    QModelIndex name;
    for (int r = 0; r < fields.rowCount(); ++r) {
      if (fields.index(r, 0).data().toString() == "name") name = fields.index(r, 1);
    }
    auto* view = window_->panel().fieldsView();
    view->setCurrentIndex(name);
    view->edit(name);
    QApplication::processEvents();
    auto editors = view->viewport()->findChildren<QLineEdit*>();
    QVERIFY2(editors.size() == 1, "no line editor opened on the name");
    auto* editor = editors.front();
    editor->selectAll();
    QTest::keyClicks(editor, "bracket, steel");
    QTest::keyClick(editor, Qt::Key_Return);
    auto& records = window_->records();
    int nameColumn = -1;
    for (int c = 0; c < records.columnCount(); ++c) {
      if (records.headerData(c, Qt::Horizontal).toString() == "name") nameColumn = c;
    }
    QTRY_COMPARE(records.data(records.index(*records.rowOf({5, 0}), nameColumn)).toString(),
                 QString("bracket, steel"));
    window_->panel().setCurrentIndex(2);  // history
    shot("06-edited");
    window_->panel().setCurrentIndex(0);
  }

  void aDraftIsEditedInItsTableCell() {
    window_->openRecord({"parts", 4, 0});
    auto& records = window_->records();
    int row = *records.rowOf({4, 0}), nameColumn = -1;
    for (int c = 0; c < records.columnCount(); ++c) {
      if (records.headerData(c, Qt::Horizontal).toString() == "name") nameColumn = c;
    }
    auto* view = window_->recordView();
    auto cell = records.index(row, nameColumn);
    view->setCurrentIndex(cell);
    view->scrollTo(cell);
    view->edit(cell);
    QApplication::processEvents();
    auto editors = view->viewport()->findChildren<QLineEdit*>();
    QVERIFY2(editors.size() == 1, "no line editor opened in the name's cell");
    auto* editor = editors.front();
    editor->selectAll();
    QTest::keyClicks(editor, "gusset plate");
    shot("08-table-cell-editing");
    QTest::keyClick(editor, Qt::Key_Return);
    QTRY_COMPARE(records.data(records.index(row, nameColumn)).toString(), QString("gusset plate"));
    // The record view follows.
    auto& fields = window_->panel().fields();
    QTRY_VERIFY([&] {
      for (int r = 0; r < fields.rowCount(); ++r) {
        if (fields.index(r, 0).data().toString() == "name") {
          return fields.index(r, 1).data().toString() == "gusset plate";
        }
      }
      return false;
    }());
  }

  void aRefusedActionShowsHillsMessage() {
    window_->openRecord({"parts", 2, 0});  // released
    window_->workspace().db();  // the record stays as it was
    try {
      window_->workspace().edit([](WriteTxn& txn) { txn.tree("parts").remove(2, 0); });
      QFAIL("removed a released record");
    } catch (const Error& e) {
      QVERIFY(QString(e.what()).contains("released"));
    }
    window_->openRecord({"parts", 2, 1});
    window_->panel().setCurrentIndex(2);
    window_->panel().compareRevisions();
    QVERIFY(window_->panel().diffTable()->rowCount() >= 2);
    shot("07-diff");
  }

  void cleanupTestCase() { window_.reset(); }
};

QTEST_MAIN(WindowTest)
#include "window_test.moc"
