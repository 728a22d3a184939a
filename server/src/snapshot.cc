#include "snapshot.h"

#include <capnp/message.h>
#include <capnp/serialize.h>
#include <fcntl.h>
#include <kj/io.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <vector>

#include "hills/protocol.h"
#include "hills/sync.capnp.h"

namespace hills::server {

namespace {

constexpr std::size_t kPartBytes = std::size_t{1} << 20;  // of values, per part
constexpr unsigned kPartBorrows = 8192;
constexpr auto kRecent = 60 * kj::SECONDS;

std::atomic<std::uint64_t> spoolCount{0};  // tells apart the files of one process

std::string spoolDir(const Database& db) { return db.path() + "/snapshots"; }

// Where the parts written so far end, for the thread that writes them.
struct Writer {
  kj::BufferedOutputStreamWrapper& out;
  Spool& spool;
  std::uint64_t offset = 0;
};

// Writes one part (of `tree`'s records; empty: of borrows) and publishes
// it: readers may send it at once.
void writePart(Writer& writer, capnp::MessageBuilder& msg, const std::string& tree = {}) {
  if (writer.spool.cancelled()) {
    throw Error(ErrorCode::kIo, "the snapshot " + writer.spool.path + " was cancelled");
  }
  auto size = capnp::computeSerializedSizeInWords(msg) * sizeof(capnp::word);
  capnp::writeMessage(writer.out, msg);
  writer.out.flush();
  writer.spool.published(Spool::Extent{writer.offset, size, tree});
  writer.offset += size;
}

// Writes the records of one tree, a part at a time.
void writeTree(const ReadTxn& txn, const std::string& tree, Writer& writer) {
  struct Pending {
    std::uint64_t id;
    std::uint32_t revision;
    kj::ArrayPtr<const kj::byte> value;
    capnp::Text::Reader origin;
  };
  std::vector<Pending> pending;
  std::size_t bytes = 0;
  auto flush = [&] {
    if (pending.empty()) return;
    capnp::MallocMessageBuilder msg(static_cast<unsigned>(bytes / sizeof(capnp::word) +
                                                          pending.size() * 4 + 64));
    auto part = msg.initRoot<sync::SnapshotPart>();
    part.setTree(tree);
    auto records = part.initRecords(static_cast<unsigned>(pending.size()));
    for (unsigned i = 0; i < pending.size(); ++i) {
      records[i].setId(pending[i].id);
      records[i].setRevision(pending[i].revision);
      records[i].setValue(pending[i].value);
      records[i].setOrigin(pending[i].origin);
    }
    writePart(writer, msg, tree);
    pending.clear();
    bytes = 0;
  };
  txn.tree(tree).scan(0, UINT64_MAX, [&](const StoredRecord& rec) {
    auto value = rec.value().asBytes();
    pending.push_back(Pending{rec.id(), rec.revision(), value, rec.envelope().getAuthor()});
    bytes += value.size();
    if (bytes >= kPartBytes) flush();
    return true;
  });
  flush();
}

void writeBorrows(const ReadTxn& txn, Writer& writer) {
  auto all = protocol::listBorrows(txn);
  for (std::size_t start = 0; start < all.size(); start += kPartBorrows) {
    auto count = static_cast<unsigned>(std::min<std::size_t>(kPartBorrows, all.size() - start));
    capnp::MallocMessageBuilder msg;
    auto borrows = msg.initRoot<sync::SnapshotPart>().initBorrows(count);
    for (unsigned i = 0; i < count; ++i) protocol::setBorrow(borrows[i], all[start + i]);
    writePart(writer, msg);
  }
}

// Reads `extent` of the file `fd` (the spool at `path`) into `into`.
void readExtent(int fd, const std::string& path, const Spool::Extent& extent,
                kj::ArrayPtr<kj::byte> into) {
  std::uint64_t done = 0;
  while (done < extent.size) {
    ssize_t n = ::pread(fd, into.begin() + done, extent.size - done,
                        static_cast<off_t>(extent.offset + done));
    if (n <= 0) {
      throw Error(ErrorCode::kIo, "reading the snapshot " + path + " failed: " +
                                      (n == 0 ? std::string("it is shorter than written")
                                              : std::string(std::strerror(errno))));
    }
    done += static_cast<std::uint64_t>(n);
  }
}

// Streams a spool's parts to one replica, each once it is in the file.
// Calls are answered in the order they came: a replica may ask for several
// parts ahead. A partial session's scope skips the parts of other trees.
class SnapshotImpl final : public sync::Snapshot::Server {
 public:
  SnapshotImpl(std::shared_ptr<Spool> spool, kj::AutoCloseFd fd, std::shared_ptr<bool> open,
               TreeScope scope, std::function<void(const Spool&)> finished)
      : spool_(std::move(spool)),
        fd_(kj::mv(fd)),
        open_(std::move(open)),
        scope_(std::move(scope)),
        finished_(std::move(finished)) {}
  ~SnapshotImpl() { *open_ = false; }

