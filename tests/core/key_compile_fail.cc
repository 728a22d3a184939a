// Built twice by tests/core/CMakeLists.txt: as it is, it must compile; with
// HILLS_USE_WRONG_KEY, it must not, because a Key<Part> cannot reach the
// boms tree.
#include "hills/hills.h"
#include "plm.hills.h"

int main() {
  hills::Options options;
  options.trees = hills::treeTypes<plm::Part, plm::Bom>();
  hills::Database db("/nonexistent/never-opened", options);
  db.read([](const hills::ReadTxn& txn) {
#ifdef HILLS_USE_WRONG_KEY
    auto found = txn.tree<plm::Bom>().get(hills::Key<plm::Part>{1, 0});
#else
    auto found = txn.tree<plm::Bom>().get(hills::Key<plm::Bom>{1, 0});
#endif
    return found.has_value();
  });
}
