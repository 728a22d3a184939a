// What the sides of a sync connection put between Cap'n Proto RPC and the
// socket, so that a message costs as few system calls as it can.
//
// Reads: Cap'n Proto reads a message in two reads (its segment table, then
// its segments), and each is a system call on a bare socket. bufferReads()
// takes whatever the socket holds, up to kReadBuffer bytes, in one call, so
// a message, or several that arrived together, cost one.
//
// Writes: the RPC system of Cap'n Proto 0.9 writes each message with a
// system call of its own, one after the other. A server that sends a change
// to a thousand replicas sends each the change and, right behind it, the
// Finish of the change before. WriteBatcher gathers the small messages one
// connection writes while the event loop has other work queued and writes
// them with one call when the loop is about to wait. The server writes
// through it; a replica does not (its requests must leave at once).
#pragma once

#include <capnp/serialize-async.h>
#include <kj/async-io.h>
#include <kj/vector.h>

#include <cstddef>

namespace hills::protocol {

// What one read from the socket takes at most.
inline constexpr std::size_t kReadBuffer = 4096;

// `inner` with its reads buffered; writes and everything else go straight
// to `inner`. Reads of kReadBuffer bytes or more bypass the buffer. Like
// any kj stream, one read at a time; the stream must outlive its promises.
kj::Own<kj::AsyncIoStream> bufferReads(kj::Own<kj::AsyncIoStream> inner);

// A MessageStream whose small writes are gathered: writeMessage() copies a
// message under kDirectBytes and returns at once, and the gathered messages
// are written to `inner` together once the event loop has nothing else
// queued (kj's evalLast). Past kGatheredBytes not yet written,
// writeMessage() waits for the write, so a peer that reads nothing holds at
// most that much here. A larger message (a batch of many changes, a part
// of a snapshot) is not copied: it is written as it is, after what was
// gathered before it, and writeMessage() returns when it is written. Once
// a write fails, every later writeMessage() fails with its exception.
// Reads go straight to `inner`. No file descriptors (the sync protocol
// sends none). Like Cap'n Proto's two-party network, a caller writes a
// message only once the promise of the one before has resolved, and keeps
// a large message's segments until its promise resolves; it does not drop
// that promise. `inner` must outlive this; destroying this cancels a write
// not yet done.
class WriteBatcher final : public capnp::MessageStream, private kj::TaskSet::ErrorHandler {
 public:
  static constexpr std::size_t kDirectBytes = 16 * 1024;
  static constexpr std::size_t kGatheredBytes = 64 * 1024;

  explicit WriteBatcher(capnp::MessageStream& inner) : inner_(inner), tasks_(*this) {}

  kj::Promise<kj::Maybe<capnp::MessageReaderAndFds>> tryReadMessage(
      kj::ArrayPtr<kj::AutoCloseFd> fdSpace, capnp::ReaderOptions options,
      kj::ArrayPtr<capnp::word> scratchSpace) override {
    return inner_.tryReadMessage(fdSpace, options, scratchSpace);
  }
  kj::Promise<void> writeMessage(
      kj::ArrayPtr<const int> fds,
      kj::ArrayPtr<const kj::ArrayPtr<const capnp::word>> segments) override;
  kj::Promise<void> writeMessages(
      kj::ArrayPtr<kj::ArrayPtr<const kj::ArrayPtr<const capnp::word>>> messages) override;
  kj::Maybe<int> getSendBufferSize() override { return inner_.getSendBufferSize(); }
  // Writes what is gathered, then ends the write side of `inner`.
  kj::Promise<void> end() override;

 private:
  // One message, copied: its segments side by side in `words`.
  struct Gathered {
    kj::Array<capnp::word> words;
    kj::Array<kj::ArrayPtr<const capnp::word>> segments;
  };

  void gather(kj::ArrayPtr<const kj::ArrayPtr<const capnp::word>> segments);
  // The promise for the write of what is gathered now.
  kj::Promise<void> whenWritten();
  void schedule();
  kj::Promise<void> flush();
  // Writes a large message as it is, once nothing is being written.
  kj::Promise<void> writeDirect(kj::ArrayPtr<const kj::ArrayPtr<const capnp::word>> segments);
  // What every write ends with: the waiters told, the next write scheduled,
  // or the failure kept.
  void written(kj::Maybe<kj::Exception> failure,
               kj::Vector<kj::Own<kj::PromiseFulfiller<void>>> waiting);
  void taskFailed(kj::Exception&& exception) override;

  capnp::MessageStream& inner_;
  kj::Vector<Gathered> gathered_;
  std::size_t gatheredBytes_ = 0;
  // Who waits for the gathered messages to be written.
  kj::Vector<kj::Own<kj::PromiseFulfiller<void>>> waiting_;
  bool scheduled_ = false;  // a flush is queued, or a write is under way
  kj::Maybe<kj::Exception> failure_;
  kj::TaskSet tasks_;  // last: destroyed first, while the rest is still here
};

}  // namespace hills::protocol
