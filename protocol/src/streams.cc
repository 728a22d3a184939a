#include "hills/streams.h"

#include <algorithm>
#include <cstring>

namespace hills::protocol {

namespace {

class BufferedStream final : public kj::AsyncIoStream {
 public:
  explicit BufferedStream(kj::Own<kj::AsyncIoStream> inner)
      : inner_(kj::mv(inner)), buffer_(kj::heapArray<kj::byte>(kReadBuffer)) {}

  kj::Promise<std::size_t> tryRead(void* buffer, std::size_t minBytes,
                                   std::size_t maxBytes) override {
    auto* out = static_cast<kj::byte*>(buffer);
    std::size_t taken = take(out, maxBytes);
    if (taken >= minBytes) return taken;
    // The buffer is empty now: fill it, or read a large request in place.
    out += taken;
    minBytes -= taken;
    maxBytes -= taken;
    if (maxBytes >= buffer_.size()) {
      return inner_->tryRead(out, minBytes, maxBytes).then([taken](std::size_t n) {
        return taken + n;
      });
    }
    return inner_->tryRead(buffer_.begin(), minBytes, buffer_.size())
        .then([this, out, maxBytes, taken](std::size_t n) {
          // Fewer than minBytes is the end of the stream: the caller sees
          // what there was.
          begin_ = 0;
          end_ = n;
          return taken + take(out, maxBytes);
        });
  }

  kj::Promise<void> write(const void* buffer, std::size_t size) override {
    return inner_->write(buffer, size);
  }
  kj::Promise<void> write(kj::ArrayPtr<const kj::ArrayPtr<const kj::byte>> pieces) override {
    return inner_->write(pieces);
  }
  kj::Promise<void> whenWriteDisconnected() override { return inner_->whenWriteDisconnected(); }
  void shutdownWrite() override { inner_->shutdownWrite(); }
  void abortRead() override { inner_->abortRead(); }
  void getsockopt(int level, int option, void* value, kj::uint* length) override {
    inner_->getsockopt(level, option, value, length);
  }
  void setsockopt(int level, int option, const void* value, kj::uint length) override {
    inner_->setsockopt(level, option, value, length);
  }
  void getsockname(struct sockaddr* addr, kj::uint* length) override {
    inner_->getsockname(addr, length);
  }
  void getpeername(struct sockaddr* addr, kj::uint* length) override {
    inner_->getpeername(addr, length);
  }
  // Not while the buffer holds bytes: whoever read the descriptor itself
  // would miss them.
  kj::Maybe<int> getFd() const override {
    if (begin_ != end_) return nullptr;
    return inner_->getFd();
  }

 private:
  // Copies what the buffer holds to `out`, at most `max` bytes.
  std::size_t take(kj::byte* out, std::size_t max) {
    std::size_t n = std::min(max, end_ - begin_);
    if (n > 0) std::memcpy(out, buffer_.begin() + begin_, n);
    begin_ += n;
    return n;
  }

