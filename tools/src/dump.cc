// hills get, hills dump, hills log: records and the change log as text.
#include <cstdio>

#include "commands.h"
#include "common.h"
#include "hills/protocol.h"
#include "progress.h"

namespace hills::tools {
namespace {

struct GetArgs {
  std::string dir, tree;
  KeyArg key;
};

struct DumpArgs {
  std::string dir, tree;
  bool latest = false;
};

struct LogArgs {
  std::string dir;
  std::uint64_t after = 0;
  std::uint64_t limit = UINT64_MAX;
};

void getRecord(const GetArgs& args) {
  auto db = openDatabase(args.dir, false);
  std::string line = db->read([&](const ReadTxn& txn) {
    auto tree = txn.tree(args.tree);
    std::uint32_t revision = 0;
    if (args.key.revision) {
      revision = *args.key.revision;
    } else if (auto latest = tree.latestRevision(args.key.id)) {
      revision = *latest;
    }
    auto rec = tree.require(args.key.id, revision);
    std::string out;
    appendRecordJson(out, tree, rec);
    return out;
  });
  std::printf("%s\n", line.c_str());
}

void dumpTree(const DumpArgs& args) {
  auto db = openDatabase(args.dir, false);
  Output out;
  db->read([&](const ReadTxn& txn) {
    auto tree = txn.tree(args.tree);
    Progress progress("dump " + args.tree, tree.size());
    std::uint64_t done = 0;
    std::uint64_t pendingId = 0;
    bool pending = false;
    // --latest: a record is written when the next key shows it was the
    // newest revision of its id; the last one after the scan.
    std::string held;
    tree.scan(0, UINT64_MAX, [&](const StoredRecord& rec) {
      progress.update(++done);
      if (args.latest) {
        if (pending && rec.id() != pendingId) out.buffer() += held;
        held.clear();
        appendRecordJson(held, tree, rec);
        held += '\n';
        pending = true;
        pendingId = rec.id();
      } else {
        appendRecordJson(out.buffer(), tree, rec);
        out.buffer() += '\n';
      }
      out.flush(false);
      return true;
    });
    if (pending) out.buffer() += held;
    progress.finish();
  });
}

std::string kindName(std::uint8_t kind) {
  return std::string(sync::kindName(static_cast<EventKind>(kind)));
}

void printLog(const LogArgs& args) {
  auto db = openDatabase(args.dir, false);
  Output out;
  db->read([&](const ReadTxn& txn) {
    std::uint64_t count = 0;
    txn.changes(args.after, [&](wire::Change::Reader c) {
      if (count++ >= args.limit) return false;
      std::string& b = out.buffer();
      char head[160];
      std::snprintf(head, sizeof(head), "%llu %s ", static_cast<unsigned long long>(c.getSequence()),
                    isoTime(c.getTime()).c_str());
      b += head;
      b += kindName(static_cast<std::uint8_t>(c.getKind()));
      b += ' ';
      b += c.getTree().cStr();
      b += ' ' + std::to_string(c.getId()) + '/' + std::to_string(c.getRevision());
      b += " origin=";
      b += c.getOrigin().size() ? c.getOrigin().cStr() : "(local)";
      b += " value=" + std::to_string(c.getValue().size()) + "B";
      if (c.getNote().size()) {
        b += " note=";
        appendJsonString(b, c.getNote().cStr());
      }
      if (c.getNumber()) b += " number=" + std::to_string(c.getNumber());
      b += '\n';
      out.flush(false);
      return true;
    });
  });
}

kj::MainBuilder::Validity setText(std::string& out, kj::StringPtr value) {
  out = value;
  return true;
}

}  // namespace

kj::MainFunc getCommand(kj::ProcessContext& context) {
  auto args = std::make_shared<GetArgs>();
  return kj::MainBuilder(context, kVersion,
                         "Prints the record ID/REV of TREE (the newest revision of ID when REV "
                         "is left out) as one JSON object: key, state, lifecycle, author, times, "
                         "iterations and its data, decoded through the stored schema.")
      .expectArg("DIR", [args](kj::StringPtr v) { return setText(args->dir, v); })
      .expectArg("TREE", [args](kj::StringPtr v) { return setText(args->tree, v); })
      .expectArg("ID[/REV]", [args](kj::StringPtr v) { return keyArgument(v, args->key); })
      .callAfterParsing([args, &context]() {
        return guarded(context, [&]() -> kj::MainBuilder::Validity {
          getRecord(*args);
          return true;
        });
      })
      .build();
}

kj::MainFunc dumpCommand(kj::ProcessContext& context) {
  auto args = std::make_shared<DumpArgs>();
  return kj::MainBuilder(context, kVersion,
                         "Writes every record of TREE to standard output as NDJSON, one record "
                         "per line in key order, each as `hills get` prints it. `hills import` "
                         "reads the same lines.")
      .addOption({"latest"}, [args]() { args->latest = true; return true; },
                 "Only the newest revision of each id.")
      .expectArg("DIR", [args](kj::StringPtr v) { return setText(args->dir, v); })
      .expectArg("TREE", [args](kj::StringPtr v) { return setText(args->tree, v); })
      .callAfterParsing([args, &context]() {
        return guarded(context, [&]() -> kj::MainBuilder::Validity {
          dumpTree(*args);
          return true;
        });
      })
      .build();
}

kj::MainFunc logCommand(kj::ProcessContext& context) {
  auto args = std::make_shared<LogArgs>();
  return kj::MainBuilder(context, kVersion,
                         "Prints the change log, one line per entry, oldest first: sequence, "
                         "time, kind, tree, id/revision, origin, the size of the stored value, "
                         "and the note and number of sync's entries (borrows).")
      .addOptionWithArg({"after"},
                        [args](kj::StringPtr v) -> kj::MainBuilder::Validity {
                          auto n = parseNumber(v.cStr());
                          if (!n) return kj::str("--after takes a sequence number");
                          args->after = *n;
                          return true;
                        },
                        "<N>", "Only entries after sequence N.")
      .addOptionWithArg({"limit"},
                        [args](kj::StringPtr v) -> kj::MainBuilder::Validity {
                          auto n = parseNumber(v.cStr());
                          if (!n) return kj::str("--limit takes a number");
                          args->limit = *n;
                          return true;
                        },
                        "<N>", "At most N entries.")
      .expectArg("DIR", [args](kj::StringPtr v) { return setText(args->dir, v); })
      .callAfterParsing([args, &context]() {
        return guarded(context, [&]() -> kj::MainBuilder::Validity {
          printLog(*args);
          return true;
        });
      })
      .build();
}

}  // namespace hills::tools
