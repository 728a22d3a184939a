// Snapshots: how a fresh replica starts. The server reads every tree and
// every borrow in one read transaction, on a thread of its own, into a
// spool file beside its database (DIR/snapshots/), in parts of about
// 1 MiB. A replica streams the parts at its own pace (Session.snapshot),
// each as soon as it is in the file, then follows the log after the
// snapshot's sequence. A spool serves every
// replica that starts while it is recent (nothing changed since it was
// made, or it is less than a minute old), and is deleted when the last
// stream reading it ends.
#pragma once

#include <kj/async.h>
#include <kj/thread.h>
#include <kj/timer.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "hills/database.h"
#include "hills/protocol.h"
#include "tree_scope.h"

namespace hills::server {

// One snapshot, written to a file by a thread of its own while replicas
// already read the parts written so far.
class Spool {
 public:
  // Where one part lies in the file.
  struct Extent {
    std::uint64_t offset = 0;
    std::uint64_t size = 0;
    std::string tree;  // the part's records' tree; empty: borrows
  };
  // What the writing thread has done so far.
  struct Progress {
    std::size_t parts = 0;        // written
    bool done = false;            // every part is in the file
    std::string error;            // non-empty: writing failed, and why
    std::uint64_t bytes = 0;      // of the file
    std::uint64_t makingMs = 0;   // how long writing took, once done
  };
  // One part, or what became of the spool before it.
  struct Part {
    std::optional<Extent> extent;  // empty: not written (see done, error)
    bool done = false;
    std::string error;
  };

  Spool() = default;
  Spool(const Spool&) = delete;
  Spool& operator=(const Spool&) = delete;
  ~Spool();  // deletes the file

  // Set before the first part is published, constant after: read them
  // once ready(0) has resolved.
  std::string path;
  std::uint64_t sequence = 0;  // the change-log position it holds
  std::uint64_t records = 0;   // how many records it holds
  std::map<std::string, std::uint64_t> treeRecords;  // of each tree
  kj::TimePoint made = kj::origin<kj::TimePoint>();  // when it was started (loop thread)

  // Resolves once part `index` is in the file, or writing has ended
  // without it (done, failed or cancelled): read part() then. Event
  // loop thread only.
  kj::Promise<void> ready(std::size_t index);

  // A copy of the progress, and of one part, for any thread.
  Progress progress() const;
  Part part(std::size_t index) const;

  // The writing thread: publishes one more part, then the end.
  void published(Extent extent);
  void ended(std::string error, std::uint64_t bytes, std::uint64_t makingMs);

  // Asks the writing thread to stop at its next part; it ends with an error.
  void cancel() { cancelled_ = true; }
  bool cancelled() const { return cancelled_; }

 private:
  void wakeLocked();

  mutable std::mutex mutex_;
  Progress progress_;
  std::vector<Extent> extents_;
  std::vector<kj::Own<kj::CrossThreadPromiseFulfiller<void>>> waiters_;
  std::atomic<bool> cancelled_{false};
};

// Writes the snapshot of `db` (a server's database) into `spool`, a part
// at a time, from one read transaction, into a new file of the directory
// `dir`. Blocking; run on a thread of its own. Never throws: a failure
// (the disk is full, a read of the database failed) ends the spool with
// its error.
void writeSpool(const Database& db, const std::string& dir, Spool& spool);

// Starts spools on threads of their own, for the event loop.
class Spooler {
 public:
  // Spools go to DIR/snapshots of the database; leftovers of a process
  // that did not stop cleanly are deleted here.
  Spooler(const Database& db, kj::Timer& timer);
  ~Spooler();  // cancels a spool being written and waits for its thread
  Spooler(const Spooler&) = delete;
  Spooler& operator=(const Spooler&) = delete;

  // A spool for a replica that starts now, when the log ends at
  // `lastSequence`: the recent one (still being written, nothing changed
  // since it began, or begun less than a minute ago), or a new one.
  // Resolves once its first part is written; rejects when the spool
  // failed before it.
  kj::Promise<std::shared_ptr<Spool>> get(std::uint64_t lastSequence);

 private:
  const Database& db_;
  kj::Timer& timer_;
  std::string dir_;
  std::weak_ptr<Spool> recent_;
  std::weak_ptr<Spool> writing_;  // the spool the thread writes, while it does
  kj::Own<kj::Thread> thread_;      // joined when dropped
};

// The capability that streams `spool`'s parts to one replica
// (sync.capnp's Snapshot), each as soon as it is written; it sets `*open`
// false when it ends, and calls `finished` once it has sent every part. A
// partial session's `scope` skips the parts of the trees it does not
// follow, and the borrows of those trees. Throws Error(kIo) when the file
// cannot be read.
kj::Own<sync::Snapshot::Server> readSpool(std::shared_ptr<Spool> spool,
                                          std::shared_ptr<bool> open, TreeScope scope,
                                          std::function<void(const Spool&)> finished);

// The records of `spool` that a session of `scope` reads. Once ready(0)
// has resolved.
std::uint64_t recordsIn(const Spool& spool, const TreeScope& scope);

}  // namespace hills::server
