#include "sqlite_model.h"

#include "hills/error.h"

namespace hills::tools::sql {

namespace {

constexpr std::uint64_t kRefAnnotation = 0xa6b1e0c58c9c0a93ull;  // $Hills.ref

std::string refTarget(capnp::StructSchema::Field field) {
  for (auto a : field.getProto().getAnnotations()) {
    if (a.getId() == kRefAnnotation && a.getValue().isText()) return a.getValue().getText();
  }
  return {};
}

bool isRefStruct(capnp::Type type) {
  return type.isStruct() && type.asStruct().getProto().getDisplayName().endsWith("hills.capnp:Ref");
}

}  // namespace

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
    } else if (isRefStruct(type) && !refTarget(field).empty()) {
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

void cellsOf(const std::vector<Column>& columns, capnp::DynamicStruct::Reader body,
             const capnp::JsonCodec& codec, std::vector<Cell>& out) {
  using W = capnp::schema::Type;
  out.clear();
  auto active = body.which();
  for (const auto& c : columns) {
    auto& f = c.field;
    bool inUnion = f.getProto().getDiscriminantValue() != capnp::schema::Field::NO_DISCRIMINANT;
    if (inUnion) {
      KJ_IF_MAYBE(a, active) {
        if (*a != f) {
          out.emplace_back();
          continue;
        }
      }
    }
    if (c.kind == Kind::kJson) {
      if (!f.getProto().isGroup() && !body.has(f)) {
        out.emplace_back();
      } else {
        auto text = codec.encode(body.get(f), f.getType());
        out.emplace_back(std::string(text.cStr(), text.size()));
      }
      continue;
    }
    if (c.kind == Kind::kRefId || c.kind == Kind::kRefRevision) {
      auto ref = body.get(f).as<capnp::DynamicStruct>();
      std::uint64_t id = ref.get("id").as<std::uint64_t>();
      if (!body.has(f) || id == 0) {
        out.emplace_back();
      } else if (c.kind == Kind::kRefId) {
        out.emplace_back(static_cast<std::int64_t>(id));
      } else {
        out.emplace_back(static_cast<std::int64_t>(ref.get("revision").as<std::uint32_t>()));
      }
      continue;
    }
    auto v = body.get(f);
    switch (f.getType().which()) {
      case W::BOOL: out.emplace_back(std::int64_t{v.as<bool>()}); break;
      case W::INT8: case W::INT16: case W::INT32: case W::INT64:
        out.emplace_back(v.as<std::int64_t>());
        break;
      case W::UINT8: case W::UINT16: case W::UINT32: case W::UINT64:
        // UInt64 above 2^63 - 1 is stored with its bits, as SQLite's
        // INTEGER has 64 signed bits.
        out.emplace_back(static_cast<std::int64_t>(v.as<std::uint64_t>()));
        break;
      case W::FLOAT32: case W::FLOAT64: out.emplace_back(v.as<double>()); break;
      case W::TEXT:
        if (body.has(f)) {
          auto t = v.as<capnp::Text>();
          out.emplace_back(std::string(t.cStr(), t.size()));
        } else {
          out.emplace_back();
        }
        break;
      case W::DATA:
        if (body.has(f)) {
          auto d = v.as<capnp::Data>();
          out.emplace_back(Blob{std::string(reinterpret_cast<const char*>(d.begin()), d.size())});
        } else {
          out.emplace_back();
        }
        break;
      case W::ENUM: {
        auto e = v.as<capnp::DynamicEnum>();
        KJ_IF_MAYBE(en, e.getEnumerant()) {
          out.emplace_back(std::string(en->getProto().getName().cStr()));
        } else {
          out.emplace_back(std::int64_t{e.getRaw()});
        }
        break;
      }
      default:
        out.emplace_back();
    }
  }
}

void bind(sqlite3_stmt* stmt, int index, const Cell& cell) {
  switch (cell.index()) {
    case 0: sqlite3_bind_null(stmt, index); break;
    case 1: sqlite3_bind_int64(stmt, index, std::get<1>(cell)); break;
    case 2: sqlite3_bind_double(stmt, index, std::get<2>(cell)); break;
    case 3: {
      auto& s = std::get<3>(cell);
      sqlite3_bind_text(stmt, index, s.data(), static_cast<int>(s.size()), SQLITE_TRANSIENT);
      break;
    }
    case 4: {
      auto& b = std::get<4>(cell).bytes;
      sqlite3_bind_blob(stmt, index, b.data(), static_cast<int>(b.size()), SQLITE_TRANSIENT);
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
