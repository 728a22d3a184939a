// Fuzz target: the text of hills-viewer's cells, on values a damaged or
// hostile database file may hold (a viewer opens files it did not write).
// The input is what the value target takes: byte 0 picks the tree (or,
// past the trees, the schema of tests/viewer/schemas/cells.capnp: lists of
// every element type, pointers with defaults of their own), the rest is a
// stored value (the envelope and its body); byte 1 is the cells' width.
// A record table writes each cell through the plans of CellText, the record
// view through Cap'n Proto's dynamic API (cellText): for every field both
// must write the same text, or both refuse the value with kj::Exception
// (the cell then says the value does not decode). Nothing else may escape.
#include <capnp/dynamic.h>
#include <capnp/message.h>

#include <string>
#include <vector>

#include "fuzz_support.h"
#include "cells.capnp.h"
#include "fuzz_trees.h"
#include "hills/record.capnp.h"
#include "hills/ref.h"
#include "value_text.h"

namespace {

struct Fixture {
  Fixture() : db(hills::fuzz::scratch().sub("cell"), hills::fuzz::withFuzzTrees(hills::test::plmOptions())) {
    for (const char* tree : hills::fuzz::kTrees) {
      schemas.push_back(db.storedSchema(tree));
      names.emplace_back(tree);
    }
    schemas.push_back(capnp::Schema::from<cells::Cells>());
    names.emplace_back("Cells");
    for (auto schema : schemas) cells.emplace_back(schema);
  }
  hills::Database db;
  std::vector<capnp::StructSchema> schemas;
  std::vector<std::string> names;
  std::vector<hills::viewer::CellText> cells;  // kept across inputs, as a table keeps its own
};

// What one way of writing a cell gave: its text, or why it refused.
struct Outcome {
  bool refused = false;
  std::string text;
  std::string why;
};

template <class F>
Outcome attempt(F&& write) {
  Outcome o;
  try {
    write(o.text);
  } catch (const kj::Exception& e) {
    o.refused = true;
    o.why = e.getDescription().cStr();
  }
  return o;
}

std::string said(const Outcome& o) { return o.refused ? "refused (" + o.why + ")" : "'" + o.text + "'"; }

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static Fixture fixture;
  if (size < 2 || size > (std::size_t{1} << 20)) return 0;  // a value of at most a MiB
  std::size_t tree = data[0] % fixture.schemas.size();
  std::size_t width = data[1];
  auto words = hills::fuzz::wordsOf(data + 2, size - 2);
  if (words.empty()) return 0;
  kj::ArrayPtr<const capnp::word> segments[] = {kj::arrayPtr(words.data(), words.size())};
  auto schema = fixture.schemas[tree];
  const auto& cells = fixture.cells[tree];
  for (auto field : schema.getFields()) {
    // Each way reads through a message of its own: what one spends of the
    // reader's traversal limit is not the other's.
    auto planned = attempt([&](std::string& out) {
      capnp::SegmentArrayMessageReader message(segments);
      auto body = message.getRoot<hills::wire::Envelope>().getBody().getAs<capnp::AnyStruct>();
      cells.append(out, body, field.getIndex(), width);
    });
    auto dynamic = attempt([&](std::string& out) {
      capnp::SegmentArrayMessageReader message(segments);
      auto body = message.getRoot<hills::wire::Envelope>().getBody().getAs<capnp::DynamicStruct>(schema);
      if (!hills::viewer::isActive(body, field)) return;  // a union's other member: an empty cell
      out = hills::viewer::cellText(body.get(field), field.getType(), hills::refTarget(field), width);
    });
    // A refusal may come after some of the text was written: only the
    // text of a cell both wrote is compared.
    if (planned.refused != dynamic.refused || (!planned.refused && planned.text != dynamic.text)) {
      hills::fuzz::fail("the cell of " + fixture.names[tree] + "." +
                        field.getProto().getName().cStr() + " at width " + std::to_string(width) +
                        ": the table " + said(planned) + ", the dynamic API " + said(dynamic));
    }
  }
  return 0;
}
