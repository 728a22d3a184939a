// hills core against raw LMDB and SQLite, measured in one run on the same
// records. A program, not a test: it prints a table and `RATIO` lines.
//
//   core_bench [--records N] [--dir DIR]
#include <capnp/message.h>
#include <lmdb.h>
#include <sqlite3.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <random>
#include <stdexcept>

#include "bench_util.h"
#include "hills/hills.h"
#include "plm.hills.h"

namespace {

using hills::bench::medianNsPerOp;
using hills::bench::Report;
using PartKey = hills::Key<plm::Part>;

constexpr int kRounds = 5;

void check(int rc, const char* what) {
  if (rc != 0) throw std::runtime_error(std::string(what) + ": " + mdb_strerror(rc));
}

void sq(sqlite3* db, const char* sql) {
  char* err = nullptr;
  if (sqlite3_exec(db, sql, nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = err ? err : "?";
    sqlite3_free(err);
    throw std::runtime_error(std::string(sql) + ": " + msg);
  }
}

// A typical part: about 230 bytes of record data.
plm::Part makePart(std::uint64_t n) {
  plm::Part p{};
  p.number = "P-" + std::to_string(1000000 + n);
  p.name = "hex bolt M" + std::to_string(3 + n % 20) + "x" + std::to_string(10 + n % 90);
  p.description = "zinc plated steel, DIN 933, property class 8.8, thread pitch " +
                  std::to_string(n % 4) + ", for general assembly";
  p.kind = plm::Part::Kind::PURCHASED;
  p.mass = 0.001 * static_cast<double>(n % 1000);
  p.unitCost = 0.05f;
  p.leadTimeDays = static_cast<std::uint16_t>(n % 60);
  p.makeable = false;
  p.tags = {"fastener", "metric"};
  return p;
}

// --- raw LMDB: the same keys and value bytes, no hills in between ----------

struct RawLmdb {
  MDB_env* env = nullptr;
  MDB_dbi dbi = 0;
  RawLmdb(const std::string& dir, bool durable) {
    std::filesystem::create_directories(dir);
    check(mdb_env_create(&env), "env");
    check(mdb_env_set_mapsize(env, std::size_t{8} << 30), "mapsize");
    check(mdb_env_set_maxdbs(env, 4), "maxdbs");
    check(mdb_env_open(env, dir.c_str(), MDB_NOTLS | (durable ? 0 : MDB_NOSYNC), 0664), "open");
    MDB_txn* txn;
    check(mdb_txn_begin(env, nullptr, 0, &txn), "txn");
    check(mdb_dbi_open(txn, "parts", MDB_CREATE, &dbi), "dbi");
    check(mdb_txn_commit(txn), "commit");
  }
  ~RawLmdb() { mdb_env_close(env); }
};

void encodeKey(std::uint64_t id, unsigned char* k) {
  std::memset(k, 0, 16);
  for (int i = 0; i < 8; ++i) k[i] = static_cast<unsigned char>(id >> (56 - 8 * i));
}

// The value hills stores for a part: an envelope message around the record.
kj::Array<capnp::word> encodeValue(const plm::Part& p) {
  capnp::MallocMessageBuilder msg(1024);
  auto env = msg.initRoot<hills::wire::Envelope>();
  env.setTypeId(hills::RecordTraits<plm::Part>::typeId);
  env.setAuthor("bench");
  env.setDataIteration(1);
  env.setMetaIteration(1);
  hills::RecordTraits<plm::Part>::write(p, env.getBody().initAs<plm::Part::Capnp>());
  return kj::heapArray<capnp::word>(msg.getSegmentsForOutput()[0]);
}

class OneSegment final : public capnp::MessageReader {
 public:
  explicit OneSegment(kj::ArrayPtr<const capnp::word> w)
      : capnp::MessageReader(capnp::ReaderOptions()), w_(w) {}
  kj::ArrayPtr<const capnp::word> getSegment(uint id) override { return id == 0 ? w_ : nullptr; }

 private:
  kj::ArrayPtr<const capnp::word> w_;
};

// --- SQLite --------------------------------------------------------------

sqlite3* openSqlite(const std::string& path, bool best) {
  sqlite3* db = nullptr;
  if (sqlite3_open(path.c_str(), &db) != SQLITE_OK) throw std::runtime_error("sqlite open");
  if (best) {
    sq(db, "PRAGMA journal_mode=WAL");
    sq(db, "PRAGMA cache_size=-2000000");  // 2 GB: the whole table
  }
  return db;
}

void createSqliteTable(sqlite3* db, bool withoutRowid) {
  std::string sql =
      "CREATE TABLE parts(id INTEGER PRIMARY KEY, number TEXT, name TEXT, description TEXT, kind "
      "INTEGER, "
      "mass REAL, unit_cost REAL, lead_time INTEGER, makeable INTEGER, tags TEXT)";
  if (withoutRowid) sql += " WITHOUT ROWID";
  sq(db, sql.c_str());
}

void insertSqlite(sqlite3* db, const std::vector<plm::Part>& parts,
                  const std::vector<std::uint64_t>& ids) {
  sqlite3_stmt* st;
  sqlite3_prepare_v2(db, "INSERT INTO parts VALUES(?,?,?,?,?,?,?,?,?,?)", -1, &st, nullptr);
  sq(db, "BEGIN");
  for (std::size_t i = 0; i < parts.size(); ++i) {
    const auto& p = parts[i];
    sqlite3_bind_int64(st, 1, static_cast<sqlite3_int64>(ids[i]));
    sqlite3_bind_text(st, 2, p.number.data(), static_cast<int>(p.number.size()), SQLITE_STATIC);
    sqlite3_bind_text(st, 3, p.name.data(), static_cast<int>(p.name.size()), SQLITE_STATIC);
    sqlite3_bind_text(st, 4, p.description.data(), static_cast<int>(p.description.size()),
                      SQLITE_STATIC);
    sqlite3_bind_int(st, 5, static_cast<int>(p.kind));
    sqlite3_bind_double(st, 6, p.mass);
    sqlite3_bind_double(st, 7, p.unitCost);
    sqlite3_bind_int(st, 8, p.leadTimeDays);
    sqlite3_bind_int(st, 9, p.makeable);
    sqlite3_bind_text(st, 10, "fastener,metric", -1, SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_DONE) throw std::runtime_error("sqlite insert");
    sqlite3_reset(st);
  }
  sq(db, "COMMIT");
  sqlite3_finalize(st);
}

}  // namespace

int main(int argc, char** argv) {
  std::size_t records = 1000000;
  std::string base;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--records") == 0) records = std::stoull(argv[i + 1]);
    if (std::strcmp(argv[i], "--dir") == 0) base = argv[i + 1];
  }
  std::string tmp;
  if (base.empty()) {
    tmp = (std::filesystem::temp_directory_path() / "hills-core-bench-XXXXXX").string();
    if (!::mkdtemp(tmp.data())) throw std::runtime_error("mkdtemp");
    base = tmp;
  }
  std::filesystem::remove_all(base);
  std::filesystem::create_directories(base);
  const std::size_t lookups = std::min<std::size_t>(records, 200000);
  std::printf(
      "hills core benchmark: %zu records, %zu random lookups per round, median of %d rounds\n",
      records, lookups, kRounds);

