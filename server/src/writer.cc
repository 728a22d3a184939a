#include "writer.h"

#include <optional>

#include "hills/protocol.h"

namespace hills::server {

Writer::Writer(Database& db) : db_(db), thread_([this] { loop(); }) {}

Writer::~Writer() {
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

kj::Promise<std::uint64_t> Writer::run(std::vector<kj::Function<void(WriteTxn&)>> batch) {
  auto paf = kj::newPromiseAndCrossThreadFulfiller<std::uint64_t>();
  {
    std::lock_guard lock(mutex_);
    KJ_REQUIRE(!done_, "one batch at a time");
    batch_ = std::move(batch);
    done_ = kj::mv(paf.fulfiller);
  }
  wake_.notify_all();
  return kj::mv(paf.promise);
}

void Writer::loop() {
  for (;;) {
    std::vector<kj::Function<void(WriteTxn&)>> batch;
    {
      std::unique_lock lock(mutex_);
      // A batch handed over before the stop still commits.
      wake_.wait(lock, [&] { return stop_ || done_; });
      if (!done_) return;
      batch = std::move(batch_);
    }
    std::optional<kj::Exception> failure;
    std::uint64_t last = 0;
    try {
      last = db_.write([&](WriteTxn& txn) {
        for (auto& fn : batch) fn(txn);
        return txn.lastSequence();
      });
    } catch (const Error& e) {
      failure.emplace(protocol::toException(e));
    } catch (const kj::Exception& e) {
      failure.emplace(kj::cp(e));
    } catch (const std::exception& e) {
      failure.emplace(KJ_EXCEPTION(FAILED, "the commit failed", e.what()));
    } catch (...) {
      failure.emplace(KJ_EXCEPTION(FAILED, "the commit failed"));
    }
    batch.clear();
    kj::Own<const kj::CrossThreadPromiseFulfiller<std::uint64_t>> done;
    {
      std::lock_guard lock(mutex_);
      done = kj::mv(done_);
    }
    if (failure) {
      done->reject(kj::mv(*failure));
    } else {
      done->fulfill(kj::mv(last));
    }
  }
}

}  // namespace hills::server
