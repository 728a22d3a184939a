// fault-client: a writer for the fault suite, run in a process of its own so
// that the suite can kill it. It creates parts in its replica, in batches,
// and after each flush that the server acknowledged it appends one line per
// part to the acknowledgement file:
//   ack <id> <revision> <n> <FNV-1a of the stored value>
// A part the server refused (its client keeps it as a conflict copy) is
// written as "refused <id> <revision> <n> <hash>" instead. Every line goes out in one
// write(2) on an O_APPEND descriptor, so a kill leaves whole lines only
// (a torn last line is ignored by the reader). It stops by itself after
// --seconds.
#include <fcntl.h>
#include <kj/main.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "contents.h"
#include "hills/client.h"
#include "plm_fixtures.h"
#include "sync_fixtures.h"

namespace {

using namespace std::chrono_literals;

class FaultClient {
 public:
  explicit FaultClient(kj::ProcessContext& context) : context_(context) {}

  kj::MainFunc getMain() {
    return kj::MainBuilder(context_, "fault-client",
                           "Creates parts in the replica <dir> of client <name> and logs every "
                           "write its server acknowledged.")
        .addOptionWithArg({"replica"}, KJ_BIND_METHOD(*this, setReplica), "<dir>", "Replica.")
        .addOptionWithArg({"name"}, KJ_BIND_METHOD(*this, setName), "<name>",
                          "Client name; its token is <name>-token.")
        .addOptionWithArg({"server"}, KJ_BIND_METHOD(*this, setServer), "<host:port>", "Server.")
        .addOptionWithArg({"acks"}, KJ_BIND_METHOD(*this, setAcks), "<file>",
                          "Acknowledgement file (appended to).")
        .addOptionWithArg({"first"}, KJ_BIND_METHOD(*this, setFirst), "<n>",
                          "Number of the first part: makePart(n).")
        .addOptionWithArg({"size"}, KJ_BIND_METHOD(*this, setSize), "<bytes>",
                          "Length of each part's description (default 40).")
        .addOptionWithArg({"max-map"}, KJ_BIND_METHOD(*this, setMaxMap), "<bytes>",
                          "Cap of the replica's map (Options::maxMapSize): a full disk where "
                          "none can be mounted.")
        .addOptionWithArg({"seconds"}, KJ_BIND_METHOD(*this, setSeconds), "<s>",
                          "Stop after this long (default 600).")
        .callAfterParsing(KJ_BIND_METHOD(*this, run))
        .build();
  }

 private:
  kj::MainBuilder::Validity setReplica(kj::StringPtr v) { return set(replica_, v); }
  kj::MainBuilder::Validity setName(kj::StringPtr v) { return set(name_, v); }
  kj::MainBuilder::Validity setServer(kj::StringPtr v) { return set(server_, v); }
  kj::MainBuilder::Validity setAcks(kj::StringPtr v) { return set(acks_, v); }
  kj::MainBuilder::Validity setFirst(kj::StringPtr v) { return number(first_, v); }
  kj::MainBuilder::Validity setSize(kj::StringPtr v) { return number(size_, v); }
  kj::MainBuilder::Validity setSeconds(kj::StringPtr v) { return number(seconds_, v); }
  kj::MainBuilder::Validity setMaxMap(kj::StringPtr v) { return number(maxMap_, v); }

  static kj::MainBuilder::Validity set(std::string& field, kj::StringPtr v) {
    field = v.cStr();
    return true;
  }
  static kj::MainBuilder::Validity number(long& field, kj::StringPtr v) {
    try {
      field = std::stol(v.cStr());
    } catch (const std::exception&) {
      return "not a number";
    }
    return true;
  }

  kj::MainBuilder::Validity run() {
    if (replica_.empty() || name_.empty() || acks_.empty()) {
      return "--replica, --name and --acks are required";
    }
    int fd = ::open(acks_.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd < 0) return "cannot open the acknowledgement file";
    auto options = hills::test::clientOptions(name_, server_);
    if (maxMap_ > 0) {
      options.database.maxMapSize = static_cast<std::size_t>(maxMap_);
      options.database.initialMapSize = options.database.maxMapSize;
    }
    hills::Client client(replica_, std::move(options));
    write(client, fd);
    ::close(fd);
    return true;
  }

  // Batches of five parts, each in a transaction of its own, then a flush;
  // a write the database refuses (no ids yet, a full disk) is tried again.
  void write(hills::Client& client, int fd) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds_);
    std::vector<std::pair<hills::Key<plm::Part>, long>> pending;
    long next = first_;
    while (std::chrono::steady_clock::now() < deadline) {
      for (int i = 0; i < 5; ++i) {
        try {
          auto part = hills::test::makePart(static_cast<int>(next), static_cast<std::size_t>(size_));
          auto key = client.db().write(
              [&](hills::WriteTxn& txn) { return txn.tree<plm::Part>().create(part); });
          pending.emplace_back(key, next++);
        } catch (const hills::Error& e) {
          std::fprintf(stderr, "write refused: %s\n", e.what());
          std::this_thread::sleep_for(20ms);
        }
      }
      if (!client.flush(500ms)) continue;
      record(client, fd, pending);
      pending.clear();
    }
  }

  // Writes the lines of flushed parts: refused when the server did not take
  // them (the client kept them as conflict copies), acknowledged otherwise.
  static void record(hills::Client& client, int fd,
                     const std::vector<std::pair<hills::Key<plm::Part>, long>>& parts) {
    std::set<std::uint64_t> refused;
    for (auto& copy : client.conflicts()) {
      if (copy.key.tree == "parts") refused.insert(copy.key.id);
    }
    std::string lines;
    client.db().read([&](const hills::ReadTxn& txn) {
      for (auto& [key, n] : parts) {
        const char* verdict = refused.count(key.id) ? "refused" : "ack";
        auto rec = txn.tree("parts").find(key.id, key.revision);
        std::uint64_t hash = rec ? hills::test::hashOf(rec) : 0;
        lines += std::string(verdict) + " " + std::to_string(key.id) + " " +
                 std::to_string(key.revision) + " " + std::to_string(n) + " " +
                 std::to_string(hash) + "\n";
      }
    });
    if (!lines.empty() && ::write(fd, lines.data(), lines.size()) < 0) {
      std::perror("writing the acknowledgement file");
    }
  }

  kj::ProcessContext& context_;
  std::string replica_, name_, server_, acks_;
  long first_ = 0;
  long size_ = 40;
  long seconds_ = 600;
  long maxMap_ = 0;
};

}  // namespace

KJ_MAIN(FaultClient)