 protected:
  kj::Promise<void> next(NextContext context) override {
    // Which part a call sends depends on the parts the calls before it
    // skipped: each chooses after the one before. The answer is filled in
    // the call's own branch, so a call that is dropped leaves nothing
    // behind that writes into it.
    auto chosen = previous_.addBranch().then([this] { return choose(); }).fork();
    auto mine = chosen.addBranch();
    previous_ = chosen.addBranch().ignoreResult().fork();
    return mine.then([this, context](std::optional<Spool::Extent> extent) mutable {
      protocol::translated([&] { answer(extent, context.getResults()); });
    });
  }

 private:
  // The next part this session reads; none at the end.
  kj::Promise<std::optional<Spool::Extent>> choose() {
    return spool_->ready(part_).then(
        [this]() -> kj::Promise<std::optional<Spool::Extent>> {
          auto part = spool_->part(part_);
          if (!part.extent) {
            if (!part.error.empty()) {
              kj::throwFatalException(
                  protocol::toException(Error(ErrorCode::kIo, part.error)));
            }
            return std::optional<Spool::Extent>();
          }
          ++part_;
          if (!part.extent->tree.empty() && !scope_.follows(part.extent->tree)) return choose();
          return kj::mv(part.extent);
        });
  }

  void answer(const std::optional<Spool::Extent>& extent,
              sync::Snapshot::NextResults::Builder results) {
    if (!extent) {
      results.setDone(true);
      if (!finishedSent_) {
        finishedSent_ = true;
        *open_ = false;  // calls still in flight need not hold off the next snapshot
        if (finished_) finished_(*spool_);
      }
      return;
    }
    if (scope_.all() || !extent->tree.empty()) {
      // The part's bytes go from the file into the answer once.
      readExtent(fd_.get(), spool_->path, *extent, results.initPart(static_cast<unsigned>(extent->size)));
      return;
    }
    // A partial session's borrows: those of the trees it follows.
    auto words = kj::heapArray<capnp::word>(extent->size / sizeof(capnp::word));
    readExtent(fd_.get(), spool_->path, *extent, words.asBytes());
    capnp::FlatArrayMessageReader reader(words);
    std::vector<BorrowInfo> kept;
    for (auto b : reader.getRoot<sync::SnapshotPart>().getBorrows()) {
      if (scope_.follows(b.getKey().getTree().cStr())) kept.push_back(protocol::borrowOf(b));
    }
    capnp::MallocMessageBuilder msg;
    auto borrows =
        msg.initRoot<sync::SnapshotPart>().initBorrows(static_cast<unsigned>(kept.size()));
    for (unsigned i = 0; i < kept.size(); ++i) protocol::setBorrow(borrows[i], kept[i]);
    results.setPart(capnp::messageToFlatArray(msg).asBytes());
  }

