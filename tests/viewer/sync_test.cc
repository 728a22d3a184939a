// The viewer as a sync client of a real hills-server on 127.0.0.1: its
// replica learns the trees from the server, shows who holds each borrow,
// checks out, edits and checks in, and a check-out of a record another
// client holds is refused naming the holder.
#include <QSignalSpy>
#include <QtTest>


#include "main_window.h"
#include "record_fields_model.h"
#include "record_table_model.h"
#include "trees_model.h"
#include "sync_fixtures.h"
#include "temp_dir.h"

using namespace hills;
using namespace hills::viewer;
using namespace std::chrono_literals;

class SyncTest : public QObject {
  Q_OBJECT

 private:
  test::TempDir dir_;
  std::unique_ptr<test::ServerProcess> server_;
  std::unique_ptr<Client> b_;  // a program with compiled types
  Key<plm::Part> held_, free_;

  static int column(const QAbstractItemModel& m, const QString& name) {
    for (int c = 0; c < m.columnCount(); ++c) {
      if (m.headerData(c, Qt::Horizontal).toString() == name) return c;
    }
    return -1;
  }

 private slots:
  void initTestCase() {
    auto config = test::writeServerConfig(dir_.sub("server.json"));
    server_ = std::make_unique<test::ServerProcess>(dir_.sub("server-db"), config);
    b_ = std::make_unique<Client>(dir_.sub("b"), test::clientOptions("B", server_->address()));
    QVERIFY(b_->waitConnected(10s));
    QVERIFY(test::hasIds(*b_));
    held_ = test::createPart(*b_, 1);
    free_ = test::createPart(*b_, 2);
    QVERIFY(b_->flush(10s));
    b_->checkOut(held_);
  }

  void theViewerFollowsTheServerAndShowsWhoHoldsWhat() {
    auto ws = Workspace::openClient(dir_.sub("viewer"), server_->address(), "A", "A-token",
                                    true);
    QVERIFY(ws->client()->waitConnected(10s));
    QVERIFY(ws->client()->sync(10s));
    ws->poll();
    RecordTableModel model(*ws);
    model.setTree("parts");
    QCOMPARE(model.rowCount(), 2);
    int holder = column(model, "borrowed by");
    QVERIFY(holder > 0);
    QCOMPARE(model.data(model.index(*model.rowOf({held_.id, 0}), holder)).toString(), QString("B"));
    QCOMPARE(model.data(model.index(*model.rowOf({free_.id, 0}), holder)).toString(), QString());
    QVERIFY(ws->statusLine().contains("connected"));

    // Held by B: the check-out is refused naming B.
    try {
      ws->client()->checkOut({"parts", held_.id, 0});
      QFAIL("checked out a record B holds");
    } catch (const Error& e) {
      QVERIFY(e.code() == ErrorCode::kBorrowed);
      QVERIFY2(QString(e.what()).contains("B"), e.what());
    }

    // Without a borrow, an edit is refused and nothing changes.
    RecordFieldsModel fields(*ws);
    QSignalSpy failed(&fields, &RecordFieldsModel::editFailed);
    fields.setRecord("parts", free_.id, 0);
    auto name = [&] {
      for (int r = 0; r < fields.rowCount(); ++r) {
        if (fields.index(r, 0).data().toString() == "name") return fields.index(r, 1);
      }
      return QModelIndex();
    };
    QVERIFY(!fields.setData(name(), QString("edited without a borrow")));
    QCOMPARE(failed.count(), 1);

    // Check out, edit, check in: B sees the edit.
    ws->client()->checkOut({"parts", free_.id, 0});
    QVERIFY(fields.setData(name(), QString("edited in the viewer")));
    ws->client()->checkIn({"parts", free_.id, 0});
    QVERIFY(ws->client()->flush(10s));
    QVERIFY(b_->sync(10s));
    QCOMPARE(test::partIn(b_->db(), free_)->name, std::string("edited in the viewer"));

    // B's change arrives in the viewer's table without a refresh.
    b_->checkIn(held_);
    b_->checkOut(free_);
    auto p = test::partIn(b_->db(), free_).value();
    p.name = "edited by B";
    b_->db().write([&](WriteTxn& txn) { txn.tree<plm::Part>().update(free_, p); });
    b_->checkIn(free_);
    QVERIFY(b_->flush(10s));
    int nameColumn = column(model, "name");
    QTRY_COMPARE_WITH_TIMEOUT(
        model.data(model.index(*model.rowOf({free_.id, 0}), nameColumn)).toString(),
        QString("edited by B"), 10000);
    QTRY_COMPARE_WITH_TIMEOUT(
        model.data(model.index(*model.rowOf({held_.id, 0}), holder)).toString(), QString(), 10000);
  }