  std::vector<plm::Part> parts;
  parts.reserve(records);
  for (std::size_t i = 0; i < records; ++i) parts.push_back(makePart(i));
  Report report;

  // ---- bulk create -------------------------------------------------------
  // Each round fills a fresh store; the last round's stores are read below.
  std::vector<PartKey> keys;
  std::unique_ptr<hills::Database> db;
  hills::Options options;
  options.trees = hills::treeTypes<plm::Part>();
  options.author = "bench";
  options.durable = false;  // bulk loads commit once; fsync cost is measured below
  options.initialMapSize = std::size_t{1} << 30;
  // The three stores take turns, round after round: the kernel's page work
  // (fresh pages zeroed, the commit's write) is a large part of each, and
  // must not favour whoever runs later.
  std::vector<kj::Array<capnp::word>> values;
  values.reserve(records);
  for (const auto& p : parts) values.push_back(encodeValue(p));
  std::vector<std::uint64_t> ids;
  for (std::size_t i = 0; i < records; ++i)
    ids.push_back(i + 1);  // what a fresh database hands out
  std::unique_ptr<RawLmdb> raw;
  auto creates = hills::bench::interleavedMedians(
      kRounds, records,
      {[&] {
         db.reset();
         std::filesystem::remove_all(base + "/hills");
         db = std::make_unique<hills::Database>(base + "/hills", options);
         keys = db->write([&](hills::WriteTxn& txn) {
           std::vector<PartKey> out;
           out.reserve(records);
           auto tree = txn.tree<plm::Part>();
           for (const auto& p : parts) out.push_back(tree.create(p));
           return out;
         });
       },
       [&] {
         raw.reset();
         std::filesystem::remove_all(base + "/raw");
         raw = std::make_unique<RawLmdb>(base + "/raw", false);
         MDB_txn* txn;
         check(mdb_txn_begin(raw->env, nullptr, 0, &txn), "txn");
         unsigned char k[16];
         for (std::size_t i = 0; i < records; ++i) {
           encodeKey(ids[i], k);
           MDB_val kv{16, k}, vv{values[i].size() * sizeof(capnp::word), values[i].begin()};
           check(mdb_put(txn, raw->dbi, &kv, &vv, MDB_APPEND), "put");
         }
         check(mdb_txn_commit(txn), "commit");
       },
       [&] {
         std::filesystem::remove(base + "/create.sqlite");
         std::filesystem::remove(base + "/create.sqlite-wal");
         sqlite3* s = openSqlite(base + "/create.sqlite", true);
         sq(s, "PRAGMA synchronous=OFF");
         createSqliteTable(s, true);
         insertSqlite(s, parts, ids);
         sqlite3_close(s);
       }});
  double hillsCreate = creates[0], rawCreate = creates[1], sqliteCreate = creates[2];
  for (std::size_t i = 0; i < records; ++i) {
    if (keys[i].id != ids[i]) throw std::runtime_error("hills handed out unexpected ids");
  }
  report.add("create", "hills bulk create, one transaction", hillsCreate);
  report.add("create", "raw LMDB append of prebuilt values", rawCreate);
  report.add("create", "SQLite inserts, one transaction", sqliteCreate);

