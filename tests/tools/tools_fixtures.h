// Databases for the tests of the `hills` command, and running it.
#pragma once

#include <sys/wait.h>

#include <cstdlib>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "hills/indexes.h"
#include "plm_fixtures.h"
#include "temp_dir.h"

namespace hills::test {

struct Run {
  int status = -1;  // the exit code
  std::string out, err;
};

inline std::string readFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// Runs the hills binary with `args` (no shell quoting needed for the
// paths the tests use), standard output and error captured.
inline Run runHills(const std::vector<std::string>& args, const std::string& stdinFile = {}) {
  static TempDir scratch;
  static int n = 0;
  std::string out = scratch.sub("out" + std::to_string(n)), err = scratch.sub("err" + std::to_string(n));
  ++n;
  std::string cmd = HILLS_BIN;
  for (const auto& a : args) cmd += " '" + a + "'";
  if (!stdinFile.empty()) cmd += " < '" + stdinFile + "'";
  cmd += " > '" + out + "' 2> '" + err + "'";
  int rc = std::system(cmd.c_str());
  Run r;
  r.status = WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
  r.out = readFile(out);
  r.err = readFile(err);
  return r;
}

// The indexers of the test databases: references of boms (hills can
// rebuild them from the keys alone), newest revisions of parts, and part
// numbers (an indexer only the application has).
inline Options toolOptions() {
  Options o = plmOptions();
  o.changeLog = true;
  o.indexers = {
      std::make_shared<ReferenceIndex<plm::Bom>>("bomRefs"),
      std::make_shared<LatestRevisionIndex<plm::Part>>("latestParts"),
      std::make_shared<NameIndex<plm::Part>>(
          "partNumbers", 1, [](plm::Part::Reader p) { return std::string(p.getNumber()); },
          NameOptions{.unique = true, .caseSensitive = false, .trim = true, .ignored = {}}),
  };
  return o;
}

// `parts` parts (every third released, the first with a second revision),
// a bom per ten parts naming some of them, and a stock item per bom.
inline void fillPlm(Database& db, int parts) {
  db.write([&](WriteTxn& txn) {
    auto p = txn.tree<plm::Part>();
    auto b = txn.tree<plm::Bom>();
    auto s = txn.tree<plm::StockItem>();
    std::vector<Key<plm::Part>> keys;
    for (int i = 0; i < parts; ++i) keys.push_back(p.create(makePart(i)));
    for (int i = 0; i < parts; i += 3) p.release(keys[static_cast<std::size_t>(i)]);
    if (!keys.empty()) p.newRevision(keys[0]);
    for (int i = 0; i + 1 < parts; i += 10) {
      plm::Bom bom{};
      bom.assembly = keys[static_cast<std::size_t>(i)];
      bom.lines.push_back(plm::Bom::Line{keys[static_cast<std::size_t>(i + 1)], 2, {"R1"}});
      bom.notes = "bom " + std::to_string(i);
      b.create(bom);
      plm::StockItem item{};
      item.part = keys[static_cast<std::size_t>(i)];
      item.location = "A-" + std::to_string(i);
      item.quantity = i;
      s.create(item);
    }
  });
}

inline void makePlmDatabase(const std::string& dir, int parts) {
  Database db(dir, toolOptions());
  fillPlm(db, parts);
}

}  // namespace hills::test
