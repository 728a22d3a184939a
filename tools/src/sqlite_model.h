// How a tree maps onto a SQLite table, for export-sqlite and import-sqlite:
// one row per record keyed by (id, revision), meta columns, one column per
// top-level field (two for a reference: id and revision).
#pragma once

#include <capnp/dynamic.h>
#include <sqlite3.h>

#include <cstdint>
#include <string>
#include <variant>
#include <vector>

#include "hills/field_reader.h"
#include "hills/generic.h"
#include "hills/txn.h"

namespace hills::tools::sql {

enum class Kind {
  kValue,        // a number, Bool, Text or Data: INTEGER, REAL, TEXT, BLOB
  kEnum,         // the enumerant's name, TEXT
  kJson,         // a nested struct, group, list or AnyPointer: JSON text
  kRefId,        // a $Hills.ref field's id (NULL for no reference), INTEGER
  kRefRevision,  // its revision, INTEGER
};

struct Column {
  std::string name;      // the column's name: the field's, "<field>_revision" for a reference
  std::string declared;  // its declared type
  Kind kind = Kind::kValue;
  capnp::StructSchema::Field field;
  std::string target;    // the tree a reference names
};

// The meta columns that follow id and revision, in order.
inline constexpr const char* kMetaColumns[] = {"_state",    "_lifecycle",      "_author",
                                               "_created",  "_modified",       "_data_iteration",
                                               "_meta_iteration"};

std::vector<Column> columnsOf(capnp::StructSchema schema);

// One SQLite value.
struct Blob {
  std::string bytes;
  bool operator==(const Blob&) const = default;
};
using Cell = std::variant<std::monostate, std::int64_t, double, std::string, Blob>;

// The field cells of a record, one per column, read by `fields` (a reader
// of the tree's schema); nested values as JSON written by `json` (a writer
// of the same schema). A union member that is not the active one is NULL.
// Reuses the cells already in `out` (their strings keep their room from
// record to record). Throws kj::Exception when the body does not decode.
void cellsOf(const std::vector<Column>& columns, const FieldReader& fields,
             capnp::DynamicStruct::Reader body, const JsonWriter& json, std::vector<Cell>& out);

// Binds the cell; SQLite copies text and blobs unless `keep` says the cell
// stays as it is until the statement has run.
void bind(sqlite3_stmt* stmt, int index, const Cell& cell, bool keep = false);
Cell cellAt(sqlite3_stmt* stmt, int index);

// `name` quoted as a SQL identifier.
std::string quote(const std::string& name);

// Throws Error(kIo) naming the SQLite file with SQLite's message unless rc
// is one of the codes `ok`.
void check(sqlite3* db, int rc, const std::string& what, int ok = SQLITE_OK);

}  // namespace hills::tools::sql
