// Writes the records a view shows (a whole tree, or a filter's result) to
// a file: NDJSON (one record a line, its data through the generic JSON
// path, hills::toJson) or CSV (the table's columns as the viewer shows
// them, with nested values as JSON).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "hills/database.h"
#include "record_table_model.h"

namespace hills::viewer {

enum class ExportFormat { kNdjson, kCsv };

// Writes the records of `tree` named by `keys` (all of them when null) to
// `path`, calling progress(done, total) every few thousand records; a
// false return stops it (the file then holds what was written). Returns
// how many records were written. Throws Error(kIo) naming the file when it
// cannot be written, kUnknownTree, and kCorrupt naming a record that does
// not decode.
std::uint64_t exportView(const Database& db, const std::string& tree,
                         std::shared_ptr<const std::vector<RowKey>> keys, ExportFormat format,
                         const std::string& path,
                         const std::function<bool(std::uint64_t, std::uint64_t)>& progress = {});

}  // namespace hills::viewer