  void aClientOfSomeTreesShowsTheOthersAsNotReplicatedAndFetchesTheirRecords() {
    // An account limited to parts and stock, and one that may read every tree.
    std::string config = test::writeTreeLimitedConfig(dir_.sub("limited.json"));
    test::ServerProcess server(dir_.sub("limited-db"), config);
    Client a(dir_.sub("limited-a"), test::clientOptions("A", server.address()));
    QVERIFY(a.waitConnected(10s));
    QVERIFY(test::hasIds(a));
    auto part = test::createPart(a, 1);
    auto bom = a.db().write([&](WriteTxn& txn) {
      plm::Bom b{};
      b.assembly = part;
      b.notes = "read through the viewer";
      return txn.tree<plm::Bom>().create(b);
    });
    QVERIFY(a.sync(10s));

    // Every tree, as the viewer asked before --trees: refused, naming one
    // the account may not read.
    auto all = Workspace::openClient(dir_.sub("floor-all"), server.address(), "floor",
                                     "floor-token", true);
    QTRY_VERIFY_WITH_TIMEOUT(all->client()->status().refusedBy.has_value(), 10000);
    QVERIFY(*all->client()->status().refusedBy == ErrorCode::kDenied);
    QVERIFY2(all->client()->status().lastError.find("boms") != std::string::npos,
             all->client()->status().lastError.c_str());

    // The trees it may read: it follows them.
    auto floor = Workspace::openClient(dir_.sub("floor"), server.address(), "floor", "floor-token",
                                       true, {}, {"parts", "stock"});
    QVERIFY(floor->client()->sync(10s));
    QVERIFY(floor->holds("parts"));
    QVERIFY(!floor->holds("boms"));
    RecordTableModel parts(*floor);
    parts.setTree("parts");
    QCOMPARE(parts.rowCount(), 1);
    // A reference into boms is fetched, and the server refuses it by name.
    MainWindow floorWindow(std::move(floor));
    floorWindow.openRecord({"boms", bom.id, 0});
    QTRY_VERIFY_WITH_TIMEOUT(!floorWindow.lastError().isEmpty(), 10000);
    QVERIFY2(floorWindow.lastError().contains("boms"), qPrintable(floorWindow.lastError()));
    QVERIFY(floorWindow.lastFetched().isEmpty());

    // An account that may read boms but does not replicate them: the tree is
    // listed as not replicated, and its record is fetched and shown as JSON.
    auto shelf = Workspace::openClient(dir_.sub("shelf"), server.address(), "shelf", "shelf-token",
                                       true, {}, {"parts", "stock"});
    QVERIFY(shelf->client()->sync(10s));
    TreesModel trees(*shelf);
    int boms = trees.rowOf("boms");
    QVERIFY(boms >= 0);
    QCOMPARE(trees.data(trees.index(boms, TreesModel::kRecords)).toString(),
             QString("not replicated"));
    QCOMPARE(trees.data(trees.index(trees.rowOf("parts"), TreesModel::kRecords)).toString(),
             QString("1"));
    auto json = shelf->fetchJson({"boms", bom.id, 0});
    QVERIFY(json);
    QVERIFY(!json->fromCache);
    QVERIFY2(json->json.find("read through the viewer") != std::string::npos, json->json.c_str());
    QVERIFY(!shelf->fetchJson({"boms", bom.id + 1000, 0}));
    MainWindow shelfWindow(std::move(shelf));
    shelfWindow.openRecord({"boms", bom.id, 0});
    QTRY_VERIFY_WITH_TIMEOUT(!shelfWindow.lastFetched().isEmpty(), 10000);
    QVERIFY2(shelfWindow.lastError().isEmpty(), qPrintable(shelfWindow.lastError()));
    QVERIFY(shelfWindow.lastFetched().contains("read through the viewer"));
    QVERIFY(shelfWindow.fetchedWindow());
    if (const char* shots = std::getenv("HILLS_SCREENSHOTS")) {
      QDir().mkpath(shots);
      QVERIFY(shelfWindow.fetchedWindow()->grab().save(QString(shots) + "/fetched-record.png"));
    }
    shelfWindow.openRecord({"boms", bom.id + 1000, 0});
    QTRY_VERIFY_WITH_TIMEOUT(!shelfWindow.lastError().isEmpty(), 10000);
    QVERIFY2(shelfWindow.lastError().contains("no record"), qPrintable(shelfWindow.lastError()));
  }

  void cleanupTestCase() {
    b_.reset();
    if (server_) QCOMPARE(server_->kill(SIGTERM), 0);
  }
};

QTEST_MAIN(SyncTest)
#include "sync_test.moc"
