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

kj::MainBuilder::Validity keyArgument(kj::StringPtr text, KeyArg& out) {
  auto key = parseKeyArg(text.cStr());
  if (!key) return kj::str("'", text, "' is not a key: ID or ID/REV, ID > 0");
  out = *key;
  return true;
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

// Days since 1970-01-01 to a civil date (proleptic Gregorian), after
// Howard Hinnant's days_from_civil inverse.
void civilFromDays(std::int64_t days, std::int64_t& year, unsigned& month, unsigned& day) {
  days += 719468;
  std::int64_t era = (days >= 0 ? days : days - 146096) / 146097;
  auto doe = static_cast<unsigned>(days - era * 146097);
  unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  unsigned mp = (5 * doy + 2) / 153;
  day = doy - (153 * mp + 2) / 5 + 1;
  month = mp < 10 ? mp + 3 : mp - 9;
  year = static_cast<std::int64_t>(yoe) + era * 400 + (month <= 2);
}

void appendIsoTime(std::string& out, std::int64_t nanos) {
  std::int64_t secs = nanos / 1000000000;
  std::int64_t millis = (nanos % 1000000000) / 1000000;
  if (nanos < 0 && millis != 0) {
    --secs;
    millis += 1000;
  }
  std::int64_t days = secs / 86400, rest = secs % 86400;
  if (rest < 0) {
    rest += 86400;
    --days;
  }
  std::int64_t year;
  unsigned month, day;
  civilFromDays(days, year, month, day);
  if (year < 0 || year > 9999) {
    char buf[48];
    int n = std::snprintf(buf, sizeof(buf), "%04lld-%02u-%02uT%02lld:%02lld:%02lld.%03lldZ",
                          static_cast<long long>(year), month, day,
                          static_cast<long long>(rest / 3600),
                          static_cast<long long>(rest / 60 % 60),
                          static_cast<long long>(rest % 60), static_cast<long long>(millis));
    out.append(buf, static_cast<std::size_t>(n));
    return;
  }
  char b[24];
  auto put = [&](int at, std::int64_t v, int digits) {
    for (int i = digits - 1; i >= 0; --i, v /= 10) b[at + i] = static_cast<char>('0' + v % 10);
  };
  put(0, year, 4);
  b[4] = '-';
  put(5, month, 2);
  b[7] = '-';
  put(8, day, 2);
  b[10] = 'T';
  put(11, rest / 3600, 2);
  b[13] = ':';
  put(14, rest / 60 % 60, 2);
  b[16] = ':';
  put(17, rest % 60, 2);
  b[19] = '.';
  put(20, millis, 3);
  b[23] = 'Z';
  out.append(b, sizeof(b));
}

std::string isoTime(std::int64_t nanos) {
  std::string out;
  appendIsoTime(out, nanos);
  return out;
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
  char number[24];
  auto integer = [&](auto v) {
    out.append(number, static_cast<std::size_t>(std::to_chars(number, number + 24, v).ptr - number));
  };
  out += "{\"id\":\"";
  integer(rec.id());
  out += "\",\"revision\":";
  integer(rec.revision());
  out += env.getState() == wire::State::RELEASED ? ",\"state\":\"released\",\"lifecycle\":"
                                                  : ",\"state\":\"draft\",\"lifecycle\":";
  integer(env.getLifecycle());
  out += ",\"author\":";
  appendJsonString(out, std::string_view(env.getAuthor().cStr(), env.getAuthor().size()));
  out += ",\"created\":\"";
  appendIsoTime(out, env.getCreated());
  out += "\",\"modified\":\"";
  appendIsoTime(out, env.getModified());
  out += "\",\"dataIteration\":";
  integer(env.getDataIteration());
  out += ",\"metaIteration\":";
  integer(env.getMetaIteration());
  out += ",\"data\":";
  appendJson(out, tree, rec);
  out += '}';
}

}  // namespace

}  // namespace hills::tools
