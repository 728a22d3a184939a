// The subcommands of `hills`, one function each, defined in the file named
// after the command (info.cc, dump.cc, ...).
#pragma once

#include <kj/main.h>

namespace hills::tools {

inline constexpr char kVersion[] = "hills 0.1.0";

kj::MainFunc infoCommand(kj::ProcessContext& context);          // info.cc
kj::MainFunc schemaCommand(kj::ProcessContext& context);        // schema.cc
kj::MainFunc getCommand(kj::ProcessContext& context);           // dump.cc
kj::MainFunc dumpCommand(kj::ProcessContext& context);          // dump.cc
kj::MainFunc logCommand(kj::ProcessContext& context);           // dump.cc
kj::MainFunc verifyCommand(kj::ProcessContext& context);        // verify.cc
kj::MainFunc backupCommand(kj::ProcessContext& context);        // backup.cc
kj::MainFunc importCommand(kj::ProcessContext& context);        // import.cc
kj::MainFunc exportSqliteCommand(kj::ProcessContext& context);  // sqlite_export.cc
kj::MainFunc importSqliteCommand(kj::ProcessContext& context);  // sqlite_import.cc
kj::MainFunc borrowsCommand(kj::ProcessContext& context);       // remote.cc
kj::MainFunc breakCommand(kj::ProcessContext& context);         // remote.cc

}  // namespace hills::tools
