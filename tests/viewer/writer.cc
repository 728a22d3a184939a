// Another program that writes a PLM database while the viewer shows it:
//   viewer-writer DIR rename ID NAME   renames the draft part ID
//   viewer-writer DIR create 0 NAME    creates a part
#include <cstdio>
#include <string>

#include "plm_fixtures.h"

int main(int argc, char** argv) {
  if (argc != 5) {
    std::fprintf(stderr, "usage: %s DIR rename|create ID NAME\n", argv[0]);
    return 2;
  }
  std::string what = argv[2];
  try {
    hills::Database db(argv[1], hills::test::plmOptions());
    db.write([&](hills::WriteTxn& txn) {
      auto parts = txn.tree<plm::Part>();
      if (what == "create") {
        auto p = hills::test::makePart(99, 12);
        p.name = argv[4];
        parts.create(p);
        return;
      }
      hills::Key<plm::Part> key{std::stoull(argv[3]), 0};
      auto p = parts.get(key).value();
      p.name = argv[4];
      parts.update(key, p);
    });
  } catch (const std::exception& e) {
    std::fprintf(stderr, "viewer-writer: %s\n", e.what());
    return 1;
  }
  return 0;
}
