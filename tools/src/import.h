// What the two imports (NDJSON, SQLite) share.
#pragma once

#include <string_view>

#include "hills/database.h"

namespace hills::tools {

// Whether `name` is one of the key and meta names `hills dump` writes
// beside a record's data (id, revision, state, lifecycle, ...).
bool isMetaName(std::string_view name);

// Throws Error(kInvalidArgument) unless `db` is a plain database: imports
// do not write to a sync replica or server behind their rules' back.
void requirePlain(Database& db);

}  // namespace hills::tools
