// Fuzz target: a replica applying a change of its server's log. The input is
// a wire::Change message (schemas/hills/record.capnp) as the server sends
// it. applyChange may refuse it with hills::Error only; a change it takes
// must read back through every field; after a refusal the replica must
// still commit.
#include <capnp/serialize.h>

#include "fuzz_support.h"
#include "fuzz_trees.h"
#include "replication.h"

namespace {

struct Fixture {
  Fixture()
      : server(hills::fuzz::scratch().sub("change-server"), hills::test::serverOptions()),
        replica(hills::fuzz::scratch().sub("change-replica"), "A") {
    // Records the changes can meet: a draft, a released one, one checked out.
    auto part = hills::test::createPart(server, 1);
    auto released = hills::test::createPart(server, 2);
    server.write([&](hills::WriteTxn& txn) { txn.tree<plm::Part>().release(released); });
    hills::test::checkOut(server, part, "A");
    hills::test::replicate(server, replica, 0);
  }
  hills::Database server;
  hills::test::ReplicaDatabase replica;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static Fixture fixture;
  auto words = hills::fuzz::wordsOf(data, size);
  kj::Own<capnp::FlatArrayMessageReader> message;
  hills::wire::Change::Reader change;
  std::string tree, origin;
  try {
    // What the RPC layer would have refused before the change reached the
    // replica: a message that is not a struct at all.
    message = kj::heap<capnp::FlatArrayMessageReader>(
        kj::ArrayPtr<const capnp::word>(words.data(), words.size()));
    change = message->getRoot<hills::wire::Change>();
    tree = change.getTree().cStr();
    origin = change.getOrigin().cStr();
  } catch (const kj::Exception&) {
    return 0;
  }
  bool refused = false;
  try {
    fixture.replica.write([&](hills::WriteTxn& txn) {
      refused = !hills::fuzz::refusedOnlyWithError(
          "applyChange", [&] { txn.tree(tree).applyChange(change, origin); });
      if (refused) {
        txn.setProperty("fuzz", "refused");  // committed
        return;
      }
      std::uint64_t id = change.getId();
      std::uint32_t revision = change.getRevision();
      if (txn.tree(tree).contains(id, revision)) {
        try {
          hills::fuzz::readEveryField(txn, tree, id, revision);
        } catch (const hills::Error& e) {
          hills::fuzz::fail(std::string("applyChange took a value that does not read back: ") +
                            e.what());
        } catch (const kj::Exception& e) {
          hills::fuzz::fail(std::string("applyChange took a value that does not read back: ") +
                            e.getDescription().cStr());
        }
      }
      throw hills::fuzz::Rollback{};
    });
  } catch (const hills::fuzz::Rollback&) {
  } catch (const hills::Error&) {
    // A refusal after something was written (an indexer's, a hook's
    // stored()) fails the whole transaction, as GenericTree documents; the
    // next transaction must commit.
  }
  if (refused) {
    bool committed = hills::fuzz::refusedOnlyWithError("a commit after a refused change", [&] {
      fixture.replica.write([](hills::WriteTxn& txn) { txn.setProperty("fuzz", "next"); });
    });
    if (!committed) hills::fuzz::fail("the replica cannot commit after a refused change");
  }
  return 0;
}
