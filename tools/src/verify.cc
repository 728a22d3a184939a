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

// Every record of a tree: keys, value sizes, decoding.
void verifyTree(const ReadTxn& txn, const TreeInfo& info, std::uint64_t entries, Report& report) {
  auto tree = txn.tree(info.name);
  Progress progress("verify " + info.name, entries);
  std::vector<std::pair<std::uint64_t, std::uint32_t>> goodKeys;
  std::uint64_t badKeys = 0, n = 0;
  scanTable(txn, info.name, "", [&](kj::ArrayPtr<const kj::byte> k, kj::ArrayPtr<const kj::byte> v) {
    std::uint64_t id;
    std::uint32_t rev;
    if (!decodeRecordKey(k, id, rev)) {
      ++badKeys;
      report.finding("tree '" + info.name + "': the key " + hex(k) +
                     " is not a record key (16 bytes: id > 0, revision, 4 zero bytes)");
    } else {
      if (v.size() == 0 || v.size() % 8 != 0) {
        report.finding(recordName(info.name, id, rev) + ": the value has " +
                       std::to_string(v.size()) + " bytes, not a whole number of 8-byte words");
      }
      goodKeys.emplace_back(id, rev);
    }
    ++n;
    return true;
  });
  std::uint64_t checked = 0;
  auto check = [&](const StoredRecord& rec) {
    auto problem = readThrough(tree, rec);
    if (!problem.empty()) report.finding(recordName(info.name, rec.id(), rec.revision()) + " " + problem);
    progress.update(++checked);
    return true;
  };
  // A scan is fastest; a record whose root does not decode stops it, and
  // the records after it are read one by one.
  std::size_t next = 0;
  if (badKeys == 0) {
    try {
      tree.scan(0, UINT64_MAX, [&](const StoredRecord& rec) {
        ++next;
        return check(rec);
      });
    } catch (const Error& e) {
      auto [id, rev] = goodKeys[next];
      report.finding(recordName(info.name, id, rev) + " does not decode: " + e.what());
      ++next;
    }
  }
  for (; next < goodKeys.size(); ++next) {
    auto [id, rev] = goodKeys[next];
    try {
      auto rec = tree.find(id, rev);
      if (rec) check(rec);
    } catch (const Error& e) {
      report.finding(recordName(info.name, id, rev) + " does not decode: " + e.what());
    }
  }
  progress.finish();
  report.note("tree " + info.name + ": " + std::to_string(checked) + " records read through");
}

using Entries = std::vector<std::string>;  // index key, then the 16-byte record key

std::optional<Entries> rebuildReferences(const ReadTxn& txn, const GenericTreeView& tree) {
  Entries out;
  std::vector<std::string> keys;
  auto schema = tree.schema();
  tree.scan(0, UINT64_MAX, [&](const StoredRecord& rec) {
    keys.clear();
    try {
      detail::collectRefs(schema, rec.body(), keys);
    } catch (const kj::Exception&) {
      return true;  // the record's own finding says why
    }
    std::sort(keys.begin(), keys.end());
    keys.erase(std::unique(keys.begin(), keys.end()), keys.end());
    for (auto& k : keys) out.push_back(k + encodeRecordKey(rec.id(), rec.revision()));
    return true;
  });
  return out;
}

Entries rebuildLatest(const GenericTreeView& tree) {
  Entries out;
  std::uint64_t lastId = 0;
  std::uint32_t lastRev = 0;
  auto flush = [&] {
    if (lastId != 0) out.push_back(encodeRecordKey(lastId, 0).substr(0, 8) + encodeRecordKey(lastId, lastRev));
  };
  tree.scan(0, UINT64_MAX, [&](const StoredRecord& rec) {
    if (rec.id() != lastId) flush();
    lastId = rec.id();
    lastRev = rec.revision();
    return true;
  });
  flush();
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
void verifyIndex(const ReadTxn& txn, const IndexStamp& ix, const std::set<std::string>& trees,
                 Report& report) {
  std::string where = "index '" + ix.name + "' (tree " + ix.tree + ")";
  if (!trees.count(ix.tree)) {
    report.finding(where + ": indexes a tree the database does not have");
    return;
  }
  auto tree = txn.tree(ix.tree);
  Entries actual;
  bool refShaped = true, latestShaped = true;
  scanTable(txn, "_index:" + ix.name, "",
            [&](kj::ArrayPtr<const kj::byte> k, kj::ArrayPtr<const kj::byte> v) {
              std::string entry(reinterpret_cast<const char*>(k.begin()), k.size());
              std::uint64_t id;
              std::uint32_t rev;
              if (!decodeRecordKey(v, id, rev)) {
                report.finding(where + ": the entry under key " + hex(k) +
                               " does not hold a record key: " + hex(v));
                return true;
              }
              if (!tree.contains(id, rev)) {
                report.finding(where + ": the entry under key " + hex(k) + " names record " +
                               std::to_string(id) + "/" + std::to_string(rev) +
                               ", which the tree does not hold");
              }
              auto nul = entry.size() >= 13 ? entry.size() - 13 : std::string::npos;
              refShaped = refShaped && nul != std::string::npos && entry[nul] == '\0' &&
                          trees.count(entry.substr(0, nul));
              latestShaped = latestShaped && k.size() == 8 &&
                             std::memcmp(k.begin(), v.begin(), 8) == 0;
              entry.append(reinterpret_cast<const char*>(v.begin()), v.size());
              actual.push_back(std::move(entry));
              return true;
            });
  std::optional<Entries> expected;
  std::string kind;
  try {
    if (!actual.empty() && refShaped) {
      expected = rebuildReferences(txn, tree);
      kind = "references";
    } else if (!actual.empty() && latestShaped) {
      expected = rebuildLatest(tree);
      kind = "newest revisions";
    }
  } catch (const Error& e) {
    report.note(where + ": not rebuilt, a record of its tree does not decode (reported above)");
    return;
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
    for (const auto& info : db->trees()) verifyTree(txn, info, entries[info.name], report);
    for (const auto& ix : meta.indexes) verifyIndex(txn, ix, trees, report);
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
