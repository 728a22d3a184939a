#include <capnp/any.h>
#include <capnp/message.h>

#include <catch2/catch.hpp>
#include <functional>
#include <vector>

#include "error_of.h"
#include "hills/record.capnp.h"
#include "plm_fixtures.h"
#include "temp_dir.h"

using hills::ErrorCode;
using hills::test::errorOf;
using hills::test::makePart;
using hills::test::plmOptions;
using hills::test::TempDir;

namespace {

using Words = std::vector<capnp::word>;

// The sections of a body wider than this program's Part.
struct Widened {
  std::uint16_t data = 0;
  std::uint16_t pointers = 0;
};

// The stored value of a part made in a database of its own, as another
// database would send it.
Words partValue(const std::string& dir, int n) {
  hills::Database source(dir, plmOptions());
  return source.write([&](hills::WriteTxn& txn) {
    auto key = txn.tree<plm::Part>().create(makePart(n));
    auto value = txn.tree("parts").find(key.id, 0).value();
    return Words(value.begin(), value.end());
  });
}

// `value` rebuilt with `edit` applied to its body (a struct of the Part's
// layout, or wider), as one segment.
Words edited(const Words& value, std::function<void(capnp::AnyStruct::Builder)> edit,
             Widened size = {}) {
  hills::detail::ValueReader reader(kj::ArrayPtr<const capnp::word>(value.data(), value.size()));
  auto original = reader.getRoot<hills::wire::Envelope>();
  capnp::MallocMessageBuilder builder(1u << 16);  // words: one segment for every value here
  builder.setRoot(original);
  auto envelope = builder.getRoot<hills::wire::Envelope>();
  if (size.data != 0 || size.pointers != 0) {
    // A body wider than the Part of this program: a newer program's.
    auto body = original.getBody().getAs<capnp::AnyStruct>();
    auto wide = envelope.getBody().initAsAnyStruct(size.data, size.pointers);
    auto from = body.getDataSection();
    std::copy(from.begin(), from.end(), wide.getDataSection().begin());
    auto pointers = body.getPointerSection();
    for (unsigned i = 0; i < pointers.size(); ++i) wide.getPointerSection()[i].set(pointers[i]);
  }
  edit(envelope.getBody().getAs<capnp::AnyStruct>());
  auto segments = builder.getSegmentsForOutput();
  REQUIRE(segments.size() == 1);
  return Words(segments[0].begin(), segments[0].end());
}

unsigned pointerOf(const char* field) {
  auto schema = capnp::Schema::from<plm::capnp::Part>();
  return schema.getFieldByName(field).getProto().getSlot().getOffset();
}

kj::ArrayPtr<const kj::byte> bytes(const Words& w) {
  return kj::arrayPtr(w.data(), w.size()).asBytes();
}

// Adopts `value` as part `id` and returns what was refused, or nothing.
std::optional<hills::Error> adopt(hills::Database& db, std::uint64_t id, const Words& value) {
  try {
    db.write([&](hills::WriteTxn& txn) { txn.tree("parts").adopt(id, 0, bytes(value), "other"); });
  } catch (const hills::Error& e) {
    return e;
  }
  return std::nullopt;
}

}  // namespace

TEST_CASE("a value whose Text field holds a struct is refused naming the field, and nothing is stored",
          "[core][check]") {
  TempDir dir;
  auto good = partValue(dir.sub("source"), 1);
  auto poisoned = edited(good, [](capnp::AnyStruct::Builder body) {
    body.getPointerSection()[pointerOf("number")].initAsAnyStruct(1, 1);
  });
  hills::Database db(dir.sub("db"), plmOptions());
  auto error = adopt(db, 1, poisoned);
  REQUIRE(error);
  CHECK(error->code() == ErrorCode::kCorrupt);
  CHECK_THAT(error->what(), Catch::Contains("parts(1, 0)") && Catch::Contains("field 'number'"));
  db.read([](const hills::ReadTxn& txn) {
    CHECK_FALSE(txn.tree("parts").contains(1, 0));
    CHECK(txn.lastSequence() == 0);
  });
  // The same value, whole, is stored.
  CHECK_FALSE(adopt(db, 1, good));
}

