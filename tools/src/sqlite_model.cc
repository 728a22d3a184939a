#include "sqlite_model.h"

#include "hills/error.h"
#include "hills/ref.h"

namespace hills::tools::sql {

std::vector<Column> columnsOf(capnp::StructSchema schema) {
  using W = capnp::schema::Type;
  std::vector<Column> out;
  for (auto field : schema.getFields()) {
    Column c;
    c.name = field.getProto().getName();
    if (c.name == "id" || c.name == "revision" || c.name[0] == '_') c.name = "field_" + c.name;
    c.field = field;
    auto type = field.getType();
    if (field.getProto().isGroup()) {
      c.kind = Kind::kJson;
      c.declared = "TEXT";
    } else if (isRefType(type) && !refTarget(field).empty()) {
      c.kind = Kind::kRefId;
      c.declared = "INTEGER";
      c.target = refTarget(field);
      Column rev = c;
      rev.name = c.name + "_revision";
      rev.kind = Kind::kRefRevision;
      out.push_back(std::move(c));
      out.push_back(std::move(rev));
      continue;
    } else {
      switch (type.which()) {
        case W::BOOL: case W::INT8: case W::INT16: case W::INT32: case W::INT64:
        case W::UINT8: case W::UINT16: case W::UINT32: case W::UINT64:
          c.declared = "INTEGER";
          break;
        case W::FLOAT32: case W::FLOAT64:
          c.declared = "REAL";
          break;
        case W::TEXT:
          c.declared = "TEXT";
          break;
        case W::DATA:
          c.declared = "BLOB";
          break;
        case W::ENUM:
          c.kind = Kind::kEnum;
          c.declared = "TEXT";
          break;
        default:
          c.kind = Kind::kJson;
          c.declared = "TEXT";
      }
    }
    out.push_back(std::move(c));
  }
  return out;
}

namespace {

// The cell as a string or a blob, emptied, keeping the room it had.
std::string& textCell(Cell& cell) {
  if (cell.index() != 3) cell.emplace<3>();
  auto& s = std::get<3>(cell);
  s.clear();
  return s;
}

std::string& blobCell(Cell& cell) {
  if (cell.index() != 4) cell.emplace<4>();
  auto& s = std::get<4>(cell).bytes;
  s.clear();
  return s;
}

}  // namespace

void cellsOf(const std::vector<Column>& columns, const FieldReader& fields,
             capnp::DynamicStruct::Reader body, const JsonWriter& json, std::vector<Cell>& out) {
  using V = FieldValue::Kind;
  out.resize(columns.size());
  auto any = body.as<capnp::AnyStruct>();
  for (std::size_t i = 0; i < columns.size(); ++i) {
    const auto& c = columns[i];
    auto& cell = out[i];
    auto v = fields.read(any, c.field.getIndex());
    if (v.kind == V::kInactive || v.kind == V::kNull) {
      cell = std::monostate{};
      continue;
    }
    if (c.kind == Kind::kJson) {
      json.appendField(textCell(cell), body, c.field);
      continue;
    }
    if (c.kind == Kind::kRefId || c.kind == Kind::kRefRevision) {
      if (v.uinteger == 0) {
        cell = std::monostate{};
      } else if (c.kind == Kind::kRefId) {
        cell = static_cast<std::int64_t>(v.uinteger);
      } else {
        cell = std::int64_t{v.revision};
      }
      continue;
    }
    switch (v.kind) {
      case V::kBool: cell = std::int64_t{v.boolean}; break;
      case V::kInt: cell = v.integer; break;
      // UInt64 above 2^63 - 1 is stored with its bits, as SQLite's INTEGER
      // has 64 signed bits.
      case V::kUInt: cell = static_cast<std::int64_t>(v.uinteger); break;
      case V::kFloat: cell = v.number; break;
      case V::kText: textCell(cell).assign(v.text); break;
      case V::kData:
        blobCell(cell).assign(reinterpret_cast<const char*>(v.data.begin()), v.data.size());
        break;
      case V::kEnum:
        if (!v.text.empty()) {
          textCell(cell).assign(v.text);
        } else {
          cell = std::int64_t{v.enumerant};
        }
        break;
      default:
        cell = std::monostate{};
    }
  }
}

void bind(sqlite3_stmt* stmt, int index, const Cell& cell, bool keep) {
  auto lifetime = keep ? SQLITE_STATIC : SQLITE_TRANSIENT;
  switch (cell.index()) {
    case 0: sqlite3_bind_null(stmt, index); break;
    case 1: sqlite3_bind_int64(stmt, index, std::get<1>(cell)); break;
    case 2: sqlite3_bind_double(stmt, index, std::get<2>(cell)); break;
    case 3: {
      auto& s = std::get<3>(cell);
      sqlite3_bind_text(stmt, index, s.data(), static_cast<int>(s.size()), lifetime);
      break;
    }
    case 4: {
      auto& b = std::get<4>(cell).bytes;
      sqlite3_bind_blob(stmt, index, b.data(), static_cast<int>(b.size()), lifetime);
      break;
    }
  }
}

Cell cellAt(sqlite3_stmt* stmt, int index) {
  switch (sqlite3_column_type(stmt, index)) {
    case SQLITE_INTEGER: return sqlite3_column_int64(stmt, index);
    case SQLITE_FLOAT: return sqlite3_column_double(stmt, index);
    case SQLITE_TEXT:
      return std::string(reinterpret_cast<const char*>(sqlite3_column_text(stmt, index)),
                         static_cast<std::size_t>(sqlite3_column_bytes(stmt, index)));
    case SQLITE_BLOB: {
      auto* p = static_cast<const char*>(sqlite3_column_blob(stmt, index));
      return Blob{std::string(p ? p : "", static_cast<std::size_t>(sqlite3_column_bytes(stmt, index)))};
    }
    default: return std::monostate{};
  }
}

std::string quote(const std::string& name) {
  std::string out = "\"";
  for (char c : name) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

void check(sqlite3* db, int rc, const std::string& what, int ok) {
  if (rc == SQLITE_OK || rc == ok) return;
  throw Error(ErrorCode::kIo, what + " (SQLite file " + sqlite3_db_filename(db, "main") +
                                  "): " + sqlite3_errmsg(db));
}

}  // namespace hills::tools::sql
