// The schemas of trees, stored in _meta so any tool can decode any record.
#pragma once

#include <capnp/message.h>
#include <capnp/schema-loader.h>

#include <string_view>

#include "hills/meta.capnp.h"
#include "hills/tree_type.h"

namespace hills::detail {

// Writes the schema of a compiled tree: its struct and every struct and enum
// that its fields use, directly or through lists.
void buildTreeSchema(const TreeType& type, wire::TreeSchema::Builder out);

// Compares a stored tree schema with a compiled one by field ordinal, down
// through nested structs and lists. Fields only one side has are fine (that
// is how schemas evolve); a field whose type changed is not. Throws
// Error(kSchemaMismatch) naming the type and the field. Returns true when the
// compiled schema knows every stored field (so it may replace the stored one).
bool checkTreeSchema(wire::TreeSchema::Reader stored, const TreeType& compiled);

// How the schema language names a type that needs no node to name it
// ("Void", "Bool", "Int8"... "Data", "AnyPointer"); empty for lists, enums,
// structs and interfaces.
std::string_view builtinTypeName(capnp::schema::Type::Which which);

// Makes the nodes of a stored tree schema available to the dynamic API.
void loadTreeSchema(capnp::SchemaLoader& loader, wire::TreeSchema::Reader stored);

}  // namespace hills::detail
