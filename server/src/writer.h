// The server's write transactions, on a thread of their own: the event loop
// goes on reading requests while a commit waits for the disk, and what
// arrives meanwhile forms the next batch.
#pragma once

#include <kj/async.h>
#include <kj/function.h>

#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#include "hills/database.h"

namespace hills::server {

class Writer {
 public:
  explicit Writer(Database& db);
  // Waits for the batch in flight to commit.
  ~Writer();
  Writer(const Writer&) = delete;
  Writer& operator=(const Writer&) = delete;

  // Called on the event loop's thread, one batch at a time: runs every
  // function of `batch` in one durable write transaction on the writer
  // thread. Resolves, on the calling thread, with the newest change-log
  // sequence after the commit; rejects with the transaction's Error (as the
  // kj::Exception protocol::toError reads back). The functions must touch
  // only what no other thread changes meanwhile (copies of request data).
  kj::Promise<std::uint64_t> run(std::vector<kj::Function<void(WriteTxn&)>> batch);

 private:
  void loop();

  Database& db_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stop_ = false;
  std::vector<kj::Function<void(WriteTxn&)>> batch_;
  kj::Own<const kj::CrossThreadPromiseFulfiller<std::uint64_t>> done_;
  std::thread thread_;
};

}  // namespace hills::server
