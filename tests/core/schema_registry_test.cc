// Two versions of one schema, and an incompatible third, meeting in one
// database through three programs (evolve_tool.cc).
#include <capnp/dynamic.h>
#include <capnp/message.h>
#include <capnp/schema-loader.h>
#include <capnp/serialize.h>
#include <sys/wait.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "plm_fixtures.h"
#include "temp_dir.h"

using hills::ErrorCode;
using hills::test::plmOptions;
using hills::test::TempDir;

namespace {

int run(const char* tool, const std::string& dir, const std::string& step) {
  std::string cmd = std::string(tool) + " '" + dir + "' " + step;
  int status = std::system(cmd.c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

}  // namespace

TEST_CASE("old and new programs share a database and keep each other's fields", "[core][schema]") {
  TempDir dir;
  CHECK(run(EVOLVE_V1, dir.path(), "v1-create") == 0);
  CHECK(run(EVOLVE_V2, dir.path(), "v2-read-old-and-create") == 0);
  CHECK(run(EVOLVE_V1, dir.path(), "v1-update-new") == 0);
  CHECK(run(EVOLVE_V2, dir.path(), "v2-verify-kept") == 0);
}

TEST_CASE("a changed field type is refused at open with the type and field named",
          "[core][schema]") {
  TempDir dir;
  REQUIRE(run(EVOLVE_V1, dir.path(), "v1-create") == 0);
  CHECK(run(EVOLVE_BAD, dir.path(), "expect-mismatch") == 0);
  // The refused program changed nothing: the old one still opens.
  CHECK(run(EVOLVE_V1, dir.path(), "v1-create") == 0);
}

namespace {

// What identifies the trees of a database.
std::vector<std::tuple<std::string, bool, std::uint64_t, bool>> treeList(const hills::Database& db) {
  std::vector<std::tuple<std::string, bool, std::uint64_t, bool>> out;
  for (const auto& t : db.trees()) out.emplace_back(t.name, t.versioned, t.typeId, t.compiled);
  return out;
}

hills::Options noTrees() {
  auto o = plmOptions();
  o.trees.clear();
  return o;
}

}  // namespace

TEST_CASE("declareTrees adds a tree from a schema written by writeTreeSchema and read back with "
          "readTreeSchema",
          "[core][schema]") {
  TempDir dir;
  const std::uint64_t partId = hills::treeType<plm::Part>().schema.getProto().getId();
  std::uint64_t id = 0;
  {
    hills::Database db(dir.path(), noTrees());
    CHECK(db.trees().empty());
    {
      // As a client sends it: written, flattened, read back into a loader of its own.
      capnp::MallocMessageBuilder msg;
      hills::writeTreeSchema(hills::treeType<plm::Part>(), msg.initRoot<hills::wire::TreeSchema>());
      auto flat = capnp::messageToFlatArray(msg);
      capnp::FlatArrayMessageReader reader(flat);
      auto schema = reader.getRoot<hills::wire::TreeSchema>();
      CHECK(schema.getTree() == "parts");
      CHECK(schema.getTypeId() == partId);
      capnp::SchemaLoader loader;
      auto type = hills::readTreeSchema(schema, loader);
      CHECK(type.tree == "parts");
      CHECK(type.versioned);
      CHECK(type.schema.getProto().getId() == partId);
      db.declareTrees({type});
    }  // the loader is gone: the database keeps schemas of its own
    auto trees = db.trees();
    REQUIRE(trees.size() == 1);
    CHECK(trees[0].name == "parts");
    CHECK(trees[0].versioned);
    CHECK(trees[0].typeId == partId);
    CHECK_FALSE(trees[0].compiled);
    CHECK(db.storedSchema("parts").getProto().getId() == partId);

    id = db.write([](hills::WriteTxn& txn) {
      auto parts = txn.tree("parts");
      return hills::createFromJson(parts, R"({"number": "P-7", "name": "declared", "mass": 1.5})");
    });
    db.read([&](const hills::ReadTxn& txn) {
      auto parts = txn.tree("parts");
      auto rec = parts.require(id, 0);
      auto body = rec.body().getAs<capnp::DynamicStruct>(parts.schema());
      CHECK(body.get("name").as<capnp::Text>() == "declared");
      CHECK(body.get("mass").as<double>() == 1.5);
      CHECK(parts.size() == 1);
    });
    // Declaring it again changes nothing.
    auto before = treeList(db);
    db.declareTrees({hills::treeType<plm::Part>()});
    CHECK(treeList(db) == before);
  }
  // A program with the compiled type reads the record typed.
  hills::Database db(dir.path(), plmOptions());
  auto part = db.read([&](const hills::ReadTxn& txn) {
    return txn.tree<plm::Part>().get(hills::Key<plm::Part>{id, 0});
  });
  REQUIRE(part);
  CHECK(part->name == "declared");
  CHECK(part->number == "P-7");
}

TEST_CASE("readTreeSchema refuses a schema without its record struct", "[core][schema]") {
  capnp::MallocMessageBuilder msg;
  auto schema = msg.initRoot<hills::wire::TreeSchema>();
  hills::writeTreeSchema(hills::treeType<plm::Part>(), schema);
  schema.setTypeId(0x1234);  // no node of that id
  capnp::SchemaLoader loader;
  try {
    hills::readTreeSchema(schema.asReader(), loader);
    FAIL("no error");
  } catch (const hills::Error& e) {
    CHECK(e.code() == ErrorCode::kSchemaMismatch);
    CHECK_THAT(e.what(), Catch::Contains("parts"));
  }
}

TEST_CASE("readTreeSchema refuses a struct that takes Hills.Ref's id with another shape",
          "[core][schema]") {
  // A damaged or forged stored schema: every reader of references would
  // take its fields' bits for an id and a revision.
  capnp::MallocMessageBuilder msg;
  auto schema = msg.initRoot<hills::wire::TreeSchema>();
  hills::writeTreeSchema(hills::treeType<plm::Bom>(), schema);  // assembly is a Hills.Ref
  int forged = 0;
  for (auto node : schema.getNodes()) {
    if (node.getId() != capnp::typeId<hills::schema::Ref>()) continue;
    for (auto field : node.getStruct().getFields()) {
      if (std::string_view(field.getName().cStr()) == "id") {
        field.getSlot().initType().setFloat64();
        field.getSlot().initDefaultValue().setFloat64(0);
        ++forged;
      }
    }
  }
  REQUIRE(forged == 1);
  capnp::SchemaLoader loader;
  try {
    hills::readTreeSchema(schema.asReader(), loader);
    FAIL("no error");
  } catch (const hills::Error& e) {
    CHECK(e.code() == ErrorCode::kSchemaMismatch);
    CHECK_THAT(e.what(), Catch::Contains("boms") && Catch::Contains("Hills.Ref"));
  }
  // The same schema unforged reads.
  capnp::MallocMessageBuilder good;
  auto plain = good.initRoot<hills::wire::TreeSchema>();
  hills::writeTreeSchema(hills::treeType<plm::Bom>(), plain);
  capnp::SchemaLoader other;
  CHECK(hills::readTreeSchema(plain.asReader(), other).tree == "boms");
}

TEST_CASE("declareTrees refuses an incompatible schema and changes nothing", "[core][schema]") {
  TempDir dir;
  const std::uint64_t partId = hills::treeType<plm::Part>().schema.getProto().getId();
  {
    hills::Database db(dir.path(), noTrees());
    db.declareTrees({hills::treeType<plm::Part>()});
    auto before = treeList(db);
    REQUIRE(before.size() == 1);

    auto bad = hills::treeType<plm::Bom>();
    bad.tree = "parts";
    // A good new tree first: it must not be added either.
    try {
      db.declareTrees({hills::treeType<plm::StockItem>(), bad});
      FAIL("an incompatible schema was declared");
    } catch (const hills::Error& e) {
      CHECK(e.code() == ErrorCode::kSchemaMismatch);
      CHECK_THAT(e.what(), Catch::Contains("parts"));
    }
    CHECK(treeList(db) == before);
    CHECK(db.storedSchema("parts").getProto().getId() == partId);
    // The database still works.
    auto id = db.write([](hills::WriteTxn& txn) {
      auto parts = txn.tree("parts");
      return hills::createFromJson(parts, R"({"name": "after the refusal"})");
    });
    CHECK(id > 0);
    db.read([](const hills::ReadTxn& txn) {
      try {
        txn.tree("stock");
        FAIL("the refused declaration added a tree");
      } catch (const hills::Error& e) {
        CHECK(e.code() == ErrorCode::kUnknownTree);
      }
    });
  }
  // Nothing of the refused declaration was stored.
  hills::Database db(dir.path(), noTrees());
  auto trees = treeList(db);
  REQUIRE(trees.size() == 1);
  CHECK(std::get<0>(trees[0]) == "parts");
  CHECK(std::get<2>(trees[0]) == partId);
}
