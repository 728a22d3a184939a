// Snapshots: how a fresh replica starts. The server reads every tree and
// every borrow in one read transaction, on a thread of its own, into a
// spool file beside its database (DIR/snapshots/), in parts of about
// 1 MiB. A replica streams the parts at its own pace (Session.snapshot),
// then follows the log after the snapshot's sequence. A spool serves every
// replica that starts while it is recent (nothing changed since it was
// made, or it is less than a minute old), and is deleted when the last
// stream reading it ends.
#pragma once

#include <kj/async.h>
#include <kj/thread.h>
#include <kj/timer.h>

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "hills/database.h"
#include "hills/protocol.h"
#include "tree_scope.h"

namespace hills::server {

// One snapshot, written to a file.
struct Spool {
  std::string path;
  std::uint64_t sequence = 0;  // the change-log position it holds
  std::uint64_t records = 0;
  std::uint64_t parts = 0;     // messages in the file (SnapshotPart)
  std::vector<std::pair<std::uint64_t, std::uint64_t>> extents;  // each part's offset and size
  std::vector<std::string> partTrees;      // each part's tree; empty: borrows
  std::vector<std::uint64_t> partRecords;  // each part's records
  std::uint64_t bytes = 0;
  std::uint64_t makingMs = 0;  // how long writing it took
  kj::TimePoint made = kj::origin<kj::TimePoint>();

  Spool() = default;
  Spool(const Spool&) = delete;
  Spool& operator=(const Spool&) = delete;
  ~Spool();  // deletes the file
};

// Writes the snapshot of `db` (a server's database) into a new file of
// the directory `dir`. Blocking. Throws Error(kIo) when the file cannot be
// written (the disk is full), what a read of the database throws.
std::unique_ptr<Spool> writeSpool(const Database& db, const std::string& dir);

// Makes spools one at a time on a thread of its own, for the event loop.
class Spooler {
 public:
  // Spools go to DIR/snapshots of the database; leftovers of a process
  // that did not stop cleanly are deleted here.
  Spooler(const Database& db, kj::Timer& timer);
  ~Spooler();  // waits for a spool being made
  Spooler(const Spooler&) = delete;
  Spooler& operator=(const Spooler&) = delete;

  // A spool for a replica that starts now, when the log ends at
  // `lastSequence`: the recent one, or a new one.
  kj::Promise<std::shared_ptr<Spool>> get(std::uint64_t lastSequence);

 private:
  const Database& db_;
  kj::Timer& timer_;
  std::string dir_;
  std::weak_ptr<Spool> recent_;
  kj::Maybe<kj::ForkedPromise<std::shared_ptr<Spool>>> making_;
  bool made_ = false;  // making_ has resolved
  std::unique_ptr<Spool> result_;  // what the thread made, until the loop takes it
  kj::Own<kj::Thread> thread_;  // joined when dropped
};

// The capability that streams `spool`'s parts to one replica
// (sync.capnp's Snapshot); it sets `*open` false when it ends. A partial
// session's `scope` skips the parts of the trees it does not follow, and
// the borrows of those trees. Throws Error(kIo) when the file cannot be
// read.
kj::Own<sync::Snapshot::Server> readSpool(std::shared_ptr<Spool> spool,
                                          std::shared_ptr<bool> open, TreeScope scope = {});

// The records of `spool` that a session of `scope` reads.
std::uint64_t recordsIn(const Spool& spool, const TreeScope& scope);

}  // namespace hills::server