  // ---- point reads -------------------------------------------------------
  std::mt19937_64 rng(42);
  std::vector<std::size_t> order(lookups);
  for (auto& i : order) i = rng() % records;

  volatile std::size_t sink = 0;
  double zeroCopy = medianNsPerOp(kRounds, lookups, [&](int) {
    db->read([&](const hills::ReadTxn& txn) {
      auto tree = txn.tree<plm::Part>();
      std::size_t sum = 0;
      for (auto i : order) {
        auto r = tree.read(keys[i]);
        sum += r->getName().size() + static_cast<std::size_t>(r->getMass());
      }
      sink = sink + sum;
    });
  });
  report.add("read", "hills zero-copy read (name, mass)", zeroCopy);

  double owned = medianNsPerOp(kRounds, lookups, [&](int) {
    db->read([&](const hills::ReadTxn& txn) {
      auto tree = txn.tree<plm::Part>();
      std::size_t sum = 0;
      for (auto i : order) {
        auto p = tree.get(keys[i]);
        sum += p->name.size() + static_cast<std::size_t>(p->mass);
      }
      sink = sink + sum;
    });
  });
  report.add("read", "hills owned read (whole record copied)", owned);

  double rawRead = medianNsPerOp(kRounds, lookups, [&](int) {
    MDB_txn* txn;
    check(mdb_txn_begin(raw->env, nullptr, MDB_RDONLY, &txn), "txn");
    unsigned char k[16];
    std::size_t sum = 0;
    for (auto i : order) {
      encodeKey(keys[i].id, k);
      MDB_val kv{16, k}, vv;
      check(mdb_get(txn, raw->dbi, &kv, &vv), "get");
      OneSegment msg(
          {static_cast<const capnp::word*>(vv.mv_data), vv.mv_size / sizeof(capnp::word)});
      auto part = msg.getRoot<hills::wire::Envelope>().getBody().getAs<plm::Part::Capnp>();
      sum += part.getName().size() + static_cast<std::size_t>(part.getMass());
    }
    mdb_txn_abort(txn);
    sink = sink + sum;
  });
  report.add("read", "raw LMDB mdb_get + checked capnp root read", rawRead);

