// hills verify DIR: reads everything and says what is wrong.
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <map>
#include <set>
#include <unordered_map>

#include "commands.h"
#include "common.h"
#include "hills/indexes.h"
#include "hills/inspect.h"
#include "hills/protocol.h"
#include "progress.h"

namespace hills::tools {
namespace {

constexpr std::size_t kShown = 20;  // findings of one kind printed in full

struct VerifyArgs {
  std::string dir;
};

// What verify found; printed as it goes.
class Report {
 public:
  void note(const std::string& line) { std::printf("  %s\n", line.c_str()); }
  void finding(const std::string& what) {
    if (++findings_ <= 200) std::printf("FINDING %s\n", what.c_str());
    if (findings_ == 200) std::printf("(further findings are counted, not printed)\n");
  }
  std::uint64_t findings() const { return findings_; }

 private:
  std::uint64_t findings_ = 0;
};

std::string hex(kj::ArrayPtr<const kj::byte> bytes) {
  std::string out;
  char b[3];
  for (auto c : bytes) {
    std::snprintf(b, sizeof(b), "%02x", c);
    out += b;
  }
  return out;
}

std::string recordName(std::string_view tree, std::uint64_t id, std::uint32_t revision) {
  return "tree '" + std::string(tree) + "', record " + std::to_string(id) + "/" +
         std::to_string(revision);
}

// A 16-byte record key: id and revision big-endian, 4 zero bytes.
bool decodeRecordKey(kj::ArrayPtr<const kj::byte> k, std::uint64_t& id, std::uint32_t& rev) {
  if (k.size() != 16) return false;
  id = 0;
  rev = 0;
  for (int i = 0; i < 8; ++i) id = id << 8 | k[i];
  for (int i = 8; i < 12; ++i) rev = rev << 8 | k[i];
  return k[12] == 0 && k[13] == 0 && k[14] == 0 && k[15] == 0 && id != 0;
}

std::string encodeRecordKey(std::uint64_t id, std::uint32_t rev) {
  std::string k(16, '\0');
  for (int i = 0; i < 8; ++i) k[i] = static_cast<char>(id >> (56 - 8 * i));
  for (int i = 0; i < 4; ++i) k[8 + i] = static_cast<char>(rev >> (24 - 8 * i));
  return k;
}

using Entries = std::vector<std::string>;  // index key, then the 16-byte record key

// An index as its table holds it, read before the trees are (so that the
// one pass over a tree gathers what the index's rebuild needs).
struct IndexScan {
  const IndexStamp* stamp = nullptr;
  std::string where;
  bool treeKnown = false;
  struct Entry {
    std::string bytes;       // key, then value
    std::uint32_t keySize;
  };
  std::vector<Entry> entries;
  bool refShaped = true, latestShaped = true;
};

// What one pass over a tree gathered.
struct TreeScan {
  std::vector<std::pair<std::uint64_t, std::uint32_t>> keys;  // record keys, in order
  bool undecodable = false;  // a record whose envelope does not decode
  bool wantRefs = false;     // a references index of this tree is checked
  Entries refs;              // its rebuild
};

IndexScan readIndex(const ReadTxn& txn, const IndexStamp& ix, const std::set<std::string>& trees) {
  IndexScan scan;
  scan.stamp = &ix;
  scan.where = "index '" + ix.name + "' (tree " + ix.tree + ")";
  scan.treeKnown = trees.count(ix.tree) != 0;
  if (!scan.treeKnown) return scan;
  scanTable(txn, "_index:" + ix.name, "",
            [&](kj::ArrayPtr<const kj::byte> k, kj::ArrayPtr<const kj::byte> v) {
              IndexScan::Entry e;
              e.bytes.reserve(k.size() + v.size());
              e.bytes.append(reinterpret_cast<const char*>(k.begin()), k.size());
              e.bytes.append(reinterpret_cast<const char*>(v.begin()), v.size());
              e.keySize = static_cast<std::uint32_t>(k.size());
              std::uint64_t id;
              std::uint32_t rev;
              if (decodeRecordKey(v, id, rev)) {
                auto nul = k.size() >= 13 ? k.size() - 13 : std::string::npos;
                scan.refShaped = scan.refShaped && nul != std::string::npos && k[nul] == 0 &&
                                 trees.count(e.bytes.substr(0, nul));
                scan.latestShaped = scan.latestShaped && k.size() == 8 &&
                                    std::memcmp(k.begin(), v.begin(), 8) == 0;
              }
              scan.entries.push_back(std::move(e));
              return true;
            });
  return scan;
}

// Reads the record through against the tree's stored schema
// (StoredRecord::check). Returns what is wrong; empty when nothing is.
std::string readThrough(const GenericTreeView& tree, const StoredRecord& rec) {
  try {
    auto type = rec.envelope().getTypeId();
    if (type != tree.typeId()) {
      char buf[96];
      std::snprintf(buf, sizeof(buf), "holds a value of type 0x%016llx; the tree's type is 0x%016llx",
                    static_cast<unsigned long long>(type),
                    static_cast<unsigned long long>(tree.typeId()));
      return buf;
    }
    rec.check();
  } catch (const Error& e) {
    return std::string("does not decode: ") + e.what();
  } catch (const kj::Exception& e) {
    return std::string("does not decode: ") + e.getDescription().cStr();
  }
  return {};
}

// Every entry of a tree, in one pass: its key is a record key, its value
// whole words, an envelope of the tree's type, read through to its last
// pointer against the schema; the keys (and references) for the indexes.
void verifyTree(const ReadTxn& txn, const TreeInfo& info, std::uint64_t entries, TreeScan& out,
                Report& report) {
  auto tree = txn.tree(info.name);
  auto schema = tree.schema();
  Progress progress("verify " + info.name, entries);
  out.keys.reserve(entries);
  std::uint64_t n = 0, checked = 0;
  std::vector<std::string> refs;
  scanTree(tree, [&](const TreeEntry& e) {
    progress.update(++n);
    std::uint64_t id;
    std::uint32_t rev;
    if (!decodeRecordKey(e.key, id, rev)) {
      report.finding("tree '" + info.name + "': the key " + hex(e.key) +
                     " is not a record key (16 bytes: id > 0, revision, 4 zero bytes)");
      return true;
    }
    out.keys.emplace_back(id, rev);
    if (e.value.size() == 0 || e.value.size() % 8 != 0) {
      report.finding(recordName(info.name, id, rev) + ": the value has " +
                     std::to_string(e.value.size()) + " bytes, not a whole number of 8-byte words");
      return true;
    }
    if (!e.record) {
      out.undecodable = true;
      report.finding(recordName(info.name, id, rev) + " does not decode: " + e.error->what());
      return true;
    }
    ++checked;
    auto problem = readThrough(tree, *e.record);
    if (!problem.empty()) report.finding(recordName(info.name, id, rev) + " " + problem);
    if (out.wantRefs) {
      refs.clear();
      try {
        detail::collectRefs(schema, e.record->body(), refs);
      } catch (const kj::Exception&) {
        return true;  // the record's own finding says why
      }
      std::sort(refs.begin(), refs.end());
      refs.erase(std::unique(refs.begin(), refs.end()), refs.end());
      for (auto& k : refs) out.refs.push_back(k + encodeRecordKey(id, rev));
    }
    return true;
  });
  progress.finish();
  // In LMDB's order, which is (id, revision) for record keys; the indexes
  // look keys up in it.
  if (!std::is_sorted(out.keys.begin(), out.keys.end())) std::sort(out.keys.begin(), out.keys.end());
  report.note("tree " + info.name + ": " + std::to_string(checked) + " records read through");
}

// The newest revision of every id, from the tree's keys in order.
Entries rebuildLatest(const TreeScan& tree) {
  Entries out;
  const auto& keys = tree.keys;
  for (std::size_t i = 0; i < keys.size(); ++i) {
    if (i + 1 < keys.size() && keys[i + 1].first == keys[i].first) continue;
    out.push_back(encodeRecordKey(keys[i].first, 0).substr(0, 8) +
                  encodeRecordKey(keys[i].first, keys[i].second));
  }
  return out;
}

std::string describeEntry(const std::string& entry) {
  auto key = entry.substr(0, entry.size() - 16);
  auto rk = kj::arrayPtr(reinterpret_cast<const kj::byte*>(entry.data()) + key.size(), 16);
  std::uint64_t id;
  std::uint32_t rev;
  decodeRecordKey(rk, id, rev);
  return "key " + hex(kj::arrayPtr(reinterpret_cast<const kj::byte*>(key.data()), key.size())) +
         " -> record " + std::to_string(id) + "/" + std::to_string(rev);
}

// Entries name existing records; the built-in kinds hills can tell by their
// keys (references, newest revisions) are compared with a rebuild.
void verifyIndex(IndexScan& ix, std::map<std::string, TreeScan>& scans, Report& report) {
  const std::string& where = ix.where;
  if (!ix.treeKnown) {
    report.finding(where + ": indexes a tree the database does not have");
    return;
  }
  TreeScan& tree = scans[ix.stamp->tree];
  Entries actual;
  actual.reserve(ix.entries.size());
  for (auto& e : ix.entries) {
    auto k = kj::arrayPtr(reinterpret_cast<const kj::byte*>(e.bytes.data()), e.keySize);
    auto v = kj::arrayPtr(k.end(), e.bytes.size() - e.keySize);
    std::uint64_t id;
    std::uint32_t rev;
    if (!decodeRecordKey(v, id, rev)) {
      report.finding(where + ": the entry under key " + hex(k) +
                     " does not hold a record key: " + hex(v));
      continue;
    }
    if (!std::binary_search(tree.keys.begin(), tree.keys.end(), std::make_pair(id, rev))) {
      report.finding(where + ": the entry under key " + hex(k) + " names record " +
                     std::to_string(id) + "/" + std::to_string(rev) +
                     ", which the tree does not hold");
    }
    actual.push_back(std::move(e.bytes));
  }
  ix.entries.clear();
  std::optional<Entries> expected;
  std::string kind;
  if (!actual.empty() && ix.refShaped) {
    if (tree.undecodable) {
      report.note(where + ": not rebuilt, a record of its tree does not decode (reported above)");
      return;
    }
    expected = tree.refs;
    kind = "references";
  } else if (!actual.empty() && ix.latestShaped) {
    expected = rebuildLatest(tree);
    kind = "newest revisions";
  }
  if (!expected) {
    report.note(where + ": " + std::to_string(actual.size()) +
                " entries name existing records; not rebuilt: its keys come from an indexer "
                "this tool does not have");
    return;
  }
  std::sort(actual.begin(), actual.end());
  std::sort(expected->begin(), expected->end());
  Entries missing, extra;
  std::set_difference(expected->begin(), expected->end(), actual.begin(), actual.end(),
                      std::back_inserter(missing));
  std::set_difference(actual.begin(), actual.end(), expected->begin(), expected->end(),
                      std::back_inserter(extra));
  for (std::size_t i = 0; i < missing.size() && i < kShown; ++i) {
    report.finding(where + ": a rebuild has the entry " + describeEntry(missing[i]) +
                   ", which the index lacks");
  }
  for (std::size_t i = 0; i < extra.size() && i < kShown; ++i) {
    report.finding(where + ": the index has the entry " + describeEntry(extra[i]) +
                   ", which a rebuild does not");
  }
  if (missing.size() + extra.size() > 2 * kShown) {
    report.finding(where + ": " + std::to_string(missing.size()) + " entries missing and " +
                   std::to_string(extra.size()) + " too many in all");
  }
  if (missing.empty() && extra.empty()) {
    report.note(where + ": " + std::to_string(actual.size()) + " entries agree with a rebuild (" +
                kind + ")");
  }
}

struct LogTarget {
  std::uint64_t sequence;
  kj::ArrayPtr<const kj::byte> value;
};

// The log is dense, and its newest entry for each record matches the tree.
void verifyLog(const ReadTxn& txn, const std::set<std::string>& trees, Report& report) {
  std::map<std::string, std::unordered_map<std::string, LogTarget>> newest;
  std::uint64_t expected = 1, count = 0;
  Progress progress("verify log", txn.lastSequence());
  txn.changes(0, [&](wire::Change::Reader c) {
    if (c.getSequence() != expected) {
      report.finding("change log: sequence " + std::to_string(c.getSequence()) + " follows " +
                     std::to_string(expected - 1) + " (a gap or a repeat)");
    }
    expected = c.getSequence() + 1;
    progress.update(++count);
    if (static_cast<unsigned>(c.getKind()) >= 6) return true;  // a hook's entry: no record change
    std::string tree = c.getTree();
    if (!trees.count(tree)) {
      report.finding("change log: entry " + std::to_string(c.getSequence()) +
                     " names tree '" + tree + "', which the database does not have");
      return true;
    }
    newest[tree][encodeRecordKey(c.getId(), c.getRevision())] =
        LogTarget{c.getSequence(), c.getValue()};
    return true;
  });
  progress.finish();
  std::uint64_t mismatches = 0;
  for (auto& [name, records] : newest) {
    auto tree = txn.tree(name);
    for (auto& [key, target] : records) {
      std::uint64_t id;
      std::uint32_t rev;
      decodeRecordKey(kj::arrayPtr(reinterpret_cast<const kj::byte*>(key.data()), 16), id, rev);
      std::string problem;
      try {
      auto rec = tree.find(id, rev);
      if (target.value.size() == 0 && rec) {
        problem = "was removed by entry " + std::to_string(target.sequence) + " but is there";
      } else if (target.value.size() != 0 && !rec) {
        problem = "is missing; entry " + std::to_string(target.sequence) + " stored it";
      } else if (rec && !rec.holds(target.value)) {
        problem = "differs from its newest log entry " + std::to_string(target.sequence);
      }
      } catch (const Error&) {
        continue;  // the record's own finding says why
      }
      if (!problem.empty() && ++mismatches <= kShown) {
        report.finding("change log: " + recordName(name, id, rev) + " " + problem);
      }
    }
  }
  if (mismatches > kShown) {
    report.finding("change log: " + std::to_string(mismatches) + " records differ from the log in all");
  }
  report.note("change log: " + std::to_string(count) + " entries, newest " +
              std::to_string(expected - 1));
}

void verifyBorrows(const ReadTxn& txn, const std::set<std::string>& trees, Report& report) {
  std::uint64_t n = 0;
  std::vector<BorrowInfo> borrows;
  try {
    borrows = protocol::listBorrows(txn);
  } catch (const Error& e) {
    report.finding(std::string("_borrows: ") + e.what());
    return;
  }
  for (const auto& b : borrows) {
    ++n;
    if (!trees.count(b.key.tree)) {
      report.finding("_borrows: the borrow of " + b.holder + " names tree '" + b.key.tree +
                     "', which the database does not have");
    } else if (!txn.tree(b.key.tree).contains(b.key.id, b.key.revision)) {
      report.finding("_borrows: the borrow of " + b.holder + " names " +
                     recordName(b.key.tree, b.key.id, b.key.revision) +
                     ", which the tree does not hold");
    }
  }
  report.note("borrows: " + std::to_string(n) + " name existing records");
}

std::uint64_t verify(const VerifyArgs& args) {
  auto db = openDatabase(args.dir, false);
  Report report;
  std::printf("verify %s\n", args.dir.c_str());
  db->read([&](const ReadTxn& txn) {
    MetaInfo meta = readMeta(txn);
    std::map<std::string, std::uint64_t> entries;
    for (auto& t : tableStats(txn)) entries[t.name] = t.entries;
    std::set<std::string> trees;
    for (const auto& info : db->trees()) trees.insert(info.name);
    // The indexes first: what their rebuilds need is gathered in the same
    // pass over each tree as the records are read through.
    std::vector<IndexScan> indexes;
    std::map<std::string, TreeScan> scans;
    for (const auto& ix : meta.indexes) {
      indexes.push_back(readIndex(txn, ix, trees));
      if (indexes.back().treeKnown && indexes.back().refShaped && !indexes.back().entries.empty()) {
        scans[ix.tree].wantRefs = true;
      }
    }
    for (const auto& info : db->trees()) {
      verifyTree(txn, info, entries[info.name], scans[info.name], report);
    }
    for (auto& ix : indexes) verifyIndex(ix, scans, report);
    if (meta.changeLog) verifyLog(txn, trees, report);
    if (entries.count(protocol::kBorrowTable)) verifyBorrows(txn, trees, report);
  });
  std::printf("%llu finding%s\n", static_cast<unsigned long long>(report.findings()),
              report.findings() == 1 ? "" : "s");
  return report.findings();
}

}  // namespace

kj::MainFunc verifyCommand(kj::ProcessContext& context) {
  auto args = std::make_shared<VerifyArgs>();
  return kj::MainBuilder(context, kVersion,
                         "Checks the database in DIR and prints a report: every record's key is "
                         "well formed and its value decodes and is read through to its last "
                         "pointer; every index entry names an existing record, and indexes of "
                         "the built-in kinds hills can tell by their keys (references, newest "
                         "revisions) agree with a rebuild; the change log is dense and its "
                         "newest entry of each record matches the tree; every borrow names an "
                         "existing record. Exits with 1 when it found anything. Read-only: it "
                         "may run while other processes write.")
      .expectArg("DIR", [args](kj::StringPtr dir) {
        args->dir = dir;
        return true;
      })
      .callAfterParsing([args, &context]() {
        return guarded(context, [&]() -> kj::MainBuilder::Validity {
          auto findings = verify(*args);
          std::fflush(stdout);
          if (findings > 0) {
            context.exitError(kj::str(findings, " finding", findings == 1 ? "" : "s", " in ",
                                      args->dir));
          }
          return true;
        });
      })
      .build();
}

}  // namespace hills::tools
