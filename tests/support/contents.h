// What databases hold, as hashes of their stored bytes: to tell whether
// replicas and their server hold the same records, byte for byte, and
// which records differ when they do not.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <utility>

#include "hills/hills.h"
#include "plm_fixtures.h"

namespace hills::test {

constexpr std::uint64_t kFnvOffset = 14695981039346656037ull;
constexpr std::uint64_t kFnvPrime = 1099511628211ull;

// Folds `size` bytes into a 64-bit FNV-1a hash.
inline std::uint64_t fold(std::uint64_t hash, const void* data, std::size_t size) {
  auto* bytes = static_cast<const unsigned char*>(data);
  for (std::size_t i = 0; i < size; ++i) {
    hash ^= bytes[i];
    hash *= kFnvPrime;
  }
  return hash;
}

// The FNV-1a hash of a stored value.
inline std::uint64_t hashOf(const hills::StoredRecord& rec) {
  auto value = rec.value().asBytes();
  return fold(kFnvOffset, value.begin(), value.size());
}

// What one tree holds: its record count and a 64-bit FNV-1a of every
// (id, revision, stored value) in key order.
struct TreeDigest {
  std::uint64_t records = 0;
  std::uint64_t hash = kFnvOffset;
  friend bool operator==(const TreeDigest&, const TreeDigest&) = default;
};

// The digest of every tree of the PLM schema in `db`.
inline std::map<std::string, TreeDigest> digest(const hills::Database& db) {
  std::map<std::string, TreeDigest> out;
  db.read([&](const hills::ReadTxn& txn) {
    for (const char* name : {"parts", "boms", "stock"}) {
      TreeDigest d;
      txn.tree(name).scan(0, UINT64_MAX, [&](const hills::StoredRecord& rec) {
        std::uint64_t id = rec.id();
        std::uint32_t revision = rec.revision();
        auto value = rec.value().asBytes();
        d.hash = fold(d.hash, &id, sizeof(id));
        d.hash = fold(d.hash, &revision, sizeof(revision));
        d.hash = fold(d.hash, value.begin(), value.size());
        ++d.records;
        return true;
      });
      out[name] = d;
    }
  });
  return out;
}

// A digest as text, for a failed check to show.
inline std::string show(const std::map<std::string, TreeDigest>& d) {
  std::string out;
  for (auto& [name, t] : d) {
    out +=
        name + ": " + std::to_string(t.records) + " records, hash " + std::to_string(t.hash) + "; ";
  }
  return out;
}

// Every record of the tree `tree` in `db`: (id, revision) -> hashOf its value.
using RecordHashes = std::map<std::pair<std::uint64_t, std::uint32_t>, std::uint64_t>;
inline RecordHashes recordHashes(const hills::Database& db, const std::string& tree = "parts") {
  RecordHashes out;
  db.read([&](const hills::ReadTxn& txn) {
    txn.tree(tree).scan(0, UINT64_MAX, [&](const hills::StoredRecord& rec) {
      out[{rec.id(), rec.revision()}] = hashOf(rec);
      return true;
    });
  });
  return out;
}

// How many records differ between `a` and `b`: in one and not the other,
// or in both with other bytes.
inline std::uint64_t differences(const RecordHashes& a, const RecordHashes& b) {
  std::uint64_t n = 0;
  for (auto& [key, hash] : a) {
    auto other = b.find(key);
    if (other == b.end() || other->second != hash) ++n;
  }
  for (auto& [key, hash] : b) n += a.count(key) == 0 ? 1 : 0;
  return n;
}

// How the test opens a hills-server's own database once the server stopped.
inline hills::Options serverSideOptions() {
  hills::Options o = hills::test::plmOptions();
  o.changeLog = true;
  o.author = "hills-server";
  return o;
}

}  // namespace hills::test
