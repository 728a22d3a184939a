// Tree schemas as messages: how a program describes its record types to
// another program, and how that one reads them without compiled types.
#pragma once

#include <capnp/schema-loader.h>

#include "hills/meta.capnp.h"
#include "hills/tree_type.h"

namespace hills {

// Writes the schema of a record type: its struct and every struct and enum
// its fields use, directly or through lists (what _meta stores).
void writeTreeSchema(const TreeType& type, wire::TreeSchema::Builder out);

// Loads a tree schema's nodes into `loader` and returns the type it
// describes, valid while `loader` lives. Throws Error(kSchemaMismatch) when
// the nodes lack the record struct or do not load (for instance, they clash
// with nodes of the same id loaded before).
TreeType readTreeSchema(wire::TreeSchema::Reader schema, capnp::SchemaLoader& loader);

}  // namespace hills