TEST_CASE("a value is read down through lists and nested structs, the path naming the element",
          "[core][check]") {
  TempDir dir;
  auto good = partValue(dir.sub("source"), 2);
  hills::Database db(dir.sub("db"), plmOptions());
  SECTION("a list of Text holding a list among its texts") {
    auto bad = edited(good, [](capnp::AnyStruct::Builder body) {
      // A list of pointers whose second element is a list of texts, not a
      // text (the first is null, which reads as an empty text).
      auto tags = body.getPointerSection()[pointerOf("tags")]
                      .initAs<capnp::List<capnp::List<capnp::Text>>>(2);
      tags.init(1, 3);
    });
    auto error = adopt(db, 2, bad);
    REQUIRE(error);
    CHECK(error->code() == ErrorCode::kCorrupt);
    CHECK_THAT(error->what(), Catch::Contains("field 'tags[1]'"));
  }
  SECTION("a list of Text that is a list of bytes") {
    auto bad = edited(good, [](capnp::AnyStruct::Builder body) {
      body.getPointerSection()[pointerOf("tags")].initAs<capnp::Data>(24);
    });
    auto error = adopt(db, 2, bad);
    REQUIRE(error);
    CHECK_THAT(error->what(), Catch::Contains("field 'tags'"));
  }
  SECTION("a nested struct that is a list") {
    auto bad = edited(good, [](capnp::AnyStruct::Builder body) {
      body.getPointerSection()[pointerOf("dimensions")].initAs<capnp::List<std::uint64_t>>(3);
    });
    auto error = adopt(db, 2, bad);
    REQUIRE(error);
    CHECK_THAT(error->what(), Catch::Contains("field 'dimensions'"));
  }
  SECTION("a Text without its terminating NUL") {
    auto bad = edited(good, [](capnp::AnyStruct::Builder body) {
      auto data = body.getPointerSection()[pointerOf("name")].initAs<capnp::Data>(5);
      std::fill(data.begin(), data.end(), 'x');
    });
    auto error = adopt(db, 2, bad);
    REQUIRE(error);
    CHECK_THAT(error->what(), Catch::Contains("field 'name'"));
  }
  db.read([](const hills::ReadTxn& txn) { CHECK(txn.tree("parts").size() == 0); });
}

TEST_CASE("a value of a newer program, with fields this one does not know, is stored",
          "[core][check]") {
  TempDir dir;
  auto good = partValue(dir.sub("source"), 3);
  auto schema = capnp::Schema::from<plm::capnp::Part>().getProto().getStruct();
  std::uint16_t data = schema.getDataWordCount();
  std::uint16_t pointers = schema.getPointerCount();
  auto newer = edited(
      good,
      [&](capnp::AnyStruct::Builder body) {
        // A field this program does not know, of a kind it could not read
        // as any of its own.
        body.getPointerSection()[pointers].initAsAnyStruct(2, 2);
      },
      Widened{static_cast<std::uint16_t>(data + 1), static_cast<std::uint16_t>(pointers + 1)});
  hills::Database db(dir.sub("db"), plmOptions());
  CHECK_FALSE(adopt(db, 3, newer));
  db.read([](const hills::ReadTxn& txn) {
    auto part = txn.tree<plm::Part>().get({3, 0});
    REQUIRE(part);
    CHECK(part->number == makePart(3).number);
  });
}

