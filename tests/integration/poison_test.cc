// A client that pushes a value that is not a record of its tree, against a
// real hills-server process on 127.0.0.1: the server refuses it naming the
// field, and no other client ever sees it.
#include <capnp/any.h>
#include <capnp/rpc-twoparty.h>
#include <kj/async-io.h>

#include <catch2/catch.hpp>
#include <memory>
#include <string>
#include <vector>

#include "hills/client.h"
#include "hills/protocol.h"
#include "hills/record.capnp.h"
#include "hills/schema.h"
#include "hills/sync.capnp.h"
#include "plm_fixtures.h"
#include "raw_session.h"
#include "server_process.h"
#include "sync_fixtures.h"
#include "temp_dir.h"

using hills::ErrorCode;
using namespace hills::test;
using namespace std::chrono_literals;

namespace {

unsigned pointerOf(const char* field) {
  return capnp::Schema::from<plm::capnp::Part>()
      .getFieldByName(field)
      .getProto()
      .getSlot()
      .getOffset();
}

}  // namespace

TEST_CASE(
    "a pushed part whose number is a struct is refused naming the field, and no replica sees it",
    "[integration][poison]") {
  TempDir dir;
  auto config = writeServerConfig(dir.sub("server.json"));
  ServerProcess server(dir.sub("server"), config);
  hills::Client a(dir.sub("A"), clientOptions("A", server.address()));
  REQUIRE(a.waitConnected(10s));

  auto poisoned = partValue(dir.sub("source-bad"), "B", 1, [](capnp::AnyStruct::Builder body) {
    body.getPointerSection()[pointerOf("number")].initAsAnyStruct(1, 2);
  });
  auto good = partValue(dir.sub("source-good"), "B", 2, [](capnp::AnyStruct::Builder) {});

  // Client B speaks the protocol itself, as a client with a bug would.
  RawClient b(server.port(), "B");
  auto& ws = b.io.waitScope;
  auto& session = b.session;
  auto grant = session.grantIdsRequest();
  grant.setTree("parts");
  grant.setCount(10);
  auto range = grant.send().wait(ws);
  std::uint64_t id = range.getStart();

  auto push = [&](std::uint64_t at, const std::vector<capnp::word>& value) {
    auto response = b.pushCreate(at, value).send().wait(ws);
    auto outcome = response.getOutcomes()[0];
    return std::pair(outcome.getSequence(), std::string(outcome.getError().cStr()));
  };
  auto [badSequence, badError] = push(id, poisoned);
  CHECK(badSequence == 0);
  CHECK_THAT(badError, Catch::Contains("field 'number'") && Catch::Contains("parts("));
  auto [goodSequence, goodError] = push(id + 1, good);
  CHECK(goodError.empty());
  CHECK(goodSequence > 0);

  // A follows the log: it has the good part, not the poisoned one, and
  // nothing waits in its quarantine.
  REQUIRE(a.sync(10s));
  CHECK(partIn(a.db(), {id + 1, 0}));
  CHECK_FALSE(partIn(a.db(), {id, 0}));
  CHECK(a.status().quarantined == 0);
  CHECK(a.status().lastApplied == goodSequence);
}

TEST_CASE(
    "a push that names more records than a call may is refused at once, and the server goes on",
    "[integration][poison]") {
  TempDir dir;
  auto config = writeServerConfig(dir.sub("server.json"));
  ServerProcess server(dir.sub("server"), config);
  RawClient b(server.port(), "B");
  auto& ws = b.io.waitScope;
  // 100,000 empty items: a message of a few hundred kilobytes.
  auto request = b.session.pushRequest();
  request.initItems(100000);
  std::string refusal;
  try {
    request.send().wait(ws);
  } catch (const kj::Exception& e) {
    refusal = e.getDescription().cStr();
  }
  CHECK_THAT(refusal, Catch::Contains("100000 records") && Catch::Contains("at most 8192"));
  // The same session is served after it.
  auto grant = b.session.grantIdsRequest();
  grant.setTree("parts");
  grant.setCount(10);
  CHECK(grant.send().wait(ws).getEnd() > 0);
  hills::Client a(dir.sub("A"), clientOptions("A", server.address()));
  CHECK(a.waitConnected(10s));
}
