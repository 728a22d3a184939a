// Fuzz target: the stored value decoder and the check of a value against its
// tree's schema. The input is a value another database might send
// (GenericTree::adopt, as the server stores a pushed record): byte 0 picks
// the tree, byte 1 the id, the rest is the value. A value adopt takes must
// read back through every field (JSON, the compiled type, the indexes):
// a value that cannot is one adopt must refuse.
#include "fuzz_support.h"
#include "fuzz_trees.h"

namespace {

struct Fixture {
  Fixture() : db(hills::fuzz::scratch().sub("value"), hills::fuzz::withFuzzTrees(hills::test::plmOptions())) {
    // One record in each tree, so that adopt also replaces records.
    db.write([](hills::WriteTxn& txn) {
      txn.tree<plm::Part>().create(hills::test::makePart(1));
      txn.tree<plm::Bom>().create({});
      txn.tree<plm::StockItem>().create({});
      txn.tree<kinds::records::Sample>().create({});
      txn.tree<shared::Owner>().create({.name = "owner"});
    });
  }
  hills::Database db;
  // With a subscriber, an update compares fields (the event's changedFields).
  hills::Subscription events = db.subscribe({}, [](const hills::Event&) {});
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static Fixture fixture;
  if (size < 2) return 0;
  const char* tree = hills::fuzz::kTrees[data[0] % hills::fuzz::kTreeCount];
  std::uint64_t id = 1 + data[1] % 4;
  kj::ArrayPtr<const kj::byte> value(data + 2, size - 2);
  try {
    fixture.db.write([&](hills::WriteTxn& txn) {
      bool taken = hills::fuzz::refusedOnlyWithError(
          "adopt", [&] { txn.tree(tree).adopt(id, 0, value, "fuzz"); });
      if (taken && txn.tree(tree).contains(id, 0)) {
        try {
          hills::fuzz::readEveryField(txn, tree, id, 0);
        } catch (const hills::Error& e) {
          hills::fuzz::fail(std::string("adopt took a value that does not read back: ") +
                            e.what());
        } catch (const kj::Exception& e) {
          hills::fuzz::fail(std::string("adopt took a value that does not read back: ") +
                            e.getDescription().cStr());
        }
      }
      throw hills::fuzz::Rollback{};
    });
  } catch (const hills::fuzz::Rollback&) {
  } catch (const hills::Error&) {
    // A refusal after something was written (an indexer's) fails the whole
    // transaction, as GenericTree documents.
  }
  return 0;
}