TEST_CASE("a value whose pointers share their targets to read as far more than it holds is refused",
          "[core][check]") {
  TempDir dir;
  auto good = partValue(dir.sub("source"), 4);
  // tags: a text of 64 KiB and 4000 short ones; then every element pointer
  // aimed at the long text.
  auto wide = edited(good, [](capnp::AnyStruct::Builder body) {
    auto tags = body.getPointerSection()[pointerOf("tags")].initAs<capnp::List<capnp::Text>>(4000);
    tags.set(0, std::string(65536, 'x'));
    for (unsigned i = 1; i < tags.size(); ++i) tags.set(i, "y");
  });
  hills::Database db(dir.sub("db"), plmOptions());
  CHECK_FALSE(adopt(db, 4, wide));  // as built, each text is read once
  // Aim every element pointer of the list at the first text: a list pointer
  // holds the offset (in words, from the word after the pointer) in bits
  // 2..31 of its first half, the element size and count in its second.
  Words bomb = wide;
  std::size_t listStart = 0;
  {
    hills::detail::ValueReader reader(kj::ArrayPtr<const capnp::word>(bomb.data(), bomb.size()));
    auto tags = reader.getRoot<hills::wire::Envelope>()
                    .getBody()
                    .getAs<capnp::AnyStruct>()
                    .getPointerSection()[pointerOf("tags")]
                    .getAs<capnp::List<capnp::Text>>();
    auto first = reinterpret_cast<const capnp::word*>(tags[0].begin());
    // The element pointers lie before the first text, one word each.
    listStart = static_cast<std::size_t>(first - bomb.data()) - tags.size();
  }
  auto* raw = reinterpret_cast<std::uint32_t*>(bomb.data());
  std::size_t text = listStart + 4000;
  for (std::size_t i = 0; i < 4000; ++i) {
    std::size_t at = listStart + i;
    auto offset = static_cast<std::int32_t>(text - (at + 1));
    raw[2 * at] = (static_cast<std::uint32_t>(offset) << 2) | 1u;  // a list pointer
    raw[2 * at + 1] = raw[2 * listStart + 1];  // of the long text's element size and count
  }
  auto error = adopt(db, 5, bomb);
  REQUIRE(error);
  CHECK(error->code() == ErrorCode::kCorrupt);
  CHECK_THAT(error->what(), Catch::Contains("parts(5, 0)") && Catch::Contains("traversal"));
}

TEST_CASE("an applied change whose value does not match the schema is refused", "[core][check]") {
  TempDir dir;
  auto poisoned = edited(partValue(dir.sub("source"), 6), [](capnp::AnyStruct::Builder body) {
    body.getPointerSection()[pointerOf("drawing")].initAs<capnp::List<capnp::Text>>(2);
  });
  capnp::MallocMessageBuilder message;
  auto change = message.initRoot<hills::wire::Change>();
  change.setSequence(1);
  change.setKind(hills::wire::ChangeKind::CREATED);
  change.setTree("parts");
  change.setId(6);
  change.setValue(bytes(poisoned));
  hills::Database db(dir.sub("db"), plmOptions());
  auto error = errorOf([&] {
    db.write([&](hills::WriteTxn& txn) {
      txn.tree("parts").applyChange(change.asReader(), "server");
    });
  });
  CHECK(error.code() == ErrorCode::kCorrupt);
  CHECK_THAT(error.what(), Catch::Contains("field 'drawing'"));
  db.read([](const hills::ReadTxn& txn) { CHECK_FALSE(txn.tree("parts").contains(6, 0)); });
}

TEST_CASE("StoredRecord::check reads every stored record of a tree through", "[core][check]") {
  TempDir dir;
  hills::Database db(dir.path(), plmOptions());
  db.write([](hills::WriteTxn& txn) {
    for (int i = 0; i < 20; ++i) txn.tree<plm::Part>().create(makePart(i, 10 * i));
  });
  int checked = 0;
  db.read([&](const hills::ReadTxn& txn) {
    txn.tree("parts").scan(0, UINT64_MAX, [&](const hills::StoredRecord& rec) {
      rec.check();
      ++checked;
      return true;
    });
  });
  CHECK(checked == 20);
}

