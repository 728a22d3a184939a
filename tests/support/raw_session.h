// A client that speaks the sync protocol itself, as a client with a bug
// (or a stranger) would, and record values made for it.
#pragma once

#include <capnp/any.h>
#include <capnp/rpc-twoparty.h>
#include <kj/async-io.h>

#include <catch2/catch.hpp>
#include <functional>
#include <string>
#include <vector>

#include "hills/protocol.h"
#include "hills/record.capnp.h"
#include "hills/schema.h"
#include "hills/sync.capnp.h"
#include "plm_fixtures.h"

namespace hills::test {

// A part as client `author` stores it, with `edit` applied to its body.
inline std::vector<capnp::word> partValue(
    const std::string& dir, const std::string& author, int n,
    const std::function<void(capnp::AnyStruct::Builder)>& edit) {
  auto options = plmOptions();
  options.author = author;
  hills::Database db(dir, options);
  std::vector<capnp::word> words;
  db.write([&](hills::WriteTxn& txn) {
    auto key = txn.tree<plm::Part>().create(makePart(n));
    auto v = txn.tree("parts").find(key.id, 0).value();
    words.assign(v.begin(), v.end());
  });
  hills::detail::ValueReader reader(kj::ArrayPtr<const capnp::word>(words.data(), words.size()));
  capnp::MallocMessageBuilder builder(static_cast<uint>(words.size() * 2 + 256));
  builder.setRoot(reader.getRoot<hills::wire::Envelope>());
  edit(builder.getRoot<hills::wire::Envelope>().getBody().getAs<capnp::AnyStruct>());
  auto segments = builder.getSegmentsForOutput();
  REQUIRE(segments.size() == 1);
  return {segments[0].begin(), segments[0].end()};
}

// A client that says hello itself and then makes raw calls.
struct RawClient {
  RawClient(unsigned port, const std::string& name)
      : io(kj::setupAsyncIo()),
        stream(io.provider->getNetwork()
                   .parseAddress("127.0.0.1", port)
                   .wait(io.waitScope)
                   ->connect()
                   .wait(io.waitScope)),
        rpc(*stream),
        session(nullptr) {
    auto gate = rpc.bootstrap().castAs<hills::sync::Gate>();
    auto hello = gate.helloRequest();
    auto h = hello.initHello();
    h.setClient(name);
    h.setToken(name + "-token");
    h.setProtocol(hills::sync::PROTOCOL_VERSION);
    auto types = hills::treeTypes<plm::Part, plm::Bom, plm::StockItem>();
    auto schemas = h.initSchemas(static_cast<unsigned>(types.size()));
    for (unsigned i = 0; i < types.size(); ++i) hills::writeTreeSchema(types[i], schemas[i]);
    session = hello.send().wait(io.waitScope).getSession();
  }
  // A push of one create: `value` stored as record `id` of parts.
  capnp::Request<hills::sync::Session::PushParams, hills::sync::Session::PushResults> pushCreate(
      std::uint64_t id, const std::vector<capnp::word>& value) {
    auto request = session.pushRequest();
    auto item = request.initItems(1)[0];
    item.initKey().setTree("parts");
    item.getKey().setId(id);
    item.setCreate(kj::arrayPtr(value.data(), value.size()).asBytes());
    return request;
  }

  kj::AsyncIoContext io;
  kj::Own<kj::AsyncIoStream> stream;
  capnp::TwoPartyClient rpc;
  hills::sync::Session::Client session;
};

}  // namespace hills::test
