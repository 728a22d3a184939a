// Creates a record offline in a replica and opens a server database: the
// sync libraries link and work in the consumer's build.
#include <chrono>
#include <cstdio>
#include <string>

#include "hills/client.h"
#include "hills/server.h"
#include "tools.hills.h"

int main(int argc, char** argv) {
  if (argc != 2) return 2;
  std::string dir = argv[1];
  {
    hills::Options server = hills::serverDatabaseOptions();
    server.trees = hills::treeTypes<shop::Tool>();
    hills::Database db(dir + "/server", server);
  }
  hills::ClientOptions o;
  o.name = "bench-7";
  o.token = "t";
  o.server = "127.0.0.1:1";  // nobody: the replica works offline
  o.database.trees = hills::treeTypes<shop::Tool>();
  hills::Client client(dir + "/replica", o);
  client.db().write([](hills::WriteTxn& txn) {
    return txn.tree<shop::Tool>().create(shop::Tool{.name = "caliper", .slot = 3});
  });
  if (client.status().outbox != 1) return 1;
  std::puts("consumer-sync: ok");
  return 0;
}
