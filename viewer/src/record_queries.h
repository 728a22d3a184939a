// What the viewer asks about one record beyond its fields: its revision
// history, the records that reference it, and the difference between two
// of its revisions. Each reads in one read transaction; no Qt.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "hills/database.h"
#include "hills/key.h"
#include "field_paths.h"
#include "value_text.h"

namespace hills::viewer {

struct Revision {
  std::uint32_t revision = 0;
  State state = State::kDraft;
  std::uint32_t lifecycle = 0;
  std::string author;
  std::chrono::system_clock::time_point modified;
};

// Every revision of `id` in `tree`, oldest first.
std::vector<Revision> history(const Database& db, const std::string& tree, std::uint64_t id);

// One record that references another, and the field that does.
struct Use {
  OpaqueKey key;
  std::string field;  // the path of the reference ("lines[2].part")
};

// The records of every tree that reference `target` (its id and revision),
// at most `limit` of them, in tree and key order. Reads every record of
// the trees whose schema has a reference into target's tree: a database
// keeps no reverse index the viewer can rely on. Records that do not
// decode are skipped. `truncated` tells whether the limit cut the list.
std::vector<Use> whereUsed(const Database& db, const OpaqueKey& target, std::size_t limit,
                           bool* truncated = nullptr);

// The fields that differ between two revisions of `id`. Throws
// Error(kNotFound) for a revision that does not exist, kCorrupt for one
// that does not decode.
std::vector<FieldDiff> diffRevisions(const Database& db, const std::string& tree, std::uint64_t id,
                                     std::uint32_t before, std::uint32_t after);

}  // namespace hills::viewer
