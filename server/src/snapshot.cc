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

// Writes one part (of `tree`, with `records`) and notes where it lies in the file.
void writePart(kj::OutputStream& out, capnp::MessageBuilder& msg, Spool& spool,
               const std::string& tree = {}, std::uint64_t records = 0) {
  std::uint64_t offset = spool.extents.empty()
                             ? 0
                             : spool.extents.back().first + spool.extents.back().second;
  auto words = capnp::computeSerializedSizeInWords(msg);
  capnp::writeMessage(out, msg);
  spool.extents.emplace_back(offset, words * sizeof(capnp::word));
  spool.partTrees.push_back(tree);
  spool.partRecords.push_back(records);
  ++spool.parts;
}

// Writes the records of one tree, a part at a time.
void writeTree(const ReadTxn& txn, const std::string& tree, kj::OutputStream& out, Spool& spool) {
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
    writePart(out, msg, spool, tree, pending.size());
    pending.clear();
    bytes = 0;
  };
  txn.tree(tree).scan(0, UINT64_MAX, [&](const StoredRecord& rec) {
    auto value = rec.value().asBytes();
    pending.push_back(Pending{rec.id(), rec.revision(), value, rec.envelope().getAuthor()});
    bytes += value.size();
    ++spool.records;
    if (bytes >= kPartBytes) flush();
    return true;
  });
  flush();
}

void writeBorrows(const ReadTxn& txn, kj::OutputStream& out, Spool& spool) {
  auto all = protocol::listBorrows(txn);
  for (std::size_t start = 0; start < all.size(); start += kPartBorrows) {
    auto count = static_cast<unsigned>(std::min<std::size_t>(kPartBorrows, all.size() - start));
    capnp::MallocMessageBuilder msg;
    auto borrows = msg.initRoot<sync::SnapshotPart>().initBorrows(count);
    for (unsigned i = 0; i < count; ++i) protocol::setBorrow(borrows[i], all[start + i]);
    writePart(out, msg, spool);
  }
}

// Streams a spool's parts to one replica.
class SnapshotImpl final : public sync::Snapshot::Server {
 public:
  SnapshotImpl(std::shared_ptr<Spool> spool, kj::AutoCloseFd fd, std::shared_ptr<bool> open,
               TreeScope scope)
      : spool_(std::move(spool)), fd_(kj::mv(fd)), open_(std::move(open)), scope_(std::move(scope)) {}
  ~SnapshotImpl() { *open_ = false; }

 protected:
  kj::Promise<void> next(NextContext context) override {
    return protocol::translated([&] {
      auto results = context.getResults();
      // A partial session's: the parts of its trees, and all borrow parts.
      while (sent_ < spool_->extents.size() && !spool_->partTrees[sent_].empty() &&
             !scope_.follows(spool_->partTrees[sent_])) {
        ++sent_;
      }
      if (sent_ == spool_->extents.size()) {
        results.setDone(true);
        return kj::Promise<void>(kj::READY_NOW);
      }
      auto [offset, size] = spool_->extents[sent_];
      // The part's bytes go from the file into the answer once.
      auto part = results.initPart(static_cast<unsigned>(size));
      std::uint64_t done = 0;
      while (done < size) {
        ssize_t n = ::pread(fd_.get(), part.begin() + done, size - done,
                            static_cast<off_t>(offset + done));
        if (n <= 0) {
          throw Error(ErrorCode::kIo, "reading the snapshot " + spool_->path + " failed: " +
                                          (n == 0 ? std::string("it is shorter than written")
                                                  : std::string(std::strerror(errno))));
        }
        done += static_cast<std::uint64_t>(n);
      }
      if (!scope_.all() && spool_->partTrees[sent_].empty()) keepFollowedBorrows(results);
      ++sent_;
      return kj::Promise<void>(kj::READY_NOW);
    });
  }

 private:
  std::shared_ptr<Spool> spool_;
  kj::AutoCloseFd fd_;
  std::shared_ptr<bool> open_;
  TreeScope scope_;
  std::uint64_t sent_ = 0;

  // Rewrites the borrow part in `results` with the borrows of the trees the
  // session follows only.
  void keepFollowedBorrows(NextResults::Builder results) {
    auto bytes = results.getPart();
    kj::ArrayInputStream in(kj::ArrayPtr<const kj::byte>(bytes.begin(), bytes.size()));
    capnp::InputStreamMessageReader reader(in);
    std::vector<BorrowInfo> kept;
    for (auto b : reader.getRoot<sync::SnapshotPart>().getBorrows()) {
      if (scope_.follows(b.getKey().getTree().cStr())) kept.push_back(protocol::borrowOf(b));
    }
    capnp::MallocMessageBuilder msg;
    auto borrows = msg.initRoot<sync::SnapshotPart>().initBorrows(static_cast<unsigned>(kept.size()));
    for (unsigned i = 0; i < kept.size(); ++i) protocol::setBorrow(borrows[i], kept[i]);
    auto words = capnp::messageToFlatArray(msg);
    results.setPart(words.asBytes());
  }
};

}  // namespace

