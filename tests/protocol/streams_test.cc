// The streams both sides of a sync connection read and write through:
// buffered reads and gathered writes, over a real socket pair.
#include "hills/streams.h"

#include <capnp/message.h>
#include <capnp/serialize.h>
#include <capnp/serialize-async.h>
#include <kj/async-io.h>

#include <catch2/catch.hpp>
#include <string>

#include "hills/sync.capnp.h"

namespace protocol = hills::protocol;

namespace {

// One end of a socket pair that counts the calls made on it, and can hold
// its writes back or fail them.
class WatchedStream final : public kj::AsyncIoStream {
 public:
  explicit WatchedStream(kj::AsyncIoStream& inner) : inner_(inner) {}

  kj::Promise<std::size_t> tryRead(void* buffer, std::size_t minBytes,
                                   std::size_t maxBytes) override {
    ++reads;
    return inner_.tryRead(buffer, minBytes, maxBytes);
  }
  kj::Promise<void> write(const void* buffer, std::size_t size) override {
    ++writes;
    return inner_.write(buffer, size);
  }
  kj::Promise<void> write(kj::ArrayPtr<const kj::ArrayPtr<const kj::byte>> pieces) override {
    ++writes;
    if (!failWith.empty()) return KJ_EXCEPTION(DISCONNECTED, failWith);
    auto written = inner_.write(pieces);
    if (!holdWrites) return written;
    auto paf = kj::newPromiseAndFulfiller<void>();
    held = kj::mv(paf.fulfiller);
    return written.then([promise = kj::mv(paf.promise)]() mutable { return kj::mv(promise); });
  }
  kj::Promise<void> whenWriteDisconnected() override { return inner_.whenWriteDisconnected(); }
  void shutdownWrite() override { inner_.shutdownWrite(); }

  int reads = 0;
  int writes = 0;
  bool holdWrites = false;   // each write waits for `held` to be fulfilled
  std::string failWith;      // each write fails with this
  kj::Own<kj::PromiseFulfiller<void>> held;

 private:
  kj::AsyncIoStream& inner_;
};

// A change-log entry carrying `bytes` bytes of data.
kj::Own<capnp::MallocMessageBuilder> buildChange(std::size_t bytes, std::uint64_t sequence) {
  auto message = kj::heap<capnp::MallocMessageBuilder>();
  auto change = message->initRoot<hills::wire::Change>();
  change.setSequence(sequence);
  auto value = change.initValue(static_cast<unsigned>(bytes));
  for (std::size_t i = 0; i < bytes; ++i) value[i] = static_cast<kj::byte>(i * 7 + sequence);
  return message;
}

// The same as the bytes a stream carries.
kj::Array<capnp::word> changeWith(std::size_t bytes, std::uint64_t sequence) {
  return capnp::messageToFlatArray(*buildChange(bytes, sequence));
}

void checkChange(capnp::MessageReader& reader, std::size_t bytes, std::uint64_t sequence) {
  auto change = reader.getRoot<hills::wire::Change>();
  CHECK(change.getSequence() == sequence);
  auto value = change.getValue();
  REQUIRE(value.size() == bytes);
  bool same = true;
  for (std::size_t i = 0; i < bytes; ++i) {
    same = same && value[i] == static_cast<kj::byte>(i * 7 + sequence);
  }
  CHECK(same);
}

// A batcher writing to one end of a socket pair, and a reader of the other.
struct Batched {
  kj::AsyncIoContext io = kj::setupAsyncIo();
  kj::TwoWayPipe pipe = io.provider->newTwoWayPipe();
  WatchedStream watched{*pipe.ends[0]};
  capnp::AsyncIoMessageStream messages{watched};
  protocol::WriteBatcher batcher{messages};
  capnp::AsyncIoMessageStream other{*pipe.ends[1]};
};

}  // namespace

TEST_CASE("messages that arrived together are read with one read of the socket",
          "[protocol][streams]") {
  auto io = kj::setupAsyncIo();
  auto pipe = io.provider->newTwoWayPipe();
  std::string together;
  for (std::uint64_t s = 1; s <= 3; ++s) {
    auto flat = changeWith(40, s);
    together.append(reinterpret_cast<const char*>(flat.asBytes().begin()), flat.asBytes().size());
  }
  pipe.ends[0]->write(together.data(), together.size()).wait(io.waitScope);

  auto watched = kj::heap<WatchedStream>(*pipe.ends[1]);
  WatchedStream& counts = *watched;
  auto buffered = protocol::bufferReads(kj::mv(watched));
  for (std::uint64_t s = 1; s <= 3; ++s) {
    auto reader = capnp::readMessage(*buffered).wait(io.waitScope);
    checkChange(*reader, 40, s);
  }
  // Cap'n Proto asked six times (table, then segments, of each message).
  CHECK(counts.reads == 1);
}

TEST_CASE("a message larger than the read buffer is read whole", "[protocol][streams]") {
  auto io = kj::setupAsyncIo();
  auto pipe = io.provider->newTwoWayPipe();
  const std::size_t big = 10 * protocol::kReadBuffer + 3;
  auto flat = changeWith(big, 9);
  auto small = changeWith(8, 10);
  auto written = pipe.ends[0]
                     ->write(flat.asBytes().begin(), flat.asBytes().size())
                     .then([&] { return pipe.ends[0]->write(small.asBytes().begin(),
                                                            small.asBytes().size()); });
  auto buffered = protocol::bufferReads(kj::mv(pipe.ends[1]));
  auto reader = capnp::readMessage(*buffered).wait(io.waitScope);
  checkChange(*reader, big, 9);
  auto next = capnp::readMessage(*buffered).wait(io.waitScope);
  checkChange(*next, 8, 10);
  written.wait(io.waitScope);
}

