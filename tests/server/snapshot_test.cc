// Snapshot spools (server/src/snapshot.cc): written by a thread of their
// own from one read transaction, readable part by part while they are
// written, shared by the replicas that start together, and deleted when
// the last reader lets go.
#include <capnp/serialize.h>
#include <fcntl.h>
#include <kj/async-io.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "error_of.h"
#include "replication.h"
#include "server_process.h"
#include "snapshot.h"

using namespace hills::test;

namespace {

constexpr std::size_t kRecords = 3000;

// A server database of kRecords parts of about 2 KiB each: a few parts
// of a spool.
void fill(hills::Database& db) {
  db.write([](hills::WriteTxn& txn) {
    auto parts = txn.tree<plm::Part>();
    for (std::size_t i = 0; i < kRecords; ++i) {
      parts.create(makePart(static_cast<int>(i), 2000));
    }
  });
}

// Waits for part `index` of `spool` on the event loop of `io`.
void await(kj::AsyncIoContext& io, hills::server::Spool& spool, std::size_t index) {
  spool.ready(index).wait(io.waitScope);
}

// Reads every part of a spool as a reader does, each once it is written;
// returns the ids of the records it holds.
std::set<std::uint64_t> readAll(kj::AsyncIoContext& io, hills::server::Spool& spool) {
  std::set<std::uint64_t> ids;
  for (std::size_t index = 0;; ++index) {
    REQUIRE(index < 1000);
    await(io, spool, index);
    auto written = spool.part(index);
    REQUIRE(written.error.empty());
    if (!written.extent) {
      REQUIRE(written.done);
      return ids;
    }
    auto extent = *written.extent;
    std::vector<capnp::word> words(extent.size / sizeof(capnp::word));
    std::ifstream file(spool.path, std::ios::binary);
    file.seekg(static_cast<std::streamoff>(extent.offset));
    file.read(reinterpret_cast<char*>(words.data()), static_cast<std::streamsize>(extent.size));
    REQUIRE(file.gcount() == static_cast<std::streamsize>(extent.size));
    capnp::FlatArrayMessageReader msg(kj::arrayPtr(words.data(), words.size()));
    auto part = msg.getRoot<hills::sync::SnapshotPart>();
    for (auto record : part.getRecords()) {
      CHECK(part.getTree() == "parts");
      ids.insert(record.getId());
    }
  }
}

}  // namespace

TEST_CASE("a spool holds every record as of one change, read part by part as it is written",
          "[server][snapshot]") {
  TempDir dir;
  hills::Database db(dir.sub("server"), serverOptions());
  fill(db);
  auto io = kj::setupAsyncIo();
  hills::server::Spooler spooler(db, io.provider->getTimer());
  auto spool = spooler.get(kRecords).wait(io.waitScope);
  CHECK(spool->sequence == kRecords);
  CHECK(spool->records == kRecords);
  // A change after the snapshot began is not in it.
  db.write([](hills::WriteTxn& txn) { txn.tree<plm::Part>().create(makePart(-1)); });
  auto ids = readAll(io, *spool);
  CHECK(ids.size() == kRecords);
  auto progress = spool->progress();
  CHECK(progress.parts > 2);
  CHECK(progress.bytes == static_cast<std::uint64_t>(std::filesystem::file_size(spool->path)));
}

TEST_CASE("replicas that start while a spool is recent share it, and its file goes with the last",
          "[server][snapshot]") {
  TempDir dir;
  hills::Database db(dir.sub("server"), serverOptions());
  fill(db);
  auto io = kj::setupAsyncIo();
  hills::server::Spooler spooler(db, io.provider->getTimer());
  auto first = spooler.get(kRecords).wait(io.waitScope);
  auto second = spooler.get(kRecords).wait(io.waitScope);
  CHECK(first == second);
  std::string path = first->path;
  readAll(io, *first);
  CHECK(std::filesystem::exists(path));
  first.reset();
  second.reset();
  // The writing thread lets go of it when it ends.
  CHECK(eventually([&] { return !std::filesystem::exists(path); }));
}

TEST_CASE("a spool that cannot be written is refused with the reason", "[server][snapshot]") {
  TempDir dir;
  hills::Database db(dir.sub("server"), serverOptions());
  fill(db);
  // Where the spools go is a file, not a directory.
  std::filesystem::remove_all(db.path() + "/snapshots");
  std::ofstream(db.path() + "/snapshots") << "in the way";
  auto io = kj::setupAsyncIo();
  hills::server::Spooler spooler(db, io.provider->getTimer());
  auto error = errorOf([&] {
    try {
      spooler.get(kRecords).wait(io.waitScope);
    } catch (const kj::Exception& e) {
      throw hills::protocol::toError(e);
    }
  });
  CHECK(error.code() == hills::ErrorCode::kIo);
  CHECK_THAT(std::string(error.what()), Catch::Contains("snapshots"));
}

TEST_CASE("a spooler that stops while a spool is written ends it and its readers learn why",
          "[server][snapshot]") {
  TempDir dir;
  hills::Database db(dir.sub("server"), serverOptions());
  fill(db);
  auto io = kj::setupAsyncIo();
  std::shared_ptr<hills::server::Spool> spool;
  {
    hills::server::Spooler spooler(db, io.provider->getTimer());
    spool = spooler.get(kRecords).wait(io.waitScope);
  }
  // Either it was written whole before the stop, or it ended with an error.
  auto progress = spool->progress();
  CHECK((progress.done || !progress.error.empty()));
  if (!progress.done) CHECK_THAT(progress.error, Catch::Contains("cancelled"));
  await(io, *spool, 1000);  // resolves: the spool has ended
}