  kj::Own<kj::AsyncIoStream> inner_;
  kj::Array<kj::byte> buffer_;
  std::size_t begin_ = 0;  // the unread bytes are [begin_, end_)
  std::size_t end_ = 0;
};

}  // namespace

kj::Own<kj::AsyncIoStream> bufferReads(kj::Own<kj::AsyncIoStream> inner) {
  return kj::heap<BufferedStream>(kj::mv(inner));
}

kj::Promise<void> WriteBatcher::writeMessage(
    kj::ArrayPtr<const int> fds, kj::ArrayPtr<const kj::ArrayPtr<const capnp::word>> segments) {
  KJ_REQUIRE(fds.size() == 0, "the sync protocol sends no file descriptors");
  KJ_IF_MAYBE (e, failure_) {
    return kj::cp(*e);
  }
  std::size_t words = 0;
  for (auto segment : segments) words += segment.size();
  if (words * sizeof(capnp::word) >= kDirectBytes) {
    // The caller keeps `segments` until this resolves, and writes nothing
    // else meanwhile (Cap'n Proto's network waits for each write).
    if (!scheduled_) return writeDirect(segments);
    return whenWritten().then([this, segments] { return writeDirect(segments); });
  }
  gather(segments);
  schedule();
  if (gatheredBytes_ < kGatheredBytes) return kj::READY_NOW;
  return whenWritten();
}

kj::Promise<void> WriteBatcher::writeMessages(
    kj::ArrayPtr<kj::ArrayPtr<const kj::ArrayPtr<const capnp::word>>> messages) {
  KJ_IF_MAYBE (e, failure_) {
    return kj::cp(*e);
  }
  for (auto segments : messages) gather(segments);
  schedule();
  if (gatheredBytes_ < kGatheredBytes) return kj::READY_NOW;
  return whenWritten();
}

kj::Promise<void> WriteBatcher::end() {
  KJ_IF_MAYBE (e, failure_) {
    return kj::cp(*e);
  }
  if (!scheduled_) return inner_.end();
  return whenWritten().then([this] { return inner_.end(); });
}

void WriteBatcher::gather(kj::ArrayPtr<const kj::ArrayPtr<const capnp::word>> segments) {
  std::size_t words = 0;
  for (auto segment : segments) words += segment.size();
  Gathered message{kj::heapArray<capnp::word>(words),
                   kj::heapArray<kj::ArrayPtr<const capnp::word>>(segments.size())};
  std::size_t at = 0;
  for (std::size_t i = 0; i < segments.size(); ++i) {
    std::memcpy(message.words.begin() + at, segments[i].begin(),
                segments[i].size() * sizeof(capnp::word));
    message.segments[i] = message.words.slice(at, at + segments[i].size());
    at += segments[i].size();
  }
  gatheredBytes_ += words * sizeof(capnp::word);
  gathered_.add(kj::mv(message));
}

kj::Promise<void> WriteBatcher::whenWritten() {
  auto paf = kj::newPromiseAndFulfiller<void>();
  waiting_.add(kj::mv(paf.fulfiller));
  return kj::mv(paf.promise);
}

void WriteBatcher::schedule() {
  if (scheduled_) return;
  scheduled_ = true;
  tasks_.add(kj::evalLast([this] { return flush(); }));
}

kj::Promise<void> WriteBatcher::flush() {
  auto batch = kj::mv(gathered_);
  gathered_ = {};
  gatheredBytes_ = 0;
  auto waiting = kj::mv(waiting_);
  waiting_ = {};
  auto messages =
      kj::heapArray<kj::ArrayPtr<const kj::ArrayPtr<const capnp::word>>>(batch.size());
  for (std::size_t i = 0; i < batch.size(); ++i) messages[i] = batch[i].segments;
  kj::Promise<void> done = kj::READY_NOW;
  // evalNow: a write that fails at once may throw rather than reject.
  if (messages.size() > 0) done = kj::evalNow([&] { return inner_.writeMessages(messages); });
  return done.attach(kj::mv(batch), kj::mv(messages))
      .then([]() -> kj::Maybe<kj::Exception> { return nullptr; },
            [](kj::Exception&& e) -> kj::Maybe<kj::Exception> { return kj::mv(e); })
      .then([this, waiting = kj::mv(waiting)](kj::Maybe<kj::Exception> failure) mutable {
        written(kj::mv(failure), kj::mv(waiting));
      });
}

kj::Promise<void> WriteBatcher::writeDirect(
    kj::ArrayPtr<const kj::ArrayPtr<const capnp::word>> segments) {
  KJ_IF_MAYBE (e, failure_) {
    return kj::cp(*e);
  }
  scheduled_ = true;  // what is written meanwhile gathers behind it
  return kj::evalNow([&] { return inner_.writeMessage(nullptr, segments); })
      .then([]() -> kj::Maybe<kj::Exception> { return nullptr; },
            [](kj::Exception&& e) -> kj::Maybe<kj::Exception> { return kj::mv(e); })
      .then([this](kj::Maybe<kj::Exception> failure) -> kj::Promise<void> {
        kj::Maybe<kj::Exception> copy;
        KJ_IF_MAYBE (e, failure) {
          copy = kj::cp(*e);
        }
        written(kj::mv(failure), {});
        KJ_IF_MAYBE (e, copy) {
          return kj::mv(*e);
        }
        return kj::READY_NOW;
      });
}

void WriteBatcher::written(kj::Maybe<kj::Exception> failure,
                           kj::Vector<kj::Own<kj::PromiseFulfiller<void>>> waiting) {
  KJ_IF_MAYBE (e, failure) {
    // Nothing more is written: whoever waits, or writes later, hears why.
    for (auto& w : waiting) w->reject(kj::cp(*e));
    for (auto& w : waiting_) w->reject(kj::cp(*e));
    waiting_.clear();
    gathered_.clear();
    failure_ = kj::mv(*e);
    return;
  }
  for (auto& w : waiting) w->fulfill();
  scheduled_ = false;
  if (!gathered_.empty() || !waiting_.empty()) schedule();
}

void WriteBatcher::taskFailed(kj::Exception&& exception) {
  // flush() hands its failures on itself; this is what evalLast threw.
  if (failure_ == nullptr) failure_ = kj::mv(exception);
}

}  // namespace hills::protocol
