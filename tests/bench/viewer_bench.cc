// The viewer benchmark: one tree of --records parts (1,000,000 by default),
// in one run, with medians of --rounds (3):
//   first rows   opening the database and reading the first 50 rows of the
//                record table (every column), against `mdb_stat -e` of the
//                same database (a process, as a person runs it)
//   scrolling    the model's work per row, reading 10,000 rows in order as
//                a view paints them (every role its delegate asks for):
//                every column, and the first --columns (10: what a window
//                1,400 pixels wide shows of a part)
//                and the same calls answered by a model that reads nothing
//                (each cell's text made already): what the view's calls
//                alone cost, the floor of any model; and the rows' pages
//                read alone, no cell written
//   memory       anonymous resident memory after opening, after scrolling
//                10,000 rows, and after visiting rows all through the tree
// --db DIR keeps the database in DIR (written when DIR does not exist, used
// as it is when it does), so that runs need not write it again.
#include <QAbstractTableModel>
#include <QCoreApplication>
#include <QModelRoleDataSpan>

#include <sys/wait.h>

#include <algorithm>
#include <array>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "bench_util.h"
#include "hills/hills.h"
#include "plm.hills.h"
#include "plm_fixtures.h"
#include "record_table_model.h"
#include "temp_dir.h"
#include "workspace.h"

namespace {

using hills::bench::interleavedMedians;
using hills::viewer::RecordTableModel;
using hills::viewer::Workspace;

// Resident memory of this process in MiB: `RssAnon` (what the viewer
// holds) or `RssFile` (pages of the database's map that reads touched:
// the kernel's page cache, shared and given back under pressure).
double residentMiB(const std::string& kind) {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind(kind + ":", 0) == 0) return std::stod(line.substr(kind.size() + 1)) / 1024;
  }
  return 0;
}

void run(const std::string& cmd) {
  int rc = std::system(cmd.c_str());
  if (!WIFEXITED(rc) || WEXITSTATUS(rc) != 0) {
    std::fprintf(stderr, "failed: %s\n", cmd.c_str());
    std::exit(1);
  }
}

// A table of `rows` x `columns` cells that holds one text a column and reads
// nothing: it answers a view's calls as RecordTableModel does (the index
// made directly, fixed flags, the displayed text put into the variant the
// view passes with RecordTableModel::setText, every other role emptied), so
// scrolling it costs what the view's calls cost and no more.
class ViewCallsOnly final : public QAbstractTableModel {
 public:
  ViewCallsOnly(int rows, int columns) : rows_(rows) {
    for (int c = 0; c < columns; ++c) texts_.push_back("cell text " + std::to_string(c));
  }
  int rowCount(const QModelIndex& parent = {}) const override { return parent.isValid() ? 0 : rows_; }
  int columnCount(const QModelIndex& parent = {}) const override {
    return parent.isValid() ? 0 : static_cast<int>(texts_.size());
  }
  QModelIndex index(int row, int column, const QModelIndex& parent = {}) const override {
    if (parent.isValid() || row < 0 || column < 0 || row >= rows_ || column >= columnCount()) {
      return {};
    }
    return createIndex(row, column);
  }
  Qt::ItemFlags flags(const QModelIndex& index) const override {
    if (!index.isValid()) return {};
    return Qt::ItemIsSelectable | Qt::ItemIsEnabled | Qt::ItemNeverHasChildren;
  }
  QVariant data(const QModelIndex& index, int role) const override {
    QVariant out;
    if (role == Qt::DisplayRole) {
      RecordTableModel::setText(out, texts_[static_cast<std::size_t>(index.column())], spare_);
    }
    return out;
  }
  void multiData(const QModelIndex& index, QModelRoleDataSpan roleDataSpan) const override {
    for (QModelRoleData& d : roleDataSpan) {
      if (d.role() == Qt::DisplayRole) {
        RecordTableModel::setText(d.data(), texts_[static_cast<std::size_t>(index.column())],
                                  spare_);
      } else if (d.data().isValid()) {
        d.clearData();
      }
    }
  }

 private:
  int rows_;
  std::vector<std::string> texts_;
  mutable QString spare_;
};

// Reads the first `columns` columns (every column: -1) of rows [first,
// first + count) as a QTableView paints them (Qt 6.4): the index of each
// cell, its flags, then the seven roles its QStyledItemDelegate asks for in
// one multiData call, and the text shown, kept until the next cell's (as
// QCommonStyle's layout cache keeps the last item it laid out).
std::size_t readRows(const QAbstractItemModel& model, int first, int count, int columns = -1) {
  std::size_t chars = 0;
  QString text;
  int shown = columns < 0 ? model.columnCount() : std::min(columns, model.columnCount());
  std::array<QModelRoleData, 7> roles{
      QModelRoleData(Qt::FontRole),       QModelRoleData(Qt::TextAlignmentRole),
      QModelRoleData(Qt::ForegroundRole), QModelRoleData(Qt::CheckStateRole),
      QModelRoleData(Qt::DecorationRole), QModelRoleData(Qt::DisplayRole),
      QModelRoleData(Qt::BackgroundRole)};
  const QAbstractItemModel& view = model;  // called as a view calls it
  Qt::ItemFlags flags;
  for (int r = first; r < first + count && r < model.rowCount(); ++r) {
    for (int c = 0; c < shown; ++c) {
      QModelIndex cell = view.index(r, c);
      flags |= view.flags(cell);
      view.multiData(cell, roles);
      text = roles[5].data().toString();
      chars += static_cast<std::size_t>(text.size());
    }
  }
  return chars + (flags.testFlag(Qt::ItemIsEnabled) ? 0 : 1);
}

}  // namespace

