#include "common.h"

#include <charconv>
#include <cstring>
#include <ctime>
#include <filesystem>

#include "hills/generic.h"
#include "hills/inspect.h"
#include "hills/protocol.h"
#include "hills/write_hook.h"

namespace hills::tools {

namespace {
void appendRecordFields(std::string& out, const GenericTreeView& tree, const StoredRecord& rec);
}

std::unique_ptr<Database> openDatabase(const std::string& dir, bool writable) {
  std::error_code ec;
  if (!std::filesystem::exists(std::filesystem::path(dir) / "data.mdb", ec)) {
    throw Error(ErrorCode::kIo, "no hills database in " + dir + " (no data.mdb there)");
  }
  Options o;
  o.readOnly = !writable;
  o.maxTables = 4096;
  o.author = "hills";
  if (!writable) o.hooks.push_back(protocol::borrowTableReader());
  return std::make_unique<Database>(dir, std::move(o));
}

std::optional<std::uint64_t> parseNumber(std::string_view text) {
  std::uint64_t v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size() || text.empty()) return std::nullopt;
  return v;
}

std::optional<KeyArg> parseKeyArg(std::string_view text) {
  KeyArg key;
  auto slash = text.find('/');
  auto id = parseNumber(text.substr(0, slash));
  if (!id || *id == 0) return std::nullopt;
  key.id = *id;
  if (slash != std::string_view::npos) {
    auto rev = parseNumber(text.substr(slash + 1));
    if (!rev || *rev > UINT32_MAX) return std::nullopt;
    key.revision = static_cast<std::uint32_t>(*rev);
  }
  return key;
}

MetaInfo readMeta(const ReadTxn& txn) {
  MetaInfo info;
  auto u32 = [](kj::ArrayPtr<const kj::byte> v) {
    std::uint32_t out = 0;
    if (v.size() == sizeof(out)) std::memcpy(&out, v.begin(), sizeof(out));
    return out;
  };
  scanTable(txn, "_meta", "", [&](kj::ArrayPtr<const kj::byte> k, kj::ArrayPtr<const kj::byte> v) {
    std::string_view key(reinterpret_cast<const char*>(k.begin()), k.size());
    std::string_view text(reinterpret_cast<const char*>(v.begin()), v.size());
    if (key == "format") {
      info.format = u32(v);
    } else if (key == "schemaVersion") {
      info.schemaVersion = u32(v);
    } else if (key == "changeLog") {
      info.changeLog = u32(v) == 1;
    } else if (key.substr(0, 6) == "index:") {
      IndexStamp stamp;
      stamp.name = std::string(key.substr(6));
      auto space = text.find(' ');
      stamp.version = static_cast<std::uint32_t>(parseNumber(text.substr(0, space)).value_or(0));
      if (space != std::string_view::npos) stamp.tree = std::string(text.substr(space + 1));
      info.indexes.push_back(std::move(stamp));
    }
    return true;
  });
  return info;
}

std::string roleOf(const ReadTxn& txn) {
  bool grants = false, outbox = false;
  for (const auto& t : tableStats(txn)) {
    grants = grants || t.name == "_grants";
    outbox = outbox || t.name == "_outbox";
  }
  if (grants) return "sync server";
  if (outbox) return "sync client";
  return "plain";
}

void appendJsonString(std::string& out, std::string_view text) {
  out += '"';
  for (char c : text) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof(buf), "\\u%04x", c);
          out += buf;
        } else {
          out += c;
        }
    }
  }
  out += '"';
}

std::string isoTime(std::int64_t nanos) {
  std::time_t secs = static_cast<std::time_t>(nanos / 1000000000);
  long millis = static_cast<long>((nanos % 1000000000) / 1000000);
  if (nanos < 0 && millis != 0) {
    --secs;
    millis += 1000;
  }
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[80];
  std::snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, millis);
  return buf;
}

std::string humanBytes(std::uint64_t bytes) {
  static const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(bytes);
  int u = 0;
  while (v >= 1024 && u < 4) {
    v /= 1024;
    ++u;
  }
  char buf[32];
  if (u == 0) {
    std::snprintf(buf, sizeof(buf), "%llu B", static_cast<unsigned long long>(bytes));
  } else {
    std::snprintf(buf, sizeof(buf), "%.1f %s", v, units[u]);
  }
  return buf;
}

void appendRecordJson(std::string& out, const GenericTreeView& tree, const StoredRecord& rec) {
  try {
    appendRecordFields(out, tree, rec);
  } catch (const kj::Exception& e) {
    rec.throwCorrupt(e);
  }
}

namespace {
void appendRecordFields(std::string& out, const GenericTreeView& tree, const StoredRecord& rec) {
  auto env = rec.envelope();
  out += "{\"id\":\"";
  out += std::to_string(rec.id());
  out += "\",\"revision\":";
  out += std::to_string(rec.revision());
  out += ",\"state\":\"";
  out += toString(env.getState() == wire::State::RELEASED ? State::kReleased : State::kDraft);
  out += "\",\"lifecycle\":";
  out += std::to_string(env.getLifecycle());
  out += ",\"author\":";
  appendJsonString(out, std::string_view(env.getAuthor().cStr(), env.getAuthor().size()));
  out += ",\"created\":\"";
  out += isoTime(env.getCreated());
  out += "\",\"modified\":\"";
  out += isoTime(env.getModified());
  out += "\",\"dataIteration\":";
  out += std::to_string(env.getDataIteration());
  out += ",\"metaIteration\":";
  out += std::to_string(env.getMetaIteration());
  out += ",\"data\":";
  out += toJson(tree, rec);
  out += '}';
}

}  // namespace

}  // namespace hills::tools
