// Fuzz target: the sync server's RPC methods, in process. A SyncServer
// serves a database on one end of in-memory pipes; this program is its
// client. Byte 0 picks the method: 0 is Gate.hello on a new connection,
// the others the methods of the Session a valid hello opened. The rest of
// the input is read as that method's parameters (a Cap'n Proto message)
// and sent as they are. The server must answer or refuse each call within
// a few seconds, and must still take a valid hello afterwards.
//
// Every connection here comes from one source, so a failed hello delays the
// next hello of every connection (server::Sources): the delays are made
// short, and a call may take the longest of them on top of the bound.
#include <capnp/rpc-twoparty.h>
#include <capnp/serialize.h>
#include <kj/async-io.h>

#include <chrono>
#include <deque>

#include "fuzz_support.h"
#include "hills/server.h"
#include "hills/sync.capnp.h"
#include "plm_fixtures.h"

namespace {

using hills::sync::Gate;
using hills::sync::Session;

constexpr std::uint16_t kSessionMethods = 12;  // grantIds @0 .. claimIds @11
constexpr std::chrono::milliseconds kHelloDelay{1}, kHelloDelayMax{50};
constexpr auto kCallTimeout = 10 * kj::SECONDS + kHelloDelayMax.count() * kj::MILLISECONDS;

// Hands the server its ends of the pipes this program connects with.
class PipeReceiver final : public kj::ConnectionReceiver {
 public:
  kj::Promise<kj::Own<kj::AsyncIoStream>> accept() override {
    if (!ready_.empty()) {
      auto stream = kj::mv(ready_.front());
      ready_.pop_front();
      return kj::mv(stream);
    }
    auto paf = kj::newPromiseAndFulfiller<kj::Own<kj::AsyncIoStream>>();
    waiting_ = kj::mv(paf.fulfiller);
    return kj::mv(paf.promise);
  }
  uint getPort() override { return 0; }

  void connect(kj::Own<kj::AsyncIoStream> stream) {
    KJ_IF_MAYBE (w, waiting_) {
      auto fulfiller = kj::mv(*w);
      waiting_ = nullptr;
      fulfiller->fulfill(kj::mv(stream));
    } else {
      ready_.push_back(kj::mv(stream));
    }
  }

 private:
  std::deque<kj::Own<kj::AsyncIoStream>> ready_;
  kj::Maybe<kj::Own<kj::PromiseFulfiller<kj::Own<kj::AsyncIoStream>>>> waiting_;
};

// One connection to the server, as a client makes it.
struct Connection {
  explicit Connection(PipeReceiver& receiver) {
    auto pipe = kj::newTwoWayPipe();
    receiver.connect(kj::mv(pipe.ends[1]));
    stream = kj::mv(pipe.ends[0]);
    rpc = kj::heap<capnp::TwoPartyClient>(*stream);
    gate = rpc->bootstrap().castAs<Gate>();
  }
  kj::Own<kj::AsyncIoStream> stream;
  kj::Own<capnp::TwoPartyClient> rpc;
  Gate::Client gate = nullptr;
};

hills::ServerConfig serverConfig() {
  hills::ServerConfig config;
  config.plaintext = true;  // in process, over pipes
  config.clients.push_back({"fuzz", "fuzz-token", true, true, true, {}});
  config.clients.push_back({"reader", "reader-token", true, false, false, {}});
  config.helloDelay = kHelloDelay;
  config.helloDelayMax = kHelloDelayMax;
  return config;
}

hills::Options serverOptions() {
  auto o = hills::serverDatabaseOptions();
  o.trees = hills::test::plmOptions().trees;
  o.durable = false;
  return o;
}

struct Fixture {
  Fixture()
      : io(kj::setupAsyncIo()),
        db(hills::fuzz::scratch().sub("rpc"), serverOptions()),
        server(db, serverConfig(), io.provider->getTimer(), [](std::string_view) {}) {
    db.write([](hills::WriteTxn& txn) {
      for (int i = 1; i <= 3; ++i) txn.tree<plm::Part>().create(hills::test::makePart(i));
    });
    listening = server.listen(receiver).eagerlyEvaluate(
        [](kj::Exception&& e) { hills::fuzz::fail(e.getDescription().cStr()); });
  }