  std::shared_ptr<Spool> spool_;
  kj::AutoCloseFd fd_;
  std::shared_ptr<bool> open_;
  TreeScope scope_;
  std::function<void(const Spool&)> finished_;
  bool finishedSent_ = false;
  std::size_t part_ = 0;  // the next part to consider
  kj::ForkedPromise<void> previous_ = kj::Promise<void>(kj::READY_NOW).fork();
};

}  // namespace

Spool::~Spool() {
  if (!path.empty()) ::unlink(path.c_str());
}

kj::Promise<void> Spool::ready(std::size_t index) {
  std::lock_guard lock(mutex_);
  if (index < extents_.size() || progress_.done || !progress_.error.empty()) {
    return kj::READY_NOW;
  }
  auto paf = kj::newPromiseAndCrossThreadFulfiller<void>();
  waiters_.push_back(kj::mv(paf.fulfiller));
  // Woken by any new part: look again.
  return paf.promise.then([this, index] { return ready(index); });
}

Spool::Progress Spool::progress() const {
  std::lock_guard lock(mutex_);
  return progress_;
}

Spool::Part Spool::part(std::size_t index) const {
  std::lock_guard lock(mutex_);
  Part part;
  if (index < extents_.size()) part.extent = extents_[index];
  part.done = progress_.done;
  part.error = progress_.error;
  return part;
}

void Spool::published(Extent extent) {
  std::lock_guard lock(mutex_);
  extents_.push_back(std::move(extent));
  progress_.parts = extents_.size();
  wakeLocked();
}

void Spool::ended(std::string error, std::uint64_t bytes, std::uint64_t makingMs) {
  std::lock_guard lock(mutex_);
  progress_.done = error.empty();
  progress_.error = std::move(error);
  progress_.bytes = bytes;
  progress_.makingMs = makingMs;
  wakeLocked();
}

void Spool::wakeLocked() {
  // A waiter whose promise is gone (its stream ended) takes no harm.
  for (auto& waiter : waiters_) waiter->fulfill();
  waiters_.clear();
}

void writeSpool(const Database& db, const std::string& dir, Spool& spool) {
  auto started = std::chrono::steady_clock::now();
  std::uint64_t bytes = 0;
  std::string error;
  try {
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec) throw Error(ErrorCode::kIo, "cannot make the directory " + dir + ": " + ec.message());
    auto trees = db.trees();
    db.read([&](const ReadTxn& txn) {
      spool.sequence = txn.lastSequence();
      for (const auto& tree : trees) {
        auto records = txn.tree(tree.name).size();
        spool.treeRecords[tree.name] = records;
        spool.records += records;
      }
      std::string path = dir + "/" + std::to_string(spool.sequence) + "-" +
                         std::to_string(::getpid()) + "-" + std::to_string(spoolCount++) + ".snap";
      kj::AutoCloseFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
      if (fd.get() < 0) {
        throw Error(ErrorCode::kIo,
                    "cannot write a snapshot into " + dir + ": " + std::strerror(errno));
      }
      spool.path = path;
      try {
        kj::FdOutputStream file(fd.get());
        kj::BufferedOutputStreamWrapper out(file);
        Writer writer{out, spool};
        for (const auto& tree : trees) writeTree(txn, tree.name, writer);
        writeBorrows(txn, writer);
        bytes = writer.offset;
      } catch (const kj::Exception& e) {
        throw Error(ErrorCode::kIo,
                    "writing the snapshot " + path + " failed: " + e.getDescription().cStr());
      }
    });
  } catch (const std::exception& e) {
    error = e.what();
  } catch (const kj::Exception& e) {
    error = std::string("making the snapshot failed: ") + e.getDescription().cStr();
  } catch (...) {
    error = "making the snapshot failed";
  }
  spool.ended(std::move(error), bytes,
              static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                             std::chrono::steady_clock::now() - started)
                                             .count()));
}

Spooler::Spooler(const Database& db, kj::Timer& timer)
    : db_(db), timer_(timer), dir_(spoolDir(db)) {
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir_, ec)) {
    if (entry.path().extension() == ".snap") std::filesystem::remove(entry.path(), ec);
  }
}

Spooler::~Spooler() {
  if (auto spool = writing_.lock()) spool->cancel();
  thread_ = nullptr;  // joins
}

kj::Promise<std::shared_ptr<Spool>> Spooler::get(std::uint64_t lastSequence) {
  std::shared_ptr<Spool> spool = recent_.lock();
  auto progress = spool ? spool->progress() : Spool::Progress{};
  bool reusable = spool && progress.error.empty() &&
                  (!progress.done || spool->sequence == lastSequence ||
                   timer_.now() - spool->made < kRecent);
  if (!reusable) {
    // The thread before has ended: this spool is not being written.
    thread_ = nullptr;
    spool = std::make_shared<Spool>();
    spool->made = timer_.now();
    recent_ = spool;
    writing_ = spool;
    // The thread lets go of the spool when it ends: the last stream
    // that reads it deletes the file.
    thread_ = kj::heap<kj::Thread>([this, spool]() mutable {
      auto mine = std::move(spool);
      writeSpool(db_, dir_, *mine);
    });
  }
  return spool->ready(0).then([spool]() mutable {
    auto first = spool->part(0);
    if (!first.extent && !first.error.empty()) {
      kj::throwFatalException(protocol::toException(Error(ErrorCode::kIo, first.error)));
    }
    return kj::mv(spool);
  });
}

std::uint64_t recordsIn(const Spool& spool, const TreeScope& scope) {
  if (scope.all()) return spool.records;
  std::uint64_t records = 0;
  for (const auto& [tree, count] : spool.treeRecords) {
    if (scope.follows(tree)) records += count;
  }
  return records;
}

kj::Own<sync::Snapshot::Server> readSpool(std::shared_ptr<Spool> spool,
                                          std::shared_ptr<bool> open, TreeScope scope,
                                          std::function<void(const Spool&)> finished) {
  kj::AutoCloseFd fd(::open(spool->path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) {
    throw Error(ErrorCode::kIo,
                "cannot read the snapshot " + spool->path + ": " + std::strerror(errno));
  }
  return kj::heap<SnapshotImpl>(std::move(spool), kj::mv(fd), std::move(open),
                                std::move(scope), std::move(finished));
}

}  // namespace hills::server
