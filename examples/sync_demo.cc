// Two clients of one hills-server: records created offline, a check-out
// refused and granted, a check-in the other client sees, a release.
//
//   sync-demo DIR HOST:PORT [sha256:FINGERPRINT | plaintext]
//
// The server runs on its own (scripts/demo.sh starts it); the clients keep
// their replicas in DIR/a and DIR/b. Every event each client sees is printed.
// The clients speak TLS and check the server's certificate against the
// fingerprint hills-server printed at start (without one, they pin the
// certificate they meet first); "plaintext" for a server configured so.
#include <cstdio>
#include <string>

#include "hills/client.h"
#include "plm.hills.h"

using namespace std::chrono_literals;

namespace {

std::string trust;  // the third argument

hills::ClientOptions options(const std::string& name, const std::string& server) {
  hills::ClientOptions o;
  o.name = name;
  o.token = name + "-secret";
  o.server = server;
  if (trust == "plaintext") {
    o.plaintext = true;
  } else {
    o.tls.fingerprint = trust;
  }
  o.database.trees = hills::treeTypes<plm::Part, plm::Bom, plm::StockItem>();
  o.minBackoff = 50ms;
  o.maxBackoff = 500ms;
  return o;
}

// Prints what a client's database reports, as it happens.
hills::Subscription narrate(const char* who, hills::Database& db) {
  return db.subscribe({}, [who](const hills::Event& e) {
    std::string fields;
    for (const auto& f : e.changedFields) fields += (fields.empty() ? " fields: " : ", ") + f;
    std::string kind(hills::sync::kindName(e.kind));
    std::printf("    [%s sees] %-13s %s from %s%s\n", who, kind.c_str(), describe(e.key).c_str(),
                e.origin.empty() ? "itself" : e.origin.c_str(), fields.c_str());
  });
}

void step(const char* text) { std::printf("\n== %s\n", text); }

void require(bool ok, const char* what) {
  if (!ok) throw hills::Error(hills::ErrorCode::kOffline, std::string("timed out: ") + what);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3 && argc != 4) {
    std::fprintf(stderr, "usage: %s DIR HOST:PORT [sha256:FINGERPRINT | plaintext]\n", argv[0]);
    return 2;
  }
  std::string dir = argv[1], server = argv[2];
  if (argc == 4) trust = argv[3];
  try {
    step("client A meets the server once: it is pinned and gets id ranges");
    {
      hills::Client a(dir + "/a", options("A", server));
      require(a.waitConnected(10s) && a.sync(10s), "A's first contact");
      auto s = a.status();
      std::printf("  A pinned to server %s, %llu part ids in hand\n", s.serverUuid.c_str(),
                  static_cast<unsigned long long>(s.idsLeft["parts"]));
    }

    step("client A offline (no server configured) creates two parts");
    std::vector<hills::Key<plm::Part>> keys;
    {
      hills::Client a(dir + "/a", options("A", ""));
      keys = a.db().write([](hills::WriteTxn& txn) {
        auto parts = txn.tree<plm::Part>();
        plm::Part bolt{}, nut{};
        bolt.number = "P-1001";
        bolt.name = "hex bolt M6";
        nut.number = "P-1002";
        nut.name = "hex nut M6";
        return std::vector{parts.create(bolt), parts.create(nut)};
      });
      std::printf("  A's outbox holds %zu changes; connected: %s\n", a.status().outbox,
                  a.status().connected ? "yes" : "no");
    }

    step("A comes online and client B connects: B gets A's parts");
    hills::Client a(dir + "/a", options("A", server));
    hills::Client b(dir + "/b", options("B", server));
    auto tellA = narrate("A", a.db());
    auto tellB = narrate("B", b.db());
    require(a.waitConnected(10s) && a.sync(10s), "A's push");
    require(b.waitConnected(10s) && b.sync(10s), "B's catch-up");

    step("A checks out the bolt; B's check-out is refused");
    auto borrow = a.checkOut(keys[0]);
    std::printf("  A holds %s, fencing number %llu\n", describe(borrow.key).c_str(),
                static_cast<unsigned long long>(borrow.fencing));
    try {
      b.checkOut(keys[0]);
    } catch (const hills::Error& e) {
      std::printf("  B refused: %s\n", e.what());
    }

    step("A renames the bolt and checks it in; B sees the change");
    a.db().write([&](hills::WriteTxn& txn) {
      auto parts = txn.tree<plm::Part>();
      auto bolt = *parts.get(keys[0]);
      bolt.name = "hex bolt M6x20";
      parts.update(keys[0], bolt);
    });
    a.checkIn(keys[0]);
    require(a.sync(10s) && b.sync(10s), "the check-in");
    b.db().read([&](const hills::ReadTxn& txn) {
      auto bolt = txn.tree<plm::Part>().read(keys[0]);
      std::printf("  B reads: %s\n", bolt->getName().cStr());
    });

    step("B checks out the bolt (granted now) and releases it");
    borrow = b.checkOut(keys[0]);
    std::printf("  B holds %s, fencing number %llu\n", describe(borrow.key).c_str(),
                static_cast<unsigned long long>(borrow.fencing));
    b.release(hills::OpaqueKey{"parts", keys[0].id, 0});
    require(a.sync(10s), "A's catch-up");
    a.db().read([&](const hills::ReadTxn& txn) {
      std::printf("  A reads: %s is %s\n",
                  describe(hills::OpaqueKey{"parts", keys[0].id, 0}).c_str(),
                  std::string(toString(txn.tree<plm::Part>().meta(keys[0])->state)).c_str());
    });
    auto s = a.status();
    std::printf("\n  A: connected %s, applied up to change %llu, outbox %zu, refused %llu\n",
                s.connected ? "yes" : "no", static_cast<unsigned long long>(s.lastApplied),
                s.outbox, static_cast<unsigned long long>(s.refused));
  } catch (const hills::Error& e) {
    std::fprintf(stderr, "sync-demo: %s\n", e.what());
    return 1;
  }
  return 0;
}