Spool::~Spool() {
  if (!path.empty()) ::unlink(path.c_str());
}

std::unique_ptr<Spool> writeSpool(const Database& db, const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) throw Error(ErrorCode::kIo, "cannot make the directory " + dir + ": " + ec.message());
  auto started = std::chrono::steady_clock::now();
  auto trees = db.trees();
  auto spool = std::make_unique<Spool>();
  db.read([&](const ReadTxn& txn) {
    spool->sequence = txn.lastSequence();
    spool->path = dir + "/" + std::to_string(spool->sequence) + "-" +
                  std::to_string(::getpid()) + "-" + std::to_string(spoolCount++) + ".snap";
    kj::AutoCloseFd fd(::open(spool->path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
    if (fd.get() < 0) {
      std::string why = std::strerror(errno);
      spool->path.clear();
      throw Error(ErrorCode::kIo, "cannot write a snapshot into " + dir + ": " + why);
    }
    try {
      kj::FdOutputStream file(fd.get());
      kj::BufferedOutputStreamWrapper out(file);
      for (const auto& tree : trees) writeTree(txn, tree.name, out, *spool);
      writeBorrows(txn, out, *spool);
      out.flush();
    } catch (const kj::Exception& e) {
      throw Error(ErrorCode::kIo,
                  "writing the snapshot " + spool->path + " failed: " + e.getDescription().cStr());
    }
    spool->bytes = static_cast<std::uint64_t>(::lseek(fd.get(), 0, SEEK_END));
  });
  spool->makingMs = static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                            started)
          .count());
  return spool;
}

Spooler::Spooler(const Database& db, kj::Timer& timer)
    : db_(db), timer_(timer), dir_(spoolDir(db)) {
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir_, ec)) {
    if (entry.path().extension() == ".snap") std::filesystem::remove(entry.path(), ec);
  }
}

Spooler::~Spooler() = default;

kj::Promise<std::shared_ptr<Spool>> Spooler::get(std::uint64_t lastSequence) {
  if (auto spool = recent_.lock()) {
    if (spool->sequence == lastSequence || timer_.now() - spool->made < kRecent) {
      return kj::mv(spool);
    }
  }
  if (made_) making_ = nullptr;  // resolved: forget it outside of its own continuation
  KJ_IF_MAYBE (making, making_) return making->addBranch();
  thread_ = nullptr;  // the last one has ended: its promise resolved
  made_ = false;
  // The spool crosses from the thread in a member: a void promise says it is there.
  auto paf = kj::newPromiseAndCrossThreadFulfiller<void>();
  thread_ = kj::heap<kj::Thread>([this, fulfiller = kj::mv(paf.fulfiller)]() mutable {
    try {
      result_ = writeSpool(db_, dir_);
      fulfiller->fulfill();
    } catch (const Error& e) {
      fulfiller->reject(protocol::toException(e));
    } catch (const kj::Exception& e) {
      fulfiller->reject(kj::cp(e));
    } catch (const std::exception& e) {
      fulfiller->reject(KJ_EXCEPTION(FAILED, "making a snapshot failed", e.what()));
    }
  });
  auto forked = paf.promise
                    .then(
                        [this] {
                          std::shared_ptr<Spool> spool(std::move(result_));
                          spool->made = timer_.now();
                          recent_ = spool;
                          made_ = true;
                          return spool;
                        },
                        [this](kj::Exception&& e) -> std::shared_ptr<Spool> {
                          made_ = true;
                          kj::throwFatalException(kj::mv(e));
                        })
                    .fork();
  auto branch = forked.addBranch();
  making_ = kj::mv(forked);
  return branch;
}

std::uint64_t recordsIn(const Spool& spool, const TreeScope& scope) {
  if (scope.all()) return spool.records;
  std::uint64_t records = 0;
  for (std::size_t i = 0; i < spool.partTrees.size(); ++i) {
    if (scope.follows(spool.partTrees[i])) records += spool.partRecords[i];
  }
  return records;
}

kj::Own<sync::Snapshot::Server> readSpool(std::shared_ptr<Spool> spool,
                                          std::shared_ptr<bool> open, TreeScope scope) {
  kj::AutoCloseFd fd(::open(spool->path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) {
    throw Error(ErrorCode::kIo,
                "cannot read the snapshot " + spool->path + ": " + std::strerror(errno));
  }
  return kj::heap<SnapshotImpl>(std::move(spool), kj::mv(fd), std::move(open), std::move(scope));
}

}  // namespace hills::server