  // SQLite's best: WITHOUT ROWID, a cache that holds the table, one read
  // transaction for every lookup, a prepared statement.
  double sqliteBest = 0, sqliteDefault = 0;
  {
    sqlite3* s = openSqlite(base + "/create.sqlite", true);
    sqlite3_stmt* st;
    sqlite3_prepare_v2(s, "SELECT name, mass FROM parts WHERE id = ?", -1, &st, nullptr);
    auto lookup = [&](std::size_t i) {
      sqlite3_bind_int64(st, 1, static_cast<sqlite3_int64>(keys[i].id));
      if (sqlite3_step(st) != SQLITE_ROW) throw std::runtime_error("sqlite lookup");
      std::size_t n = static_cast<std::size_t>(sqlite3_column_bytes(st, 0)) +
                      static_cast<std::size_t>(sqlite3_column_double(st, 1));
      sqlite3_reset(st);
      return n;
    };
    for (auto i : order) sink = sink + lookup(i);  // warm the cache
    sqliteBest = medianNsPerOp(kRounds, lookups, [&](int) {
      sq(s, "BEGIN");
      std::size_t sum = 0;
      for (auto i : order) sum += lookup(i);
      sq(s, "COMMIT");
      sink = sink + sum;
    });
    sqlite3_finalize(st);
    sqlite3_close(s);
  }
  report.add("read", "SQLite best: WITHOUT ROWID, big cache, one txn", sqliteBest);
  {
    // SQLite's default: a rowid table, default cache, each SELECT its own
    // transaction.
    std::filesystem::remove(base + "/default.sqlite");
    sqlite3* s = openSqlite(base + "/default.sqlite", false);
    sq(s, "PRAGMA synchronous=OFF");
    createSqliteTable(s, false);
    insertSqlite(s, parts, ids);
    sq(s, "PRAGMA synchronous=FULL");
    sqlite3_stmt* st;
    sqlite3_prepare_v2(s, "SELECT name, mass FROM parts WHERE id = ?", -1, &st, nullptr);
    sqliteDefault = medianNsPerOp(kRounds, lookups, [&](int) {
      std::size_t sum = 0;
      for (auto i : order) {
        sqlite3_bind_int64(st, 1, static_cast<sqlite3_int64>(keys[i].id));
        if (sqlite3_step(st) != SQLITE_ROW) throw std::runtime_error("sqlite lookup");
        sum += static_cast<std::size_t>(sqlite3_column_bytes(st, 0));
        sqlite3_reset(st);
      }
      sink = sink + sum;
    });
    sqlite3_finalize(st);
    sqlite3_close(s);
  }
  report.add("read", "SQLite default: rowid table, txn per SELECT", sqliteDefault);

  // ---- full scan of one field -------------------------------------------
  double scan = medianNsPerOp(kRounds, records, [&](int) {
    db->read([&](const hills::ReadTxn& txn) {
      std::size_t sum = 0;
      txn.tree<plm::Part>().forEach(
          [&](PartKey, plm::Part::Reader r) { sum += r.getName().size(); });
      sink = sink + sum;
    });
  });
  report.add("scan", "hills scan, one field (checked reader)", scan);
  double sqliteScan = 0;
  {
    sqlite3* s = openSqlite(base + "/create.sqlite", true);
    sqlite3_stmt* st;
    sqlite3_prepare_v2(s, "SELECT name FROM parts", -1, &st, nullptr);
    sqliteScan = medianNsPerOp(kRounds, records, [&](int) {
      std::size_t sum = 0;
      while (sqlite3_step(st) == SQLITE_ROW)
        sum += static_cast<std::size_t>(sqlite3_column_bytes(st, 0));
      sqlite3_reset(st);
      sink = sink + sum;
    });
    sqlite3_finalize(st);
    sqlite3_close(s);
  }
  report.add("scan", "SQLite scan, one column", sqliteScan);

