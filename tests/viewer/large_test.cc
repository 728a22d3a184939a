// A tree of 1,000,000 records: the first rows come from one page of reads,
// and the memory the model holds does not grow with the tree however far
// one scrolls.
#include <QtTest>

#include <fstream>

#include "record_table_model.h"
#include "sanitizers.h"
#include "viewer_fixtures.h"

using namespace hills;
using namespace hills::viewer;

namespace {

// Anonymous resident memory in MiB: what the process holds, without the
// database's mapped pages (the kernel's page cache).
double anonymousMiB() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("RssAnon:", 0) == 0) return std::stod(line.substr(8)) / 1024;
  }
  return -1;
}

}  // namespace

class LargeTest : public QObject {
  Q_OBJECT

 private:
  test::TempDir dir_;
  static constexpr int kRecords = 1000000;

 private slots:
  void initTestCase() {
    test::writeParts(dir_.sub("db"), kRecords, 1, 8);
  }

  void aMillionRecordsOpenAfterOnePageAndMemoryStaysFlat() {
    auto ws = Workspace::openLocal(dir_.sub("db"), false);
    RecordTableModel model(*ws);
    model.setTree("parts");
    QCOMPARE(model.rowCount(), kRecords);
    for (int r = 0; r < 50; ++r) QVERIFY(!model.data(model.index(r, 1)).toString().isEmpty());
    // The first screen read the first page (and the key it starts at) and
    // nothing more.
    QCOMPARE(model.recordsRead(), std::uint64_t(RecordTableModel::kPageRows + 1));
    double opened = anonymousMiB();

    // Scroll 10,000 rows, then jump through the whole tree and to its end.
    for (int r = 0; r < 10000; ++r) model.data(model.index(r, 1));
    double scrolled = anonymousMiB();
    for (int step = 0; step < 100; ++step) {
      for (int r = 0; r < 40; ++r) model.data(model.index(step * (kRecords / 100) + r, 1));
    }
    QCOMPARE(model.data(model.index(kRecords - 1, 1)).toString(), QString("P-%1").arg(100000 + kRecords));
    double visited = anonymousMiB();
    QVERIFY(model.cachedRows() <= RecordTableModel::kMaxPages * RecordTableModel::kPageRows);
    if (const char* sanitizer = test::memorySanitizer()) {
      // Its allocator's own memory swamps what the model holds.
      qInfo("memory not checked under %s", sanitizer);
      return;
    }
    // Bounded by the page cache (2,048 rows' stored values, under a MiB),
    // not by the tree: a model that held every row would need gigabytes.
    qInfo("anonymous memory: opened %.1f MiB, after 10,000 rows %.1f MiB, after the tree %.1f MiB",
          opened, scrolled, visited);
    QVERIFY2(visited - opened < 48, qPrintable(QString::number(visited - opened)));
    QVERIFY2(visited - scrolled < 8, qPrintable(QString::number(visited - scrolled)));
  }
};

QTEST_GUILESS_MAIN(LargeTest)
#include "large_test.moc"
