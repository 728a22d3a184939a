// The walk over a record's references (core/src/ref.cc): what forEachRef
// finds and what rewriteRefs changes, through the stored schema.
#include <capnp/message.h>

#include <catch2/catch.hpp>
#include <tuple>
#include <vector>

#include "plm_fixtures.h"
#include "temp_dir.h"

using hills::Key;
using hills::test::plmOptions;
using hills::test::TempDir;

namespace {

using Found = std::tuple<std::string, std::uint64_t, std::uint32_t>;

// A bom with references everywhere the schema has them: its assembly, a
// line's part in a list of structs, and a list of lists; one line's part is
// a null reference.
plm::Bom everyKindOfRef() {
  plm::Bom bom{};
  bom.assembly = Key<plm::Part>{1, 0};
  bom.lines.push_back(plm::Bom::Line{Key<plm::Part>{2, 0}, 1, {"R1"}});
  bom.lines.push_back(plm::Bom::Line{Key<plm::Part>{}, 2, {}});
  bom.lines.push_back(plm::Bom::Line{Key<plm::Part>{3, 1}, 3, {}});
  bom.interchangeable = {{Key<plm::Part>{4, 0}, Key<plm::Part>{5, 0}}, {Key<plm::Part>{6, 2}}};
  bom.notes = "refs";
  return bom;
}

}  // namespace

TEST_CASE("every reference of a record is found through its stored schema, nested or in lists",
          "[core][ref]") {
  TempDir dir;
  hills::Database db(dir.path(), plmOptions());
  auto key =
      db.write([](hills::WriteTxn& txn) { return txn.tree<plm::Bom>().create(everyKindOfRef()); });
  std::vector<Found> found;
  db.read([&](const hills::ReadTxn& txn) {
    auto boms = txn.tree("boms");
    auto rec = boms.find(key.id, key.revision);
    REQUIRE(rec);
    hills::forEachRef(boms.schema(), rec.body(), [&](const hills::RefValue& ref) {
      found.emplace_back(std::string(ref.tree), ref.id, ref.revision);
    });
  });
  CHECK(found == std::vector<Found>{{"parts", 1, 0},
                                    {"parts", 2, 0},
                                    {"parts", 3, 1},
                                    {"parts", 4, 0},
                                    {"parts", 5, 0},
                                    {"parts", 6, 2}});
}

TEST_CASE("rewriteRefs changes the references its function moves, in place, and no others",
          "[core][ref]") {
  TempDir dir;
  hills::Database db(dir.path(), plmOptions());
  auto key =
      db.write([](hills::WriteTxn& txn) { return txn.tree<plm::Bom>().create(everyKindOfRef()); });
  db.read([&](const hills::ReadTxn& txn) {
    auto boms = txn.tree("boms");
    auto rec = boms.find(key.id, key.revision);
    REQUIRE(rec);
    capnp::MallocMessageBuilder msg(static_cast<unsigned>(rec.value().size() + 1));
    msg.setRoot(rec.body().getAs<plm::Bom::Capnp>());
    auto body = msg.getRoot<capnp::AnyPointer>();
    std::size_t changed = hills::rewriteRefs(boms.schema(), body, [](hills::RefValue& ref) {
      if (ref.id == 2) ref.id = 20;
      if (ref.id == 5) ref.id = 50;
      if (ref.id == 6) ref.revision = 3;
    });
    CHECK(changed == 3);
    CHECK(msg.getSegmentsForOutput().size() == 1);
    plm::Bom after{};
    hills::RecordTraits<plm::Bom>::read(body.getAs<plm::Bom::Capnp>().asReader(), after);
    plm::Bom expected = everyKindOfRef();
    expected.lines[0].part = Key<plm::Part>{20, 0};
    expected.interchangeable[0][1] = Key<plm::Part>{50, 0};
    expected.interchangeable[1][0] = Key<plm::Part>{6, 3};
    CHECK(after == expected);
    // A null reference is never handed to the function.
    std::size_t none = hills::rewriteRefs(boms.schema(), body, [](hills::RefValue& ref) {
      if (ref.id == 0) ref.id = 99;
    });
    CHECK(none == 0);
  });
}

TEST_CASE("a field's reference target and the Ref type are told from the schema", "[core][ref]") {
  auto bom = capnp::Schema::from<plm::capnp::Bom>();
  CHECK(hills::refTarget(bom.getFieldByName("assembly")) == "parts");
  CHECK(hills::refTarget(bom.getFieldByName("interchangeable")) == "parts");
  CHECK(hills::refTarget(bom.getFieldByName("notes")).empty());
  CHECK(hills::isRefType(bom.getFieldByName("assembly").getType()));
  CHECK_FALSE(hills::isRefType(bom.getFieldByName("lines").getType()));
  CHECK_FALSE(hills::isRefType(bom.getFieldByName("notes").getType()));
}