  // ---- reading a value through against its schema -------------------------
  // What the server and every replica do to a value that comes from another
  // database before storing it (StoredRecord::check), per record.
  double checked = medianNsPerOp(kRounds, records, [&](int) {
    db->read([&](const hills::ReadTxn& txn) {
      std::size_t n = 0;
      txn.tree("parts").scan(0, UINT64_MAX, [&](const hills::StoredRecord& rec) {
        rec.check();
        ++n;
        return true;
      });
      sink = sink + n;
    });
  });
  report.add("scan", "hills scan, every value read through against the schema", checked);

  // ---- events and an index on the write path ------------------------------
  // The same writes with no subscriber and no indexer, and with a subscriber
  // (which counts events) and a unique index of part numbers.
  const std::size_t eventRecords = std::min<std::size_t>(records, 200000);
  const std::size_t updates = std::min<std::size_t>(records, 20000);
  std::vector<std::size_t> updateOrder(updates);
  for (auto& u : updateOrder) u = rng() % eventRecords;
  // A store without and a store with the subscriber and the index take
  // turns, round after round.
  struct Store {
    hills::Options options;
    std::unique_ptr<hills::Database> db;
    hills::Subscription sub;
    std::vector<PartKey> keys;
    std::uint64_t events = 0;
    std::string dir;
  };
  Store bare{options, nullptr, {}, {}, 0, base + "/events-bare"};
  Store observed{options, nullptr, {}, {}, 0, base + "/events-observed"};
  hills::NameOptions unique;
  unique.unique = true;
  observed.options.indexers = {std::make_shared<hills::NameIndex<plm::Part>>(
      "part-numbers", 1, [](plm::Part::Reader p) { return std::string(p.getNumber()); }, unique)};
  auto createIn = [&](Store& st, bool listen) {
    st.sub.cancel();
    st.db.reset();
    std::filesystem::remove_all(st.dir);
    st.db = std::make_unique<hills::Database>(st.dir, st.options);
    if (listen) st.sub = st.db->subscribe({}, [&st](const hills::Event&) { ++st.events; });
    st.keys = st.db->write([&](hills::WriteTxn& txn) {
      std::vector<PartKey> out;
      auto tree = txn.tree<plm::Part>();
      for (std::size_t i = 0; i < eventRecords; ++i) out.push_back(tree.create(parts[i]));
      return out;
    });
  };
  int updateRound = 0;
  auto updateIn = [&](Store& st) {
    ++updateRound;
    for (std::size_t i = 0; i < updates; ++i) {
      auto k = st.keys[updateOrder[i]];
      auto p = parts[updateOrder[i]];
      p.name = "rev " + std::to_string(updateRound);
      st.db->write([&](hills::WriteTxn& txn) { txn.tree<plm::Part>().update(k, p); });
    }
  };
  auto createTimes = hills::bench::interleavedMedians(
      kRounds, eventRecords, {[&] { createIn(bare, false); }, [&] { createIn(observed, true); }});
  auto updateTimes = hills::bench::interleavedMedians(
      kRounds, updates, {[&] { updateIn(bare); }, [&] { updateIn(observed); }});
  if (observed.events == 0 || bare.events != 0) throw std::runtime_error("events went astray");
  double createBare = createTimes[0], createObserved = createTimes[1];
  double updateBare = updateTimes[0], updateObserved = updateTimes[1];
  observed.sub.cancel();

  report.add("events", "bulk create, no events, no index", createBare);
  report.add("events", "bulk create, events + unique name index", createObserved);
  report.add("events", "single update txn, no events, no index", updateBare);
  report.add("events", "single update txn, events + unique name index", updateObserved);

