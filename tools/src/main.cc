// hills: one program, one subcommand per job (kj::MainBuilder).
#include <kj/main.h>

#include "commands.h"

namespace hills::tools {
namespace {

class Hills {
 public:
  explicit Hills(kj::ProcessContext& context) : context_(context) {}

  kj::MainFunc getMain() {
    auto& c = context_;
    return kj::MainBuilder(c, kVersion,
                           "Looks inside hills databases: shows, dumps, verifies, backs up, "
                           "imports and exports them, and talks to a sync server about borrows.")
        .addSubCommand("info", [&c] { return infoCommand(c); }, "format, uuid, role, trees, indexes, sizes")
        .addSubCommand("schema", [&c] { return schemaCommand(c); }, "the stored schema of the trees")
        .addSubCommand("get", [&c] { return getCommand(c); }, "one record as JSON")
        .addSubCommand("dump", [&c] { return dumpCommand(c); }, "every record of a tree as NDJSON")
        .addSubCommand("log", [&c] { return logCommand(c); }, "the change log, one line per entry")
        .addSubCommand("verify", [&c] { return verifyCommand(c); },
                       "check records, keys, indexes, change log and borrows")
        .addSubCommand("backup", [&c] { return backupCommand(c); },
                       "a consistent compacted copy, while others write")
        .addSubCommand("import", [&c] { return importCommand(c); },
                       "create or update drafts from NDJSON")
        .addSubCommand("export-sqlite", [&c] { return exportSqliteCommand(c); },
                       "every tree as a table of a SQLite database")
        .addSubCommand("import-sqlite", [&c] { return importSqliteCommand(c); },
                       "edited drafts and new rows of an exported SQLite database, back")
        .addSubCommand("borrows", [&c] { return borrowsCommand(c); },
                       "the borrows a sync server holds")
        .addSubCommand("break", [&c] { return breakCommand(c); },
                       "break a borrow on a sync server (admin)")
        .build();
  }

 private:
  kj::ProcessContext& context_;
};

}  // namespace
}  // namespace hills::tools

KJ_MAIN(hills::tools::Hills)
