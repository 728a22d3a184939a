// hills backup DIR DEST: a consistent compacted copy while others write.
#include <sys/stat.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <thread>

#include "commands.h"
#include "common.h"
#include "progress.h"

namespace hills::tools {
namespace {

struct BackupArgs {
  std::string dir, dest;
};

std::uint64_t fileSize(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 ? static_cast<std::uint64_t>(st.st_size) : 0;
}

void backup(const BackupArgs& args) {
  auto db = openDatabase(args.dir, false);
  auto used = db->stats().mapUsed;
  auto start = std::chrono::steady_clock::now();
  Progress progress("backup", used, "bytes");
  std::atomic<bool> done{false};
  std::thread watcher;
  // LMDB's copy reports nothing while it runs: the copy's size tells.
  if (progress.enabled()) {
    watcher = std::thread([&] {
      while (!done.load()) {
        progress.update(fileSize(args.dest + "/data.mdb") & ~std::uint64_t{1023});
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
    });
  }
  try {
    db->copyTo(args.dest);
  } catch (...) {
    done = true;
    if (watcher.joinable()) watcher.join();
    throw;
  }
  done = true;
  if (watcher.joinable()) watcher.join();
  auto size = fileSize(args.dest + "/data.mdb");
  progress.update(size);
  progress.finish();
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("backup of %s (uuid %s) in %s: %s (%s in use in the original), %.2f s\n",
              args.dir.c_str(), db->uuid().c_str(), args.dest.c_str(), humanBytes(size).c_str(),
              humanBytes(used).c_str(), seconds);
}

}  // namespace

kj::MainFunc backupCommand(kj::ProcessContext& context) {
  auto args = std::make_shared<BackupArgs>();
  return kj::MainBuilder(context, kVersion,
                         "Writes a consistent, compacted copy of the database in DIR into DEST "
                         "(created when absent; it must hold no database). The copy is one "
                         "snapshot taken in a read transaction, so applications and the server "
                         "go on writing meanwhile. The copy opens as a database of its own, "
                         "with the same uuid, and may serve as a server's database.")
      .expectArg("DIR", [args](kj::StringPtr v) {
        args->dir = v;
        return true;
      })
      .expectArg("DEST", [args](kj::StringPtr v) {
        args->dest = v;
        return true;
      })
      .callAfterParsing([args, &context]() {
        return guarded(context, [&]() -> kj::MainBuilder::Validity {
          backup(*args);
          return true;
        });
      })
      .build();
}

}  // namespace hills::tools