  // ---- durable single-record commits --------------------------------------
  // The three stores take turns, each after sync(), so that none pays for
  // the others' (or the bulk loads') dirty pages.
  const std::size_t commits = 200;
  db.reset();
  double durableHills = 0, durableRaw = 0, durableSqlite = 0;
  {
    hills::Options d;
    d.trees = hills::treeTypes<plm::Part>();
    d.author = "bench";  // durable is the default
    hills::Database ddb(base + "/durable-hills", d);
    RawLmdb r(base + "/durable-raw", true);
    sqlite3* s = openSqlite(base + "/durable.sqlite", false);
    sq(s, "PRAGMA journal_mode=WAL");
    sq(s, "PRAGMA synchronous=FULL");
    createSqliteTable(s, false);
    sqlite3_stmt* st;
    sqlite3_prepare_v2(s, "INSERT INTO parts(id, number, name, description) VALUES(?,?,?,?)", -1,
                       &st, nullptr);
    std::uint64_t next = 1;
    std::vector<double> h, rr, q;
    auto timed = [&](std::vector<double>& out, auto&& body) {
      ::sync();
      auto start = hills::bench::Clock::now();
      for (std::size_t i = 0; i < commits; ++i) body(i);
      out.push_back(
          std::chrono::duration<double, std::nano>(hills::bench::Clock::now() - start).count() /
          static_cast<double>(commits));
    };
    for (int round = 0; round < kRounds; ++round) {
      timed(h, [&](std::size_t i) {
        ddb.write([&](hills::WriteTxn& txn) { txn.tree<plm::Part>().create(parts[i]); });
      });
      timed(rr, [&](std::size_t i) {
        MDB_txn* txn;
        check(mdb_txn_begin(r.env, nullptr, 0, &txn), "txn");
        unsigned char k[16];
        encodeKey(next++, k);
        MDB_val kv{16, k}, vv{values[i].size() * sizeof(capnp::word), values[i].begin()};
        check(mdb_put(txn, r.dbi, &kv, &vv, 0), "put");
        check(mdb_txn_commit(txn), "commit");
      });
      timed(q, [&](std::size_t i) {
        sqlite3_bind_int64(st, 1, static_cast<sqlite3_int64>(next++));
        sqlite3_bind_text(st, 2, parts[i].number.c_str(), -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, parts[i].name.c_str(), -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 4, parts[i].description.c_str(), -1, SQLITE_STATIC);
        if (sqlite3_step(st) != SQLITE_DONE) throw std::runtime_error("sqlite insert");
        sqlite3_reset(st);
      });
    }
    auto median = [](std::vector<double> v) {
      std::sort(v.begin(), v.end());
      return v[v.size() / 2];
    };
    durableHills = median(h);
    durableRaw = median(rr);
    durableSqlite = median(q);
    sqlite3_finalize(st);
    sqlite3_close(s);
  }
  report.add("durable", "hills single-record commit (fsync)", durableHills);
  report.add("durable", "raw LMDB single-put commit (fsync)", durableRaw);
  report.add("durable", "SQLite WAL synchronous=FULL insert", durableSqlite);

  raw.reset();
  report.ratio("zero_copy_read_vs_raw_lmdb", zeroCopy / rawRead, "<= 1.15 (time ratio)");
  report.ratio("owned_read_vs_raw_lmdb", owned / rawRead, "<= 1.3 (time ratio)");
  report.ratio("read_speedup_vs_sqlite_best", sqliteBest / zeroCopy, ">= 2.4");
  report.ratio("read_speedup_vs_sqlite_default", sqliteDefault / zeroCopy, ">= 5");
  report.ratio("bulk_create_vs_raw_lmdb_append", rawCreate / hillsCreate, ">= 0.7 (speed ratio)");
  report.ratio("bulk_create_speedup_vs_sqlite", sqliteCreate / hillsCreate, ">= 3");
  report.ratio("scan_vs_sqlite", sqliteScan / scan, ">= 0.9 (speed ratio)");
  report.ratio("schema_check_per_record_vs_one_field_scan", checked / scan,
               "(informational: the check's cost per record, as a time ratio)");
  report.ratio("create_with_events_and_index_vs_bare", createObserved / createBare,
               "<= 1.3 (time ratio)");
  report.ratio("update_with_events_and_index_vs_bare", updateObserved / updateBare,
               "<= 1.3 (time ratio)");
  report.ratio("durable_commit_vs_raw_lmdb", durableRaw / durableHills,
               "(speed ratio, informational)");
  report.ratio("durable_commit_speedup_vs_sqlite", durableSqlite / durableHills, "(informational)");
  report.printTable();
  if (!tmp.empty()) std::filesystem::remove_all(tmp);
  return 0;
}
