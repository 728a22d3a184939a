// hills import DIR TREE FILE.ndjson: drafts from JSON lines.
#include <capnp/compat/json.h>
#include <capnp/message.h>

#include <cstdio>
#include <fstream>

#include "commands.h"
#include "common.h"
#include "hills/generic.h"
#include "import.h"
#include "progress.h"

namespace hills::tools {
namespace {

struct ImportArgs {
  std::string dir, tree, file;
  std::uint64_t batch = 0;  // 0: all lines in one transaction
};

// One line's key (when it names one) and data as JSON text.
struct Line {
  std::optional<std::uint64_t> id;
  std::uint32_t revision = 0;
  std::string data;
};

std::uint64_t numberOf(capnp::JsonValue::Reader v, const char* what) {
  if (v.isNumber() && v.getNumber() >= 0) return static_cast<std::uint64_t>(v.getNumber());
  if (v.isString()) {
    if (auto n = parseNumber(v.getString().cStr())) return *n;
  }
  throw Error(ErrorCode::kInvalidArgument, std::string("'") + what + "' is not a number");
}

Line parseLine(const capnp::JsonCodec& codec, std::string_view text) {
  capnp::MallocMessageBuilder msg;
  auto root = msg.initRoot<capnp::JsonValue>();
  try {
    codec.decodeRaw(kj::ArrayPtr<const char>(text.data(), text.size()), root);
  } catch (const kj::Exception& e) {
    throw Error(ErrorCode::kInvalidArgument,
                std::string("the line is not JSON: ") + e.getDescription().cStr());
  }
  if (!root.isObject()) throw Error(ErrorCode::kInvalidArgument, "the line is not a JSON object");
  Line line;
  std::optional<capnp::JsonValue::Reader> data;
  for (auto field : root.asReader().getObject()) {
    std::string_view name = field.getName().cStr();
    if (name == "id") {
      if (!field.getValue().isNull()) line.id = numberOf(field.getValue(), "id");
    } else if (name == "revision") {
      line.revision = static_cast<std::uint32_t>(numberOf(field.getValue(), "revision"));
    } else if (name == "data") {
      data = field.getValue();
    }
  }
  if (data) {
    auto t = codec.encodeRaw(*data);
    line.data.assign(t.cStr(), t.size());
  } else {
    // A hand-written line: the object is the data, with key and meta left out.
    capnp::MallocMessageBuilder only;
    auto fields = root.asReader().getObject();
    std::vector<capnp::JsonValue::Field::Reader> kept;
    for (auto f : fields) {
      std::string_view n = f.getName().cStr();
      if (!isMetaName(n)) kept.push_back(f);
    }
    auto obj = only.initRoot<capnp::JsonValue>().initObject(static_cast<unsigned>(kept.size()));
    for (unsigned i = 0; i < kept.size(); ++i) {
      obj[i].setName(kept[i].getName());
      obj[i].setValue(kept[i].getValue());
    }
    auto t = codec.encodeRaw(only.getRoot<capnp::JsonValue>().asReader());
    line.data.assign(t.cStr(), t.size());
  }
  return line;
}

std::uint64_t import(const ImportArgs& args) {
  std::ifstream in(args.file);
  if (!in) throw Error(ErrorCode::kIo, "cannot read " + args.file);
  std::vector<std::string> lines;
  for (std::string l; std::getline(in, l);) lines.push_back(std::move(l));
  auto db = openDatabase(args.dir, true);
  requirePlain(*db);
  capnp::JsonCodec codec;
  std::size_t batch = args.batch ? args.batch : std::max<std::size_t>(lines.size(), 1);
  std::uint64_t created = 0, updated = 0, refusedLines = 0, failedBatches = 0;
  Progress progress("import " + args.tree, lines.size(), "lines");
  for (std::size_t first = 0; first < lines.size(); first += batch) {
    std::size_t last = std::min(lines.size(), first + batch);
    std::vector<std::string> refusals;
    std::uint64_t c = 0, u = 0;
    try {
      db->write([&](WriteTxn& txn) {
        refusals.clear();
        c = u = 0;
        auto tree = txn.tree(args.tree);
        for (std::size_t i = first; i < last; ++i) {
          if (lines[i].find_first_not_of(" \t\r") == std::string::npos) continue;
          try {
            Line line = parseLine(codec, lines[i]);
            if (line.id) {
              updateFromJson(tree, *line.id, line.revision, line.data);
              ++u;
            } else {
              createFromJson(tree, line.data);
              ++c;
            }
          } catch (const Error& e) {
            refusals.push_back("line " + std::to_string(i + 1) + ": " + e.what());
          }
          progress.update(i + 1);
        }
        // A refused line takes its whole batch with it.
        if (!refusals.empty()) throw Error(ErrorCode::kInvalidArgument, "batch refused");
      });
      created += c;
      updated += u;
    } catch (const Error& e) {
      if (refusals.empty()) throw;
      ++failedBatches;
      refusedLines += refusals.size();
      for (auto& r : refusals) std::printf("refused %s\n", r.c_str());
      std::printf("batch of lines %zu-%zu not imported\n", first + 1, last);
    }
  }
  progress.finish();
  std::printf("%llu created, %llu updated, %llu lines refused, %llu batches not imported\n",
              static_cast<unsigned long long>(created), static_cast<unsigned long long>(updated),
              static_cast<unsigned long long>(refusedLines),
              static_cast<unsigned long long>(failedBatches));
  return refusedLines;
}

}  // namespace

bool isMetaName(std::string_view name) {
  static const std::string_view names[] = {"id",       "revision", "state",         "lifecycle",
                                           "author",   "created",  "modified",      "dataIteration",
                                           "metaIteration"};
  for (auto n : names)
    if (n == name) return true;
  return false;
}

void requirePlain(Database& db) {
  auto role = db.read([](const ReadTxn& txn) { return roleOf(txn); });
  if (role != "plain") {
    throw Error(ErrorCode::kInvalidArgument,
                "the database " + db.path() + " is a " + role +
                    "'s: imports write only to plain databases (a replica's edits go through "
                    "its client, a server's through the server)");
  }
}

kj::MainFunc importCommand(kj::ProcessContext& context) {
  auto args = std::make_shared<ImportArgs>();
  return kj::MainBuilder(context, kVersion,
                         "Reads FILE, one JSON object per line, into TREE of the plain database "
                         "in DIR: a line without \"id\" creates a draft, a line with \"id\" (and "
                         "\"revision\", 0 when absent) updates that draft. The record's fields "
                         "are under \"data\" as `hills dump` writes them, or, without \"data\", "
                         "are the line's own fields. Each line that is refused (a released "
                         "record, a value of the wrong type, a field the schema does not know) "
                         "is reported with its number and why, and nothing of its batch is "
                         "imported. Exits with 1 when a line was refused.")
      .addOptionWithArg({"batch"},
                        [args](kj::StringPtr v) -> kj::MainBuilder::Validity {
                          auto n = parseNumber(v.cStr());
                          if (!n || *n == 0) return kj::str("--batch takes a number above 0");
                          args->batch = *n;
                          return true;
                        },
                        "<N>", "Commit every N lines (default: all lines in one transaction).")
      .expectArg("DIR", [args](kj::StringPtr v) { args->dir = v; return true; })
      .expectArg("TREE", [args](kj::StringPtr v) { args->tree = v; return true; })
      .expectArg("FILE", [args](kj::StringPtr v) { args->file = v; return true; })
      .callAfterParsing([args, &context]() {
        return guarded(context, [&]() -> kj::MainBuilder::Validity {
          auto refused = import(*args);
          std::fflush(stdout);
          if (refused) context.exitError(kj::str(refused, " lines refused"));
          return true;
        });
      })
      .build();
}

}  // namespace hills::tools
