#include "view_export.h"

#include <capnp/dynamic.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "hills/generic.h"
#include "hills/ref.h"
#include "value_text.h"

namespace hills::viewer {

namespace {

void appendCsvCell(std::string& out, std::string_view text) {
  if (text.find_first_of(",\"\n\r") == std::string_view::npos) {
    out.append(text);
    return;
  }
  out += '"';
  for (char c : text) {
    if (c == '"') out += '"';
    out += c;
  }
  out += '"';
}

class File {
 public:
  explicit File(const std::string& path) : path_(path), f_(std::fopen(path.c_str(), "wb")) {
    if (!f_) fail();
  }
  ~File() {
    if (f_) std::fclose(f_);
  }
  void write(std::string& buf, bool force) {
    if (buf.empty() || (!force && buf.size() < (1u << 20))) return;
    if (std::fwrite(buf.data(), 1, buf.size(), f_) != buf.size()) fail();
    buf.clear();
  }
  void close() {
    FILE* f = f_;
    f_ = nullptr;
    if (std::fclose(f) != 0) fail();
  }

 private:
  [[noreturn]] void fail() {
    throw Error(ErrorCode::kIo, "cannot write " + path_ + ": " + std::strerror(errno));
  }
  std::string path_;
  FILE* f_;
};

}  // namespace

std::uint64_t exportView(const Database& db, const std::string& tree,
                         std::shared_ptr<const std::vector<RowKey>> keys, ExportFormat format,
                         const std::string& path,
                         const std::function<bool(std::uint64_t, std::uint64_t)>& progress) {
  File file(path);
  std::string buf;
  std::uint64_t written = 0;
  auto schema = db.storedSchema(tree);
  JsonWriter json(schema);
  std::string nested;
  if (format == ExportFormat::kCsv) {
    buf += "id,revision";
    for (auto f : schema.getFields()) {
      buf += ',';
      appendCsvCell(buf, f.getProto().getName().cStr());
    }
    buf += ",state,lifecycle,author\n";
  }
  auto one = [&](const GenericTreeView& view, const StoredRecord& rec) {
    auto meta = rec.meta();
    if (format == ExportFormat::kNdjson) {
      buf += "{\"id\":\"" + std::to_string(rec.id()) + "\",\"revision\":" +
             std::to_string(rec.revision()) + ",\"state\":\"" + std::string(toString(meta.state)) +
             "\",\"lifecycle\":" + std::to_string(meta.lifecycle) + ",\"author\":";
      appendJsonString(buf, meta.author);
      buf += ",\"data\":";
      appendJson(buf, view, rec);
      buf += "}\n";
    } else {
      buf += std::to_string(rec.id()) + "," + std::to_string(rec.revision());
      try {
        auto body = rec.body().getAs<capnp::DynamicStruct>(schema);
        for (auto f : schema.getFields()) {
          buf += ',';
          auto type = f.getType();
          if (!isActive(body, f)) continue;
          auto value = body.get(f);
          if ((type.isStruct() && !isRefType(type)) || type.isList() || type.isData()) {
            nested.clear();
            json.appendField(nested, body, f);
            appendCsvCell(buf, nested);
          } else {
            appendCsvCell(buf, cellText(value, type, refTarget(f), SIZE_MAX / 2));
          }
        }
      } catch (const kj::Exception& e) {
        rec.throwCorrupt(e);
      }
      buf += "," + std::string(toString(meta.state)) + "," + std::to_string(meta.lifecycle) + ",";
      appendCsvCell(buf, meta.author);
      buf += '\n';
    }
    file.write(buf, false);
    ++written;
  };
  std::uint64_t total = keys ? keys->size() : db.read([&](const ReadTxn& txn) {
    return txn.tree(tree).size();
  });
  bool stopped = false;
  auto tick = [&] {
    if (progress && written % 4096 == 0 && !progress(written, total)) stopped = true;
    return !stopped;
  };
  db.read([&](const ReadTxn& txn) {
    auto view = txn.tree(tree);
    if (keys) {
      for (const auto& key : *keys) {
        if (auto rec = view.find(key.id, key.revision)) one(view, rec);
        if (!tick()) break;
      }
    } else {
      view.scan(0, UINT64_MAX, [&](const StoredRecord& rec) {
        one(view, rec);
        return tick();
      });
    }
  });
  file.write(buf, true);
  file.close();
  if (progress) progress(written, total);
  return written;
}

}  // namespace hills::viewer
