// Fuzz target: JSON import (createFromJson, updateFromJson). Byte 0 picks
// the tree and whether the JSON creates a record or updates one; the rest
// is the JSON. Refusals are hills::Error only; a record the JSON made or
// changed must read back through every field.
#include "fuzz_support.h"
#include "fuzz_trees.h"

namespace {

struct Fixture {
  Fixture()
      : db(hills::fuzz::scratch().sub("json"),
           hills::fuzz::withFuzzTrees(hills::test::plmOptions())) {
    db.write([this](hills::WriteTxn& txn) {
      for (const char* tree : hills::fuzz::kTrees) {
        auto generic = txn.tree(tree);
        ids.push_back(hills::createFromJson(generic, "{}"));
      }
    });
  }
  hills::Database db;
  std::vector<std::uint64_t> ids;  // one draft per tree, for updates
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static Fixture fixture;
  if (size < 1) return 0;
  std::size_t which = data[0] % hills::fuzz::kTreeCount;
  bool update = (data[0] / hills::fuzz::kTreeCount) % 2 == 1;
  const char* tree = hills::fuzz::kTrees[which];
  std::string_view json(reinterpret_cast<const char*>(data + 1), size - 1);
  try {
    fixture.db.write([&](hills::WriteTxn& txn) {
      auto generic = txn.tree(tree);
      std::uint64_t id = fixture.ids[which];
      bool taken = hills::fuzz::refusedOnlyWithError(update ? "updateFromJson" : "createFromJson",
                                                     [&] {
                                                       if (update) {
                                                         hills::updateFromJson(generic, id, 0, json);
                                                       } else {
                                                         id = hills::createFromJson(generic, json);
                                                       }
                                                     });
      if (taken) {
        try {
          hills::fuzz::readEveryField(txn, tree, id, 0);
        } catch (const hills::Error& e) {
          hills::fuzz::fail(std::string("JSON made a record that does not read back: ") + e.what());
        } catch (const kj::Exception& e) {
          hills::fuzz::fail(std::string("JSON made a record that does not read back: ") +
                            e.getDescription().cStr());
        }
      }
      throw hills::fuzz::Rollback{};
    });
  } catch (const hills::fuzz::Rollback&) {
  }
  return 0;
}
