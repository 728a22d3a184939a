#include "sqlite_model.h"

#include <bit>
#include <cstring>
#include <optional>

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

std::uint64_t maskOf(capnp::schema::Value::Reader v) {
  using V = capnp::schema::Value;
  switch (v.which()) {
    case V::BOOL: return v.getBool() ? 1 : 0;
    case V::INT8: return static_cast<std::uint8_t>(v.getInt8());
    case V::INT16: return static_cast<std::uint16_t>(v.getInt16());
    case V::INT32: return static_cast<std::uint32_t>(v.getInt32());
    case V::INT64: return static_cast<std::uint64_t>(v.getInt64());
    case V::UINT8: return v.getUint8();
    case V::UINT16: return v.getUint16();
    case V::UINT32: return v.getUint32();
    case V::UINT64: return v.getUint64();
    case V::FLOAT32: return std::bit_cast<std::uint32_t>(v.getFloat32());
    case V::FLOAT64: return std::bit_cast<std::uint64_t>(v.getFloat64());
    case V::ENUM: return v.getEnum();
    default: return 0;
  }
}

// Sets where the field's value lies (see Column).
void locate(Column& c, capnp::StructSchema::Field field) {
  c.inUnion = field.getProto().getDiscriminantValue() != capnp::schema::Field::NO_DISCRIMINANT;
  c.group = field.getProto().isGroup();
  if (c.group) return;
  auto slot = field.getProto().getSlot();
  c.type = field.getType().which();
  c.offset = slot.getOffset();
  c.mask = maskOf(slot.getDefaultValue());
  if (c.type == capnp::schema::Type::ENUM) {
    for (auto e : field.getType().asEnum().getEnumerants()) c.enumerants.push_back(e.getProto().getName());
  }
}

// The little-endian slot of `T` at `offset` (in units of T), XORed with
// the default's bits; the default when it lies beyond the data section.
template <class T>
T slot(kj::ArrayPtr<const kj::byte> data, std::uint32_t offset, std::uint64_t mask) {
  using U = std::conditional_t<sizeof(T) == 1, std::uint8_t,
            std::conditional_t<sizeof(T) == 2, std::uint16_t,
            std::conditional_t<sizeof(T) == 4, std::uint32_t, std::uint64_t>>>;
  U raw = 0;
  std::size_t at = std::size_t{offset} * sizeof(T);
  if (at + sizeof(T) <= data.size()) {
    std::memcpy(&raw, data.begin() + at, sizeof(T));
    if constexpr (std::endian::native == std::endian::big && sizeof(T) > 1) {
      raw = static_cast<U>(__builtin_bswap64(raw) >> (64 - 8 * sizeof(T)));
    }
  }
  return std::bit_cast<T>(static_cast<U>(raw ^ static_cast<U>(mask)));
}

