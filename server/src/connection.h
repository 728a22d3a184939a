// One client connection of the sync server: its socket, the limits its
// messages are read with, and its RPC system.
#pragma once

#include <capnp/rpc-twoparty.h>
#include <capnp/serialize-async.h>
#include <kj/async-io.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "hills/streams.h"
#include "hills/server.h"

namespace hills::server {

// Until a connection has said a valid hello it may send only small, shallow
// messages; after, messages are bounded still.
constexpr std::uint64_t kHelloWords = 32 * 1024;  // 256 KiB
constexpr unsigned kHelloNesting = 16;
constexpr std::uint64_t kSessionWords = 8 * 1024 * 1024;  // 64 MiB
constexpr unsigned kSessionNesting = 32;

// What is known of one connection: who it is and what it is doing. Its
// gate, its session and their calls share it with the Connection rather
// than refer to the Connection: capnp lets a call its caller may not cancel
// run to its end, after the connection is closed and destroyed.
struct ConnectionState {
  ConnectionState(std::string peerName, std::string sourceName)
      : peer(std::move(peerName)), source(std::move(sourceName)) {}

  std::uint64_t id = 0;  // tells a connection apart from a later one at the same address
  std::string peer;      // "127.0.0.1:40112"
  std::string source;    // "127.0.0.1": what per-source limits count
  std::string client;    // the name it said hello with; empty before
  bool authenticated = false;
  std::string failure;  // why reading its messages failed
  unsigned helloFailures = 0;
  bool helloPending = false;     // a hello waits for its answer
  std::uint64_t callWords = 0;   // words of pushes not yet answered
  // The accounts of the sessions its hellos opened (one, unless it said
  // hello again). A reload changes their permissions in place (a session
  // reads them at each call); never a name or a token (a session whose
  // token changed is closed).
  std::vector<std::shared_ptr<ClientAccount>> sessions;
};

// Reads a connection's messages with the limits of its state, and records
// why reading failed (a malformed or oversized message), for the log.
class GuardedStream final : public capnp::MessageStream {
 public:
  GuardedStream(kj::AsyncIoStream& stream, ConnectionState& conn) : inner_(stream), conn_(conn) {}

  kj::Promise<kj::Maybe<capnp::MessageReaderAndFds>> tryReadMessage(
      kj::ArrayPtr<kj::AutoCloseFd> fdSpace, capnp::ReaderOptions options,
      kj::ArrayPtr<capnp::word> scratchSpace) override;
  kj::Promise<void> writeMessage(
      kj::ArrayPtr<const int> fds,
      kj::ArrayPtr<const kj::ArrayPtr<const capnp::word>> segments) override {
    return inner_.writeMessage(fds, segments);
  }
  kj::Promise<void> writeMessages(
      kj::ArrayPtr<kj::ArrayPtr<const kj::ArrayPtr<const capnp::word>>> messages) override {
    return inner_.writeMessages(messages);
  }
  kj::Maybe<int> getSendBufferSize() override { return inner_.getSendBufferSize(); }
  kj::Promise<void> end() override { return inner_.end(); }

 private:
  capnp::AsyncIoMessageStream inner_;
  ConnectionState& conn_;
};

// A connection: its socket and its RPC system. Destroying it closes both.
struct Connection {
  Connection(kj::Own<kj::AsyncIoStream> socket, std::shared_ptr<ConnectionState> connState)
      : state(std::move(connState)),
        stream(protocol::bufferReads(kj::mv(socket))),
        messages(*stream, *state),
        writes(messages),
        network(writes, capnp::rpc::twoparty::Side::SERVER) {}

  std::shared_ptr<ConnectionState> state;
  kj::Own<kj::AsyncIoStream> stream;
  GuardedStream messages;
  protocol::WriteBatcher writes;
  capnp::TwoPartyVatNetwork network;
  kj::Maybe<capnp::RpcSystem<capnp::rpc::twoparty::VatId>> rpc;
};

}  // namespace hills::server
