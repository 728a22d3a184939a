// Runs a filter over a whole tree on a thread of its own, in short read
// transactions, with progress and cancel, so a large tree does not freeze
// the window (and a writer is never held back by one long snapshot).
#pragma once

#include <QObject>

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "filter.h"
#include "hills/database.h"
#include "record_table_model.h"

namespace hills::viewer {

// The keys of the records of `tree` that `filter` matches, in key order.
// Reads `chunk` records per read transaction. Stops early, returning what
// it found so far, when `cancel` becomes true; counts the records read in
// `progress` and those that do not decode (which match nothing) in
// `undecodable`. Throws Error(kUnknownTree).
std::vector<RowKey> matching(const Database& db, const std::string& tree, const Filter& filter,
                             const std::atomic<bool>* cancel = nullptr,
                             std::atomic<std::uint64_t>* progress = nullptr,
                             std::uint64_t* undecodable = nullptr, std::size_t chunk = 8192);

class FilterRun : public QObject {
  Q_OBJECT

 public:
  // Starts at once. `db` must outlive the run.
  FilterRun(const Database& db, std::string tree, Filter filter, QObject* parent = nullptr);
  // Cancels and waits for the thread.
  ~FilterRun() override;

  void cancel() { cancel_ = true; }
  std::uint64_t done() const { return progress_; }
  std::uint64_t total() const { return total_; }

 signals:
  // On the thread that made the run. `error` is empty unless the run failed.
  void finished(std::shared_ptr<const std::vector<RowKey>> keys, quint64 undecodable,
                bool cancelled, QString error);

 private:
  std::atomic<bool> cancel_{false};
  std::atomic<std::uint64_t> progress_{0};
  std::uint64_t total_ = 0;
  std::thread thread_;
};

}  // namespace hills::viewer