TEST_CASE("a stream that ends inside a message is an error, not a wait",
          "[protocol][streams]") {
  auto io = kj::setupAsyncIo();
  auto pipe = io.provider->newTwoWayPipe();
  auto flat = changeWith(100, 1);
  pipe.ends[0]->write(flat.asBytes().begin(), flat.asBytes().size() / 2).wait(io.waitScope);
  pipe.ends[0]->shutdownWrite();
  auto buffered = protocol::bufferReads(kj::mv(pipe.ends[1]));
  CHECK_THROWS(capnp::readMessage(*buffered).wait(io.waitScope));
}

TEST_CASE("messages written in one turn of the event loop reach the socket in one write",
          "[protocol][streams]") {
  Batched b;
  std::vector<kj::Promise<void>> written;
  for (std::uint64_t s = 1; s <= 10; ++s) {
    // The message is copied: the builder may go.
    written.push_back(b.batcher.writeMessage(nullptr, buildChange(50, s)->getSegmentsForOutput()));
  }
  CHECK(b.watched.writes == 0);  // nothing until the event loop runs
  for (auto& w : written) CHECK(w.poll(b.io.waitScope));
  for (std::uint64_t s = 1; s <= 10; ++s) {
    auto reader = b.other.readMessage().wait(b.io.waitScope);
    checkChange(*reader, 50, s);
  }
  CHECK(b.watched.writes == 1);
}

TEST_CASE("a batcher holding more than its limit waits until the socket took it",
          "[protocol][streams]") {
  Batched b;
  b.watched.holdWrites = true;
  // Each small enough to be gathered; together more than the limit.
  const std::size_t bytes = protocol::WriteBatcher::kDirectBytes / 2;
  const int count = static_cast<int>(protocol::WriteBatcher::kGatheredBytes / bytes);
  auto message = buildChange(bytes, 1);
  auto segments = message->getSegmentsForOutput();
  // Below the limit, each write resolves at once.
  std::vector<kj::Promise<void>> below;
  for (int i = 0; i < count - 1; ++i) below.push_back(b.batcher.writeMessage(nullptr, segments));
  auto overLimit = b.batcher.writeMessage(nullptr, segments);
  CHECK_FALSE(overLimit.poll(b.io.waitScope));
  for (auto& w : below) CHECK(w.poll(b.io.waitScope));
  // The gathered messages went out in one write, which the socket holds.
  REQUIRE(b.watched.writes == 1);
  REQUIRE(b.watched.held.get() != nullptr);
  for (int i = 0; i < count; ++i) {
    auto reader = b.other.readMessage().wait(b.io.waitScope);
    checkChange(*reader, bytes, 1);
  }
  CHECK_FALSE(overLimit.poll(b.io.waitScope));
  b.watched.held->fulfill();
  CHECK(overLimit.poll(b.io.waitScope));
  overLimit.wait(b.io.waitScope);
}

TEST_CASE("a large message is written as it is, behind what was gathered before it",
          "[protocol][streams]") {
  Batched b;
  auto small = buildChange(100, 1);
  auto large = buildChange(4 * protocol::WriteBatcher::kDirectBytes, 2);
  auto after = buildChange(100, 3);
  auto first = b.batcher.writeMessage(nullptr, small->getSegmentsForOutput());
  // Not copied: resolved once written, which waits for the small one.
  auto second = b.batcher.writeMessage(nullptr, large->getSegmentsForOutput());
  CHECK(first.poll(b.io.waitScope));
  second.wait(b.io.waitScope);
  auto third = b.batcher.writeMessage(nullptr, after->getSegmentsForOutput());
  checkChange(*b.other.readMessage().wait(b.io.waitScope), 100, 1);
  checkChange(*b.other.readMessage().wait(b.io.waitScope), 4 * protocol::WriteBatcher::kDirectBytes, 2);
  checkChange(*b.other.readMessage().wait(b.io.waitScope), 100, 3);
  CHECK(third.poll(b.io.waitScope));
  CHECK(b.watched.writes == 3);  // the small one, the large one, the one after
}

TEST_CASE("after a write failed, every later write fails with its reason",
          "[protocol][streams]") {
  Batched b;
  b.watched.failWith = "the peer is gone";
  auto small = buildChange(8, 1);
  auto segments = small->getSegmentsForOutput();
  auto gathered = b.batcher.writeMessage(nullptr, segments);
  b.io.waitScope.poll();  // the loop writes it, and the write fails
  CHECK(b.watched.writes == 1);
  CHECK(gathered.poll(b.io.waitScope));  // it had been taken already
  try {
    b.batcher.writeMessage(nullptr, segments).wait(b.io.waitScope);
    FAIL("a write after the failure succeeded");
  } catch (const kj::Exception& e) {
    CHECK(std::string(e.getDescription().cStr()).find("the peer is gone") != std::string::npos);
  }
  CHECK(b.watched.writes == 1);
}