int main(int argc, char** argv) {
  QCoreApplication app(argc, argv);
  std::size_t records = 1000000;
  int rounds = 3;
  int columns = 10;
  std::string db;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--help" || a == "-h" || i + 1 == argc) {
      std::printf("usage: viewer_bench [--records N (1000000)] [--rounds N (3)] [--columns N (10)]"
                  " [--db DIR]\n");
      return a == "--help" || a == "-h" ? 0 : 2;
    }
    std::string v = argv[++i];
    if (a == "--records") records = std::stoul(v);
    else if (a == "--rounds") rounds = std::stoi(v);
    else if (a == "--columns") columns = std::stoi(v);
    else if (a == "--db") db = v;
    else {
      std::fprintf(stderr, "unknown option %s\n", a.c_str());
      return 2;
    }
  }
  hills::test::TempDir dir;
  if (db.empty()) db = dir.sub("db");
  if (!std::filesystem::exists(db)) hills::test::writeParts(db, records);
  records = Workspace::openLocal(db, false)->db().read([](const hills::ReadTxn& txn) {
    return static_cast<std::size_t>(txn.tree("parts").size());
  });
  std::printf("viewer benchmark: %zu parts, %d rounds, medians\n", records, rounds);
  std::size_t sink = 0;

  auto firstNs = interleavedMedians(rounds, 1, {
      [&] {
        auto ws = Workspace::openLocal(db, false);
        RecordTableModel model(*ws);
        model.setTree("parts");
        sink += readRows(model, 0, 50);
      },
      [&] { run("mdb_stat -e " + db + " > /dev/null"); },
  });
  std::printf("first 50 rows        %10.3f ms\n", firstNs[0] / 1e6);
  std::printf("mdb_stat -e          %10.3f ms\n", firstNs[1] / 1e6);
  std::printf("RATIO first_rows_vs_mdb_stat %.2f (target <= 3)\n", firstNs[0] / firstNs[1]);

  constexpr int kScroll = 10000;
  auto ws = Workspace::openLocal(db, false);
  double before = residentMiB("RssAnon");
  auto scrollNs = hills::bench::medianNsPerOp(rounds, kScroll, [&](int) {
    RecordTableModel model(*ws);
    model.setTree("parts");
    sink += readRows(model, 0, kScroll);
  });
  std::printf("RATIO scroll_ns_per_row %.0f (target <= 2000)\n", scrollNs);
  auto shownNs = hills::bench::medianNsPerOp(rounds, kScroll, [&](int) {
    RecordTableModel model(*ws);
    model.setTree("parts");
    sink += readRows(model, 0, kScroll, columns);
  });
  std::printf("RATIO scroll_ns_per_row_%d_columns %.0f (target <= 2000)\n", columns, shownNs);
  auto rowsNs = hills::bench::medianNsPerOp(rounds, kScroll, [&](int) {
    RecordTableModel model(*ws);
    model.setTree("parts");
    for (int r = 0; r < kScroll; ++r) sink += model.keyAt(r).id;
  });
  std::printf("reading the rows alone (their pages, no cell written): %.0f ns a row\n", rowsNs);
  {
    // The view's calls alone, on a model of as many rows and columns.
    RecordTableModel shape(*ws);
    shape.setTree("parts");
    ViewCallsOnly floor(shape.rowCount(), shape.columnCount());
    auto floorNs = hills::bench::medianNsPerOp(rounds, kScroll, [&](int) {
      sink += readRows(floor, 0, kScroll);
    });
    auto floorShownNs = hills::bench::medianNsPerOp(rounds, kScroll, [&](int) {
      sink += readRows(floor, 0, kScroll, columns);
    });
    std::printf("the view's calls alone: %.0f ns a row of %d columns, %.0f ns of %d\n", floorNs,
                shape.columnCount(), floorShownNs, columns);
    std::printf("RATIO scroll_vs_view_calls_alone %.2f (reported)\n", scrollNs / floorNs);
    std::printf("RATIO scroll_vs_view_calls_alone_%d_columns %.2f (reported)\n", columns,
                shownNs / floorShownNs);
  }

  RecordTableModel model(*ws);
  model.setTree("parts");
  sink += readRows(model, 0, kScroll);
  double scrolled = residentMiB("RssAnon");
  // Then all through the tree: a screen of rows every 1% of it.
  for (int step = 0; step < 100; ++step) {
    sink += readRows(model, static_cast<int>(records / 100 * static_cast<std::size_t>(step)), 40);
  }
  double visited = residentMiB("RssAnon");
  std::printf("anonymous memory: opened %.1f MiB, after %d rows %.1f MiB, after the whole tree "
              "%.1f MiB (%zu rows cached); the map's pages touched: %.1f MiB\n",
              before, kScroll, scrolled, visited, model.cachedRows(), residentMiB("RssFile"));
  std::printf("RATIO rss_growth_mib_after_scrolling %.1f (flat: bounded by the cache)\n",
              visited - before);
  return sink == 0 ? 1 : 0;
}