TEST_CASE("a bill of materials is read through its lines and its lists of lists", "[core][check]") {
  TempDir dir;
  Words good;
  {
    hills::Database source(dir.sub("source"), plmOptions());
    good = source.write([](hills::WriteTxn& txn) {
      plm::Bom bom{};
      bom.assembly = {7, 0};
      bom.lines = {{{1, 0}, 2.0, {"R1", "R2"}}, {{2, 0}, 1.0, {"C1"}}};
      bom.interchangeable = {{{1, 0}, {3, 0}}, {{2, 0}}};
      auto key = txn.tree<plm::Bom>().create(bom);
      auto value = txn.tree("boms").find(key.id, 0).value();
      return Words(value.begin(), value.end());
    });
  }
  auto schema = capnp::Schema::from<plm::capnp::Bom>();
  auto pointer = [&](const char* field) {
    return schema.getFieldByName(field).getProto().getSlot().getOffset();
  };
  hills::Database db(dir.sub("db"), plmOptions());
  auto adoptBom = [&](std::uint64_t id, const Words& value) -> std::optional<hills::Error> {
    try {
      db.write([&](hills::WriteTxn& txn) { txn.tree("boms").adopt(id, 0, bytes(value), "other"); });
    } catch (const hills::Error& e) {
      return e;
    }
    return std::nullopt;
  };
  CHECK_FALSE(adoptBom(1, good));

  // A designator of the second line that is a list of texts.
  auto badLine = edited(good, [&](capnp::AnyStruct::Builder body) {
    auto lines = body.getPointerSection()[pointer("lines")].getAs<capnp::List<plm::capnp::Bom::Line>>();
    auto line = capnp::AnyStruct::Builder(lines[1]);
    line.getPointerSection()[1].initAs<capnp::List<capnp::List<capnp::Text>>>(1).init(0, 2);
  });
  auto error = adoptBom(2, badLine);
  REQUIRE(error);
  CHECK_THAT(error->what(), Catch::Contains("field 'lines[1].designators[0]'"));

  // A group of references that is a list of bits (a list of bytes would
  // do: Cap'n Proto reads any list but one of bits as a list of structs).
  auto badGroup = edited(good, [&](capnp::AnyStruct::Builder body) {
    auto groups = body.getPointerSection()[pointer("interchangeable")]
                      .initAs<capnp::List<capnp::List<bool>>>(2);
    groups.init(1, 3);
  });
  error = adoptBom(3, badGroup);
  REQUIRE(error);
  CHECK_THAT(error->what(), Catch::Contains("field 'interchangeable[1]'"));
  db.read([](const hills::ReadTxn& txn) { CHECK(txn.tree("boms").size() == 1); });
}

TEST_CASE("an applied change whose note is not text is refused before a write hook reads it",
          "[core][check]") {
  TempDir dir;
  capnp::MallocMessageBuilder message;
  auto change = message.initRoot<hills::wire::Change>();
  change.setSequence(1);
  change.setKind(static_cast<hills::wire::ChangeKind>(hills::kFirstHookKind));
  change.setTree("parts");
  change.setId(9);
  auto note = capnp::Schema::from<hills::wire::Change>().getFieldByName("note");
  capnp::AnyStruct::Builder raw(hills::wire::Change::Builder{change});
  raw.getPointerSection()[note.getProto().getSlot().getOffset()].initAsAnyStruct(1, 0);
  hills::Database db(dir.path(), plmOptions());
  auto error = errorOf([&] {
    db.write([&](hills::WriteTxn& txn) { txn.tree("parts").applyChange(change.asReader(), "x"); });
  });
  CHECK(error.code() == ErrorCode::kCorrupt);
  CHECK_THAT(error.what(), Catch::Contains("parts(9, 0)") && Catch::Contains("does not decode"));
}

TEST_CASE("a value is checked as a record of a tree without being stored", "[core][check]") {
  TempDir dir;
  auto good = partValue(dir.sub("source"), 2);
  auto poisoned = edited(good, [](capnp::AnyStruct::Builder body) {
    body.getPointerSection()[pointerOf("number")].initAsAnyStruct(1, 1);
  });
  hills::Database db(dir.sub("db"), plmOptions());
  db.read([&](const hills::ReadTxn& txn) {
    txn.tree("parts").checkValue(5, 0, bytes(good));
    auto corrupt = errorOf([&] { txn.tree("parts").checkValue(5, 0, bytes(poisoned)); });
    CHECK(corrupt.code() == ErrorCode::kCorrupt);
    CHECK_THAT(corrupt.what(), Catch::Contains("parts(5, 0)") && Catch::Contains("field 'number'"));
    auto other = errorOf([&] { txn.tree("boms").checkValue(5, 0, bytes(good)); });
    CHECK(other.code() == ErrorCode::kWrongTree);
    CHECK_FALSE(txn.tree("parts").contains(5, 0));
  });
}
