// hills info DIR: what a database is and what it holds.
#include <cstdio>
#include <map>

#include "commands.h"
#include "common.h"
#include "hills/inspect.h"

namespace hills::tools {
namespace {

struct InfoArgs {
  std::string dir;
};

void printInfo(const InfoArgs& args) {
  auto db = openDatabase(args.dir, false);
  auto stats = db->stats();
  db->read([&](const ReadTxn& txn) {
    MetaInfo meta = readMeta(txn);
    std::map<std::string, TableStat> tables;
    for (auto& t : tableStats(txn)) tables.emplace(t.name, t);
    std::printf("database        %s\n", args.dir.c_str());
    std::printf("format          %u\n", meta.format);
    std::printf("uuid            %s\n", db->uuid().c_str());
    std::string role = roleOf(txn);
    std::printf("role            %s\n", role.c_str());
    if (role == "sync client") {
      std::printf("pinned server   %s\n", txn.property("pinnedServer").value_or("(none yet)").c_str());
      std::printf("sync cursor     %s\n", txn.property("syncCursor").value_or("0").c_str());
    }
    std::printf("schema version  %u\n", meta.schemaVersion);
    if (meta.changeLog) {
      std::printf("change log      on, newest sequence %llu\n",
                  static_cast<unsigned long long>(txn.lastSequence()));
    } else {
      std::printf("change log      off\n");
    }
    std::printf("map             %s used of %s (%llu of %llu bytes)\n",
                humanBytes(stats.mapUsed).c_str(), humanBytes(stats.mapSize).c_str(),
                static_cast<unsigned long long>(stats.mapUsed),
                static_cast<unsigned long long>(stats.mapSize));
    std::printf("\ntrees\n");
    for (const auto& tree : db->trees()) {
      auto view = txn.tree(tree.name);
      const TableStat& t = tables[tree.name];
      std::printf("  %-20s %-11s %10llu records %12llu bytes  type %s  ids left %llu\n",
                  tree.name.c_str(), tree.versioned ? "versioned" : "unversioned",
                  static_cast<unsigned long long>(t.entries),
                  static_cast<unsigned long long>(t.bytes),
                  view.schema().getShortDisplayName().cStr(),
                  static_cast<unsigned long long>(view.idsLeft()));
    }
    std::printf("\nindexes\n");
    if (meta.indexes.empty()) std::printf("  (none)\n");
    for (const auto& ix : meta.indexes) {
      const TableStat& t = tables["_index:" + ix.name];
      std::printf("  %-20s version %-4u tree %-16s %10llu entries %12llu bytes\n",
                  ix.name.c_str(), ix.version, ix.tree.c_str(),
                  static_cast<unsigned long long>(t.entries),
                  static_cast<unsigned long long>(t.bytes));
    }
    std::printf("\ninternal tables\n");
    for (const auto& [name, t] : tables) {
      if (name.empty() || name[0] != '_' || name.substr(0, 7) == "_index:") continue;
      std::printf("  %-20s %10llu entries %12llu bytes\n", name.c_str(),
                  static_cast<unsigned long long>(t.entries),
                  static_cast<unsigned long long>(t.bytes));
    }
  });
}

}  // namespace

kj::MainFunc infoCommand(kj::ProcessContext& context) {
  auto args = std::make_shared<InfoArgs>();
  return kj::MainBuilder(context, kVersion,
                         "Shows the database in DIR: format version, uuid, role (plain, sync "
                         "client or sync server), the schema version, the change log's newest "
                         "sequence, the map size used, and each tree (records, bytes, versioned "
                         "or not), index and internal table. Opens the database read-only, so "
                         "it may run while other processes write.")
      .expectArg("DIR", [args](kj::StringPtr dir) {
        args->dir = dir;
        return true;
      })
      .callAfterParsing([args, &context]() {
        return guarded(context, [&]() -> kj::MainBuilder::Validity {
          printInfo(*args);
          return true;
        });
      })
      .build();
}

}  // namespace hills::tools
