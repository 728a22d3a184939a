// How the viewer edits a value of a record: the one path for the record
// view's leaves and the record table's cells. The value typed goes through
// hills' generic JSON path (hills::updateFromJson), so hills checks it
// against the tree's schema as it checks an import, and a refusal leaves
// the record as it was.
#pragma once

#include <QString>

#include <capnp/schema.h>

#include <cstdint>
#include <string>
#include <vector>

#include "field_paths.h"
#include "value_text.h"
#include "workspace.h"

namespace hills::viewer {

// Whether a value of this type is typed in as text: a number, Bool, Text or
// an enum (not Void, Data, a struct, a list or a reference).
bool typedIn(capnp::Type type);

// Sets the leaf at `path` of the record (id, revision) of `tree` to `text`,
// read as the leaf's type `which` reads it (a number, true or false, an
// enumerant's name, or text), in one write transaction of the workspace:
// the record's JSON with the one leaf changed is written back as its whole
// top-level field. Throws what Workspace::edit and updateFromJson throw
// (a read-only workspace, a released record, a value of the wrong type
// named with the field's path), and Error(kInvalidArgument) when the path
// no longer leads to a value. Nothing changes when it throws.
void setLeaf(Workspace& ws, const std::string& tree, std::uint64_t id, std::uint32_t revision,
             const std::vector<PathStep>& path, capnp::schema::Type::Which which,
             const QString& text);

}  // namespace hills::viewer
