// Writes the seed corpora of the fuzz targets (tests/fuzz/corpus/<target>)
// from valid messages: stored values and change-log entries of real
// databases, the parameters a client sends, JSON of real records,
// configurations. Run again after a wire format changes:
//
//   build/tests/fuzz/make_fuzz_corpus tests/fuzz/corpus
//
// Files are named by what they hold; crash inputs fixed since are kept in
// the same directories under crash-* names and are not rewritten.
#include <capnp/message.h>
#include <capnp/serialize.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "cells.capnp.h"
#include "fuzz_trees.h"
#include "hills/sync.capnp.h"
#include "replication.h"

namespace {

namespace fs = std::filesystem;
using hills::test::Words;
using Bytes = std::vector<std::uint8_t>;

fs::path out;

void write(const std::string& target, const std::string& name, const Bytes& bytes) {
  fs::create_directories(out / target);
  std::ofstream f(out / target / name, std::ios::binary | std::ios::trunc);
  f.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

// `prefix` followed by the bytes of `words`.
Bytes withPrefix(Bytes prefix, kj::ArrayPtr<const capnp::word> words) {
  auto bytes = words.asBytes();
  prefix.insert(prefix.end(), bytes.begin(), bytes.end());
  return prefix;
}

Bytes flat(capnp::MessageBuilder& msg, Bytes prefix = {}) {
  auto words = capnp::messageToFlatArray(msg);
  return withPrefix(std::move(prefix), words);
}

std::uint8_t treeIndex(std::string_view tree) {
  for (std::size_t i = 0; i < hills::fuzz::kTreeCount; ++i) {
    if (tree == hills::fuzz::kTrees[i]) return static_cast<std::uint8_t>(i);
  }
  throw std::logic_error("no such tree");
}

// Records of every tree, with fields set and left out.
void fill(hills::WriteTxn& txn) {
  txn.tree<plm::Part>().create(hills::test::makePart(1));
  txn.tree<plm::Part>().create({.number = "P-2", .name = "", .tags = {}});
  auto parts = txn.tree<plm::Part>();
  auto released = parts.create(hills::test::makePart(3, 200));
  parts.release(released);
  txn.tree<plm::Bom>().create({});
  txn.tree<plm::StockItem>().create({});
  auto samples = txn.tree<kinds::records::Sample>();
  samples.create({});
  kinds::records::Sample s{};
  s.label = "label";
  s.numbers = {1, 2, 3};
  s.words = {"x", "", "zzz"};
  s.grid = {{"a"}, {}, {"b", "c"}};
  s.cube = {{{1, 2}}, {}};
  s.blobs = {{1, 2, 3}};
  s.inners.resize(2);
  s.inners[0].children.resize(1);
  samples.create(s);
  txn.tree<shared::Owner>().create({.name = "owner"});
}

// The cell target's schema of its own (after the trees): a value with every
// list set, and one with every pointer null (their defaults).
void cells() {
  auto index = static_cast<std::uint8_t>(hills::fuzz::kTreeCount);
  auto value = [&](const std::string& name, auto fill) {
    capnp::MallocMessageBuilder msg;
    auto envelope = msg.initRoot<hills::wire::Envelope>();
    fill(envelope.getBody().initAs<cells::Cells>());
    auto segments = msg.getSegmentsForOutput();
    if (segments.size() != 1) throw std::logic_error("a stored value is one segment");
    write("cell", name + "-wide", withPrefix({index, 200}, segments[0]));
    write("cell", name + "-narrow", withPrefix({index, 9}, segments[0]));
  };
  value("cells-unset", [](cells::Cells::Builder) {});
  value("cells-set", [](cells::Cells::Builder c) {
    c.initVoids(2);
    c.initBools(3).set(1, true);
    c.initI8(1).set(0, -5);
    c.initI16(1).set(0, -300);
    c.initI32(1).set(0, 70000);
    c.initI64(1).set(0, -5000000000);
    c.initU8(1).set(0, 200);
    c.initU16(1).set(0, 60000);
    c.initU32(1).set(0, 4000000000u);
    c.initU64(1).set(0, 10000000000000000000u);
    c.initF32(2).set(1, 2.5f);
    c.initF64(2).set(0, 0.1);
    c.initTexts(2).set(0, "R1");
    c.initDatas(1).set(0, capnp::Data::Reader(reinterpret_cast<const capnp::byte*>("\x89PNG"), 4));
    c.initColours(2).set(1, cells::Cells::Colour::GREEN);
    c.initInners(2)[1].setB("inner");
    c.initRefs(2)[0].setId(5);
    c.initGrid(2).init(1, 2).set(0, 3);
    c.getGroup().initXs(1).set(0, 4.5f);
    c.initPicked(2).set(1, 7);
  });
}

void values() {
  hills::test::TempDir dir;
  hills::Database db(dir.sub("db"), hills::fuzz::withFuzzTrees(hills::test::plmOptions()));
  db.write(fill);
  int n = 0;
  db.read([&](const hills::ReadTxn& txn) {
    for (const char* tree : hills::fuzz::kTrees) {
      txn.tree(tree).scan(0, UINT64_MAX, [&](const hills::StoredRecord& rec) {
        auto index = treeIndex(tree);
        std::string base = std::string(tree) + "-" + std::to_string(rec.id());
        write("value", base, withPrefix({index, 0}, rec.value()));
        // The cells of the record, wide and narrow (byte 1 is their width).
        write("cell", base + "-wide", withPrefix({index, 200}, rec.value()));
        write("cell", base + "-narrow", withPrefix({index, 9}, rec.value()));
        // The same value as another record, and in the wrong tree.
        write("value", base + "-new", withPrefix({index, 3}, rec.value()));
        write("value", base + "-elsewhere",
              withPrefix({static_cast<std::uint8_t>((index + 1) % hills::fuzz::kTreeCount), 1},
                         rec.value()));
        ++n;
        return true;
      });
    }
  });
  write("value", "empty-removes", {0, 0});
  cells();
}

void changes() {
  hills::test::TempDir dir;
  hills::Database server(dir.sub("server"), hills::test::serverOptions());
  auto a = hills::test::createPart(server, 1);
  auto b = hills::test::createPart(server, 2);
  server.write([&](hills::WriteTxn& txn) {
    auto parts = txn.tree<plm::Part>();
    auto part = *parts.get(a);
    part.name = "renamed";
    parts.update(a, part);
    parts.release(b);
    auto next = parts.newRevision(b);
    parts.setLifecycle(b, 4);
    parts.remove(next);
    txn.tree<plm::Bom>().create({.assembly = a});
  });
  auto borrow = hills::test::checkOut(server, a, "A");
  server.write([&](hills::WriteTxn& txn) {
    hills::server::CheckIn in;
    in.holder = "A";
    in.fencing = borrow.fencing;
    hills::server::checkIn(txn, hills::opaque(a), in);
  });
  hills::test::checkOut(server, a, "B");
  server.write([&](hills::WriteTxn& txn) { hills::server::breakBorrow(txn, hills::opaque(a), "admin"); });
  server.read([&](const hills::ReadTxn& txn) {
    txn.changes(0, [&](hills::wire::Change::Reader c) {
      capnp::MallocMessageBuilder copy;
      copy.setRoot(c);
      write("change", "entry-" + std::to_string(c.getSequence()), flat(copy));
      // The same entry from another tree's name and with another origin.
      copy.getRoot<hills::wire::Change>().setTree(c.getTree() == "parts" ? "boms" : "parts");
      write("change", "entry-" + std::to_string(c.getSequence()) + "-other-tree", flat(copy));
      return true;
    });
  });
}

// The parameters of each Session method, as a client sends them.
void rpc() {
  using namespace hills::sync;
  auto key = [](Key::Builder k, std::uint64_t id) {
    k.setTree("parts");
    k.setId(id);
  };
  auto method = [](int m) { return Bytes{static_cast<std::uint8_t>(m)}; };
  {
    capnp::MallocMessageBuilder msg;
    auto hello = msg.initRoot<Gate::HelloParams>().initHello();
    hello.setClient("fuzz");
    hello.setToken("fuzz-token");
    hello.setProtocol(PROTOCOL_VERSION);
    write("rpc", "hello", flat(msg, method(0)));
    hello.setToken("wrong");
    write("rpc", "hello-wrong-token", flat(msg, method(0)));
    hello.setClient("reader");
    hello.setToken("reader-token");
    hello.setPinnedServer("00000000-0000-0000-0000-000000000000");
    write("rpc", "hello-other-server", flat(msg, method(0)));
  }
  {
    capnp::MallocMessageBuilder msg;
    auto p = msg.initRoot<Session::GrantIdsParams>();
    p.setTree("parts");
    p.setCount(10);
    write("rpc", "grant-ids", flat(msg, method(1)));
  }
  {
    capnp::MallocMessageBuilder msg;
    msg.initRoot<Session::PullParams>().setLimit(100);
    write("rpc", "pull", flat(msg, method(2)));
  }
  {
    capnp::MallocMessageBuilder msg;
    msg.initRoot<Session::SubscribeParams>().setAfter(1);
    write("rpc", "subscribe", flat(msg, method(3)));
  }
  {
    // A create with the stored value of a record another database made.
    hills::test::TempDir dir;
    hills::Database other(dir.sub("db"), hills::test::plmOptions());
    auto made = hills::test::createPart(other, 9);
    auto value = hills::test::valueOf(other, made);
    capnp::MallocMessageBuilder msg;
    auto items = msg.initRoot<Session::PushParams>().initItems(2);
    key(items[0].initKey(), 5000);
    items[0].setCreate(hills::test::bytesOf(value));
    key(items[1].initKey(), 1);
    auto in = items[1].initCheckIn();
    in.setFencing(1);
    in.setKeepBorrow(true);
    write("rpc", "push", flat(msg, method(4)));
  }
  {
    capnp::MallocMessageBuilder msg;
    auto keys = msg.initRoot<Session::CheckOutParams>().initKeys(2);
    key(keys[0], 1);
    key(keys[1], 2);
    write("rpc", "check-out", flat(msg, method(5)));
  }
  {
    capnp::MallocMessageBuilder msg;
    key(msg.initRoot<Session::ReleaseParams>().initKey(), 2);
    write("rpc", "release", flat(msg, method(6)));
  }
  {
    capnp::MallocMessageBuilder msg;
    key(msg.initRoot<Session::NewRevisionParams>().initKey(), 2);
    write("rpc", "new-revision", flat(msg, method(7)));
  }
  {
    capnp::MallocMessageBuilder msg;
    auto p = msg.initRoot<Session::SetLifecycleParams>();
    key(p.initKey(), 3);
    p.setLifecycle(2);
    write("rpc", "set-lifecycle", flat(msg, method(8)));
  }
  {
    capnp::MallocMessageBuilder msg;
    msg.initRoot<Session::ListBorrowsParams>();
    write("rpc", "list-borrows", flat(msg, method(9)));
  }
  {
    capnp::MallocMessageBuilder msg;
    key(msg.initRoot<Session::BreakBorrowParams>().initKey(), 1);
    write("rpc", "break-borrow", flat(msg, method(10)));
  }
  {
    capnp::MallocMessageBuilder msg;
    msg.initRoot<Session::LastSequenceParams>();
    write("rpc", "last-sequence", flat(msg, method(11)));
  }
  {
    capnp::MallocMessageBuilder msg;
    auto p = msg.initRoot<Session::ClaimIdsParams>();
    p.setTree("parts");
    p.setStart(hills::kClaimableIds);
    p.setEnd(hills::kClaimableIds + 100);
    write("rpc", "claim-ids", flat(msg, method(12)));
  }
}

Bytes text(std::uint8_t prefix, std::string_view s) {
  Bytes b(1 + s.size());
  b[0] = prefix;
  std::copy(s.begin(), s.end(), b.begin() + 1);
  return b;
}

void json() {
  hills::test::TempDir dir;
  hills::Database db(dir.sub("db"), hills::fuzz::withFuzzTrees(hills::test::plmOptions()));
  db.write(fill);
  db.read([&](const hills::ReadTxn& txn) {
    for (const char* tree : hills::fuzz::kTrees) {
      auto view = txn.tree(tree);
      view.scan(0, UINT64_MAX, [&](const hills::StoredRecord& rec) {
        auto index = treeIndex(tree);
        std::string j = hills::toJson(view, rec);
        std::string base = std::string(tree) + "-" + std::to_string(rec.id());
        write("json", base + "-create", text(index, j));
        write("json", base + "-update",
              text(static_cast<std::uint8_t>(index + hills::fuzz::kTreeCount), j));
        return true;
      });
    }
  });
  write("json", "parts-numbers-as-strings",
        text(0, R"({"number": "P-1", "mass": "NaN", "tags": ["a", "b"], "introducedAt": "0x2a"})"));
  write("json", "samples-every-kind",
        text(3, R"({"flag": false, "i64": "-5", "u64": "18446744073709551615", "f32": "Infinity",)"
                R"( "colour": "green", "blob": [0, 255], "grid": [["a"], []],)"
                R"( "inner": {"children": [{"mode": "off"}]}, "owner": {"id": "1"}})"));
  write("json", "samples-wrong-types", text(8, R"({"numbers": "x", "inner": [], "label": 3})"));
  write("json", "unknown-field", text(1, R"({"nope": 1})"));
  write("json", "not-json", text(2, "{\"number\": "));
}

void configs() {
  auto put = [](const std::string& name, std::string_view s) {
    write("config", name, Bytes(s.begin(), s.end()));
  };
  put("clients", R"({"clients": [{"name": "line-3", "token": "s3cret", "write": true},)"
                 R"( {"name": "office", "token": "t0ken", "write": true, "admin": true}],)"
                 R"( "plaintext": true})");
  put("limits", R"({"clients": [{"name": "a", "token": "b", "read": false}], "idBlock": "100",)"
                R"( "batchChanges": 10, "maxConnections": 5, "helloTimeoutMs": 2000,)"
                R"( "plaintext": true})");
  put("zero-limit", R"({"clients": [], "idBlock": 0, "plaintext": true})");
  put("twice", R"({"clients": [{"name": "a", "token": "b"}, {"name": "a", "token": "c"}],)"
               R"( "plaintext": true})");
  put("no-token", R"({"clients": [{"name": "a"}], "plaintext": true})");
  put("wrong-shape", R"({"clients": {"name": "a"}})");
  put("no-transport", R"({"clients": []})");
  put("tls", R"({"clients": [], "tls": {"certificateFile": "/nonexistent/server.crt",)"
             R"( "keyFile": "server.key"}})");
  put("tls-and-plaintext", R"({"clients": [], "plaintext": true, "tls": {"certificateFile": "a",)"
                           R"( "keyFile": "b"}})");
  put("empty", "");
  put("not-json", "clients: a");
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: make_fuzz_corpus <corpus directory>\n";
    return 2;
  }
  out = argv[1];
  values();
  changes();
  rpc();
  json();
  configs();
  std::cout << "seed corpora written to " << out << "\n";
  return 0;
}