  // Waits for a call's answer; a call the server leaves unanswered is a
  // finding. Returns the exception the call failed with, if any.
  kj::Maybe<kj::Exception> wait(kj::Promise<void> call, const char* what) {
    kj::Maybe<kj::Exception> failure;
    auto answered = call.then([]() { return true; },
                              [&failure](kj::Exception&& e) {
                                failure = kj::mv(e);
                                return true;
                              });
    auto timedOut = io.provider->getTimer().afterDelay(kCallTimeout).then([] { return false; });
    if (!answered.exclusiveJoin(kj::mv(timedOut)).wait(io.waitScope)) {
      hills::fuzz::fail(std::string("the server left ") + what + " unanswered");
    }
    return failure;
  }

  // The session of a valid hello, on a connection of its own (a new one
  // after the server closed the last).
  Session::Client session() {
    KJ_IF_MAYBE (s, session_) return *s;
    sessionConnection_ = kj::heap<Connection>(receiver);
    auto request = sessionConnection_->gate.helloRequest();
    auto hello = request.initHello();
    hello.setClient("fuzz");
    hello.setToken("fuzz-token");
    hello.setProtocol(hills::sync::PROTOCOL_VERSION);
    Session::Client opened = nullptr;
    auto failure = wait(request.send().then([&opened](auto&& response) {
      opened = response.getSession();
    }),
                        "a valid hello");
    KJ_IF_MAYBE (e, failure) {
      hills::fuzz::fail(std::string("the server refused a valid hello: ") +
                        e->getDescription().cStr());
    }
    session_ = opened;
    return opened;
  }
  void dropSession() {
    session_ = nullptr;
    sessionConnection_ = nullptr;
  }

  kj::AsyncIoContext io;
  hills::Database db;
  hills::SyncServer server;
  PipeReceiver receiver;
  kj::Promise<void> listening = nullptr;
  kj::Maybe<Session::Client> session_;
  kj::Own<Connection> sessionConnection_;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static Fixture& fixture = *new Fixture;  // outlives the exit of the process
  if (size < 1) return 0;
  std::uint16_t method = data[0] % (kSessionMethods + 1);
  auto words = hills::fuzz::wordsOf(data + 1, size - 1);

  kj::Own<Connection> fresh;
  capnp::Capability::Client target = nullptr;
  std::uint64_t interface = 0;
  std::uint16_t methodId = 0;
  if (method == 0) {
    fresh = kj::heap<Connection>(fixture.receiver);
    target = fresh->gate;
    interface = capnp::typeId<Gate>();
  } else {
    target = fixture.session();
    interface = capnp::typeId<Session>();
    methodId = static_cast<std::uint16_t>(method - 1);
  }
  auto request = target.typelessRequest(interface, methodId, nullptr);
  try {
    // Parameters that do not even decode here never reach the server.
    capnp::FlatArrayMessageReader message(kj::ArrayPtr<const capnp::word>(words.data(), words.size()));
    request.set(message.getRoot<capnp::AnyPointer>());
  } catch (const kj::Exception&) {
    return 0;
  }
  auto failure = fixture.wait(request.send().ignoreResult(), "a call");
  KJ_IF_MAYBE (e, failure) {
    // A refusal; a closed connection is one too, and the next session is
    // opened on a new one.
    if (method != 0 && e->getType() == kj::Exception::Type::DISCONNECTED) fixture.dropSession();
  }
  fresh = nullptr;
  // Whatever the call did, the server still takes a valid hello.
  fixture.session();
  return 0;
}
