#include <capnp/serialize.h>

#include <catch2/catch.hpp>
#include <cstring>
#include <fstream>
#include <random>

#include "plm_fixtures.h"
#include "raw_lmdb.h"
#include "state.h"
#include "temp_dir.h"

using hills::ErrorCode;
using hills::Key;
using hills::test::makePart;
using hills::test::plmOptions;
using hills::test::TempDir;
using hills::test::withRawTable;

namespace {

// The address range where this process maps `file`, from /proc/self/maps.
std::pair<std::uintptr_t, std::uintptr_t> mappingOf(const std::string& file) {
  std::ifstream maps("/proc/self/maps");
  std::string line;
  std::uintptr_t lo = UINTPTR_MAX, hi = 0;
  while (std::getline(maps, line)) {
    if (line.size() < file.size() ||
        line.compare(line.size() - file.size(), file.size(), file) != 0)
      continue;
    std::uintptr_t a = std::stoull(line.substr(0, line.find('-')), nullptr, 16);
    std::uintptr_t b = std::stoull(line.substr(line.find('-') + 1), nullptr, 16);
    lo = std::min(lo, a);
    hi = std::max(hi, b);
  }
  return {lo, hi};
}

// Overwrites the stored value of parts(id, 0) with `bytes`, through LMDB itself.
void overwriteValue(const std::string& dir, std::uint64_t id, const std::string& bytes) {
  withRawTable(dir, "parts", true, [&](MDB_txn* txn, MDB_dbi dbi) {
    auto key = hills::detail::encodeKey(id, 0);
    MDB_val k{key.size(), key.data()}, v{bytes.size(), const_cast<char*>(bytes.data())};
    REQUIRE(mdb_put(txn, dbi, &k, &v, 0) == 0);
  });
}

}  // namespace

TEST_CASE("100k random creates, updates and removes keep every value aligned and read in place",
          "[core][storage][alignment]") {
  TempDir dir;
  hills::Database db(dir.path(), plmOptions());
  std::mt19937 rng(20261121);
  std::vector<Key<plm::Part>> live;
  auto randomPart = [&](int n) {
    // Sizes from a few bytes to several pages, so values sit inline in leaf
    // pages and on overflow pages.
    std::size_t len = rng() % 8 == 0 ? 2000 + rng() % 9000 : rng() % 600;
    auto p = makePart(n, len);
    p.tags.resize(rng() % 5, "x");
    return p;
  };
  int ops = 0;
  while (ops < 100000) {
    db.write([&](hills::WriteTxn& txn) {
      auto parts = txn.tree<plm::Part>();
      for (int i = 0; i < 2000; ++i, ++ops) {
        unsigned action = live.empty() ? 0 : rng() % 3;
        if (action == 0) {
          live.push_back(parts.create(randomPart(ops)));
        } else if (action == 1) {
          parts.update(live[rng() % live.size()], randomPart(ops));
        } else {
          std::size_t at = rng() % live.size();
          parts.remove(live[at]);
          live[at] = live.back();
          live.pop_back();
        }
      }
    });
  }
  auto [lo, hi] = mappingOf(dir.path() + "/data.mdb");
  REQUIRE(lo < hi);
  std::size_t seen = 0, misaligned = 0, outside = 0;
  db.read([&](const hills::ReadTxn& txn) {
    auto parts = txn.tree<plm::Part>();
    parts.forEach([&](Key<plm::Part>, plm::Part::Reader r) {
      auto data =
          reinterpret_cast<std::uintptr_t>(capnp::AnyStruct::Reader(r).getDataSection().begin());
      misaligned += data % 8 != 0;
      outside += data < lo || data >= hi;
      ++seen;
    });
    for (std::size_t i = 0; i < live.size(); i += 97) {
      auto r = parts.read(live[i]);
      REQUIRE(r);
      auto data = reinterpret_cast<std::uintptr_t>(r->getDescription().begin());
      outside += data < lo || data >= hi;
    }
  });
  CHECK(seen == live.size());
  CHECK(misaligned == 0);
  CHECK(outside == 0);
  CHECK(db.stats().unalignedReads == 0);
}

TEST_CASE("a corrupt stored value is an error that names the tree and key",
          "[core][storage][corrupt]") {
  TempDir dir;
  Key<plm::Part> garbage, odd;
  {
    hills::Database db(dir.path(), plmOptions());
    db.write([&](hills::WriteTxn& txn) {
      garbage = txn.tree<plm::Part>().create(makePart(1));
      odd = txn.tree<plm::Part>().create(makePart(2));
    });
  }
  overwriteValue(dir.path(), garbage.id, std::string(32, '\xff'));
  overwriteValue(dir.path(), odd.id, std::string(13, '\0'));
  hills::Database db(dir.path(), plmOptions());
  db.read([&](const hills::ReadTxn& txn) {
    auto parts = txn.tree<plm::Part>();
    for (auto key : {garbage, odd}) {
      try {
        parts.get(key);
        FAIL("a corrupt value decoded");
      } catch (const hills::Error& e) {
        CHECK(e.code() == ErrorCode::kCorrupt);
        CHECK_THAT(e.what(), Catch::Contains("parts(" + std::to_string(key.id) + ", 0)"));
      }
    }
    CHECK_THROWS_AS(parts.forEach([](Key<plm::Part>, plm::Part::Reader r) { (void)r.getName(); }),
                    hills::Error);
  });
}

#ifdef NDEBUG
TEST_CASE("an unaligned value is copied before it is read, and counted",
          "[core][storage][alignment]") {
  hills::detail::DatabaseImpl db;
  db.path = "memory";
  hills::detail::TxnState txn;
  txn.db = &db;
  hills::detail::TreeState tree;
  tree.name = "parts";

  capnp::MallocMessageBuilder msg;
  msg.initRoot<hills::wire::Envelope>().setAuthor("someone");
  auto segment = msg.getSegmentsForOutput()[0].asBytes();
  const std::size_t size = segment.size();
  REQUIRE(size < 4096);
  // Storage with room to place the value one byte past an 8-byte boundary.
  std::vector<capnp::word> storage(size / sizeof(capnp::word) + 2);
  unsigned char* misaligned = reinterpret_cast<unsigned char*>(storage.data()) + 1;
  std::copy(segment.begin(), segment.begin() + size, misaligned);
  MDB_val v{size, misaligned};

  auto words = txn.words(v, tree, 1, 0);
  CHECK(hills::detail::isAligned(words.begin()));
  CHECK(db.unalignedReads == 1);
  hills::detail::ValueReader reader(words);
  CHECK(reader.getRoot<hills::wire::Envelope>().getAuthor() == "someone");
}
#endif
