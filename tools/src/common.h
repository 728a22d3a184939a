// What the subcommands share: opening a database, reading keys and numbers
// from the command line, records as JSON lines, errors as exit codes.
#pragma once

#include <kj/exception.h>
#include <kj/main.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "hills/database.h"
#include "hills/error.h"
#include "hills/generic.h"
#include "hills/txn.h"

namespace hills::tools {

// Opens the database in `dir` with no compiled types (the stored schemas
// decode every tree). Read-only unless `writable`: alongside a process that
// writes it, a read-only open changes nothing and waits for no lock. Throws
// Error(kIo) naming the directory when it holds no database.
std::unique_ptr<Database> openDatabase(const std::string& dir, bool writable);

// "42" or "42/3": an id and, when given, a revision.
struct KeyArg {
  std::uint64_t id = 0;
  std::optional<std::uint32_t> revision;
};
std::optional<KeyArg> parseKeyArg(std::string_view text);
// The ID[/REV] argument of a command, read into `out`; kj::MainBuilder's
// message when it is not a key.
kj::MainBuilder::Validity keyArgument(kj::StringPtr text, KeyArg& out);
std::optional<std::uint64_t> parseNumber(std::string_view text);

// UTC, ISO 8601 with milliseconds: 2026-12-01T17:02:08.123Z.
std::string isoTime(std::int64_t nanos);
// The same, appended to `out` (24 characters).
void appendIsoTime(std::string& out, std::int64_t nanos);

// 1.5 MiB, 312 KiB, 800 B.
std::string humanBytes(std::uint64_t bytes);

// The record as one JSON object: key, meta, then its data decoded through
// the tree's stored schema (hills::appendJson):
//   {"id":"7","revision":0,"state":"draft","lifecycle":0,"author":"A",
//    "created":"...","modified":"...","dataIteration":1,"metaIteration":1,"data":{...}}
// Ids are strings, as 64-bit integers are in Cap'n Proto's JSON.
void appendRecordJson(std::string& out, const GenericTreeView& tree, const StoredRecord& rec);

// What hills keeps about the database itself in _meta, as the tools show it.
struct IndexStamp {
  std::string name;
  std::uint32_t version = 0;
  std::string tree;
};
struct MetaInfo {
  std::uint32_t format = 0;
  std::uint32_t schemaVersion = 0;
  bool changeLog = false;
  std::vector<IndexStamp> indexes;  // by name
};
MetaInfo readMeta(const ReadTxn& txn);

// plain, sync server or sync client: told by the tables sync keeps
// (_grants on a server, _outbox on a client).
std::string roleOf(const ReadTxn& txn);

// Buffered standard output for large outputs.
class Output {
 public:
  Output() = default;
  ~Output() { flush(); }
  Output(const Output&) = delete;
  Output& operator=(const Output&) = delete;
  std::string& buffer() { return buf_; }
  // Writes the buffer when it is large (or always, with `force`).
  void flush(bool force = true) {
    if (buf_.empty() || (!force && buf_.size() < (1u << 20))) return;
    std::fwrite(buf_.data(), 1, buf_.size(), stdout);
    buf_.clear();
    if (force) std::fflush(stdout);
  }

 private:
  std::string buf_;
};

// Runs fn and returns what it returns; hills' errors and Cap'n Proto's
// exceptions end the program with their message and exit code 1.
template <class F>
kj::MainBuilder::Validity guarded(kj::ProcessContext& context, F&& fn) {
  // kj's main ends the process with _exit: what stdio holds must go first.
  try {
    auto result = fn();
    std::fflush(stdout);
    return result;
  } catch (const Error& e) {
    std::fflush(stdout);
    context.exitError(kj::str(e.what()));
  } catch (const kj::Exception& e) {
    std::fflush(stdout);
    context.exitError(kj::str(e.getDescription()));
  } catch (const std::exception& e) {
    std::fflush(stdout);
    context.exitError(kj::str(e.what()));
  }
  __builtin_unreachable();  // exitError does not return
}

}  // namespace hills::tools