bool bit(kj::ArrayPtr<const kj::byte> data, std::uint32_t offset, std::uint64_t mask) {
  bool b = offset / 8 < data.size() && ((data[offset / 8] >> (offset % 8)) & 1) != 0;
  return b != (mask != 0);
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
    locate(c, field);
    auto type = field.getType();
    if (field.getProto().isGroup()) {
      c.kind = Kind::kJson;
      c.declared = "TEXT";
    } else if (isRefStruct(type) && !refTarget(field).empty()) {
      c.kind = Kind::kRefId;
      c.declared = "INTEGER";
      c.target = refTarget(field);
      auto ref = type.asStruct();
      c.refId = ref.getFieldByName("id").getProto().getSlot().getOffset();
      c.refRevision = ref.getFieldByName("revision").getProto().getSlot().getOffset();
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

void cellsOf(const std::vector<Column>& columns, capnp::DynamicStruct::Reader body,
             const JsonWriter& json, std::vector<Cell>& out) {
  using W = capnp::schema::Type;
  out.resize(columns.size());
  auto any = body.as<capnp::AnyStruct>();
  auto data = any.getDataSection();
  auto pointers = any.getPointerSection();
  auto pointer = [&](std::uint32_t i) {
    return i < pointers.size() ? pointers[i] : capnp::AnyPointer::Reader();
  };
  // The index of the union's active member, read at the first member (none
  // when the discriminant names no field of the schema).
  std::optional<unsigned> active;
  bool activeRead = false;
  for (std::size_t i = 0; i < columns.size(); ++i) {
    const auto& c = columns[i];
    auto& cell = out[i];
    if (c.inUnion) {
      if (!activeRead) {
        KJ_IF_MAYBE(a, body.which()) {
          active = a->getIndex();
        }
        activeRead = true;
      }
      if (active && *active != c.field.getIndex()) {
        cell = std::monostate{};
        continue;
      }
    }
    if (c.kind == Kind::kJson) {
      if (!c.group && pointer(c.offset).isNull()) {
        cell = std::monostate{};
      } else {
        json.appendField(textCell(cell), body, c.field);
      }
      continue;
    }
    if (c.kind == Kind::kRefId || c.kind == Kind::kRefRevision) {
      auto p = pointer(c.offset);
      auto ref = p.isNull() ? capnp::AnyStruct::Reader() : p.getAs<capnp::AnyStruct>();
      std::uint64_t id = slot<std::uint64_t>(ref.getDataSection(), c.refId, 0);
      if (id == 0) {
        cell = std::monostate{};
      } else if (c.kind == Kind::kRefId) {
        cell = static_cast<std::int64_t>(id);
      } else {
        cell = std::int64_t{slot<std::uint32_t>(ref.getDataSection(), c.refRevision, 0)};
      }
      continue;
    }
    switch (c.type) {
      case W::BOOL: cell = std::int64_t{bit(data, c.offset, c.mask)}; break;
      case W::INT8: cell = std::int64_t{slot<std::int8_t>(data, c.offset, c.mask)}; break;
      case W::INT16: cell = std::int64_t{slot<std::int16_t>(data, c.offset, c.mask)}; break;
      case W::INT32: cell = std::int64_t{slot<std::int32_t>(data, c.offset, c.mask)}; break;
      case W::INT64: cell = slot<std::int64_t>(data, c.offset, c.mask); break;
      case W::UINT8: cell = std::int64_t{slot<std::uint8_t>(data, c.offset, c.mask)}; break;
      case W::UINT16: cell = std::int64_t{slot<std::uint16_t>(data, c.offset, c.mask)}; break;
      case W::UINT32: cell = std::int64_t{slot<std::uint32_t>(data, c.offset, c.mask)}; break;
      case W::UINT64:
        // UInt64 above 2^63 - 1 is stored with its bits, as SQLite's
        // INTEGER has 64 signed bits.
        cell = static_cast<std::int64_t>(slot<std::uint64_t>(data, c.offset, c.mask));
        break;
      case W::FLOAT32: cell = double{slot<float>(data, c.offset, c.mask)}; break;
      case W::FLOAT64: cell = slot<double>(data, c.offset, c.mask); break;
      case W::TEXT: {
        auto p = pointer(c.offset);
        if (p.isNull()) {
          cell = std::monostate{};
        } else {
          auto t = p.getAs<capnp::Text>();
          textCell(cell).assign(t.cStr(), t.size());
        }
        break;
      }
      case W::DATA: {
        auto p = pointer(c.offset);
        if (p.isNull()) {
          cell = std::monostate{};
        } else {
          auto d = p.getAs<capnp::Data>();
          blobCell(cell).assign(reinterpret_cast<const char*>(d.begin()), d.size());
        }
        break;
      }
      case W::ENUM: {
        auto v = slot<std::uint16_t>(data, c.offset, c.mask);
        if (v < c.enumerants.size()) {
          textCell(cell) = c.enumerants[v];
        } else {
          cell = std::int64_t{v};
        }
        break;
      }
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
