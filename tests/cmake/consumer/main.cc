// Creates and reads back one record: the consumer's build works end to end.
#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include "hills/hills.h"
#include "tools.hills.h"

int main(int argc, char** argv) {
  if (argc != 2) return 2;
  hills::Options options;
  options.trees = hills::treeTypes<shop::Tool>();
  hills::Database db(argv[1], options);
  auto key = db.write([](hills::WriteTxn& txn) {
    shop::Tool tool{};
    tool.name = "torque wrench";
    tool.slot = 7;
    return txn.tree<shop::Tool>().create(tool);
  });
  auto tool = db.read([&](const hills::ReadTxn& txn) { return txn.tree<shop::Tool>().get(key); });
  if (!tool || tool->name != "torque wrench" || tool->slot != 7) return 1;
  std::puts("consumer: ok");
  return 0;
}
