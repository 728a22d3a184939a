// The generated records of tests/codegen/schemas/kinds.capnp, which uses every
// field kind capnpc-hills supports, non-zero defaults of each, C++ keywords
// as names, $Cxx.name, and types from an imported schema.
#include <capnp/message.h>

#include <catch2/catch.hpp>
#include <cmath>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

#include "codegen_support.h"
#include "kinds.hills.h"

using hills::test::checkSameFields;
using hills::test::roundTrip;
using kinds::records::Sample;

namespace {

Sample fullSample() {
  Sample s;
  s.flag = false;
  s.i8 = 127;
  s.i16 = 32767;
  s.i32 = 2147483647;
  s.i64 = 9223372036854775807;
  s.u8 = 1;
  s.u16 = 2;
  s.u32 = 3;
  s.u64 = 4;
  s.f32 = -2.25f;
  s.f64 = 1e300;
  s.huge = -std::numeric_limits<double>::infinity();
  s.colour = kinds::records::Colour::RED;
  s.label = "label";
  s.blob = {9, 8, 7};
  s.numbers = {};
  s.words = {"x"};
  s.colours = {kinds::records::Colour::BLUE};
  s.flags = {true, true, false};
  s.blobs = {{1}, {}, {2, 3}};
  s.bytes = {4, 5};
  s.byteLists = {{6}, {}, {7, 8}};
  s.grid = {{"a", "b"}, {}, {"c"}};
  s.cube = {{{1, -1}, {}}, {}};
  s.inner.mode = Sample::Inner::Mode::OFF;
  s.inner.children = {Sample::Inner{{Sample::Inner{}}, Sample::Inner::Mode::OFF}};
  s.inners = {Sample::Inner{}, Sample::Inner{{}, Sample::Inner::Mode::OFF}};
  s.point = {1.5, -2.5};
  s.owner = {3, 1};
  s.previous = {0, 2};  // id 0 with a revision is still written
  s.class_ = "class";
  s.renamedInCxx = 5;
  s.late = 6;
  s.early = 7;
  s.notANumber = 0.5f;
  s.holder.later.value = 0;
  s.owners = {{1, 0}, {}, {2, 2}};
  return s;
}

}  // namespace

TEST_CASE("every field kind survives a round trip through its capnp builder", "[codegen][kinds]") {
  Sample s = fullSample();
  checkSameFields(roundTrip(s), s);
}

TEST_CASE("a value-initialised record holds the schema's defaults", "[codegen][kinds][defaults]") {
  capnp::MallocMessageBuilder message;
  message.initRoot<kinds::capnp::Sample>();
  Sample fromCapnp = fullSample();
  hills::RecordTraits<Sample>::read(message.getRoot<kinds::capnp::Sample>().asReader(), fromCapnp);
  Sample initialised{};

  // NaN equals nothing, itself included: compare it apart.
  CHECK(std::isnan(initialised.notANumber));
  CHECK(std::isnan(fromCapnp.notANumber));
  initialised.notANumber = fromCapnp.notANumber = 0;
  checkSameFields(fromCapnp, initialised);

  CHECK(initialised.i64 == std::numeric_limits<std::int64_t>::min());
  CHECK(initialised.u64 == std::numeric_limits<std::uint64_t>::max());
  CHECK(initialised.label == "say \"hi\"\n");
  CHECK(initialised.words == std::vector<std::string>{"a", "b"});
  CHECK(initialised.inner.mode == Sample::Inner::Mode::ON_DEMAND);
  CHECK(initialised.holder.later.value == 7);
}

TEST_CASE("empty values of fields with a non-empty default are written, not left null",
          "[codegen][kinds][defaults]") {
  Sample s{};
  s.label.clear();
  s.blob.clear();
  s.numbers.clear();
  s.words.clear();
  s.colours.clear();
  capnp::MallocMessageBuilder message;
  hills::RecordTraits<Sample>::write(s, message.initRoot<kinds::capnp::Sample>());
  auto r = message.getRoot<kinds::capnp::Sample>().asReader();
  CHECK(r.hasLabel());
  CHECK(r.getLabel() == "");
  CHECK(r.hasWords());
  CHECK(r.getWords().size() == 0);

  Sample back = roundTrip(s);
  CHECK(back.label.empty());
  CHECK(back.blob.empty());
  CHECK(back.numbers.empty());
  CHECK(back.words.empty());
  CHECK(back.colours.empty());
}

TEST_CASE("empty values of fields without a default are stored as null pointers", "[codegen][kinds]") {
  capnp::MallocMessageBuilder message;
  hills::RecordTraits<Sample>::write(Sample{}, message.initRoot<kinds::capnp::Sample>());
  auto r = message.getRoot<kinds::capnp::Sample>().asReader();
  CHECK_FALSE(r.hasClass());
  CHECK_FALSE(r.hasFlags());
  CHECK_FALSE(r.hasGrid());
  CHECK_FALSE(r.hasOwner());
  CHECK_FALSE(r.hasPrevious());
}

TEST_CASE("Data and List(UInt8) share a C++ type and keep their wire types", "[codegen][kinds]") {
  STATIC_REQUIRE(std::is_same_v<decltype(Sample::blob), std::vector<std::uint8_t>>);
  STATIC_REQUIRE(std::is_same_v<decltype(Sample::bytes), std::vector<std::uint8_t>>);
  STATIC_REQUIRE(std::is_same_v<decltype(Sample::blobs), std::vector<std::vector<std::uint8_t>>>);
  STATIC_REQUIRE(std::is_same_v<decltype(Sample::byteLists), std::vector<std::vector<std::uint8_t>>>);
  Sample s = fullSample();
  capnp::MallocMessageBuilder message;
  hills::RecordTraits<Sample>::write(s, message.initRoot<kinds::capnp::Sample>());
  auto r = message.getRoot<kinds::capnp::Sample>().asReader();
  CHECK(r.getBlobs()[2].size() == 2);
  CHECK(r.getByteLists()[2][1] == 8);
  CHECK(r.getBytes()[1] == 5);
}

TEST_CASE("members follow the schema's declaration order and C++ names", "[codegen][kinds]") {
  using T = hills::RecordTraits<Sample>;
  STATIC_REQUIRE(T::fieldNames.size() == boost::pfr::tuple_size_v<Sample>);
  STATIC_REQUIRE(T::fieldNames[29] == "class");      // the member is class_
  STATIC_REQUIRE(T::fieldNames[30] == "renamed");    // the member is renamedInCxx
  STATIC_REQUIRE(T::fieldNames[31] == "late");       // @32, declared before @31
  STATIC_REQUIRE(T::fieldNames[32] == "early");
  Sample s{};
  s.class_ = "c";
  s.renamedInCxx = 11;
  s.late = 32;
  s.early = 31;
  CHECK(boost::pfr::get<29>(s) == "c");
  CHECK(boost::pfr::get<30>(s) == 11u);
  CHECK(boost::pfr::get<31>(s) == 32);
  CHECK(boost::pfr::get<32>(s) == 31);
}

TEST_CASE("enums, imported structs and keys into imported trees get their documented types",
          "[codegen][kinds]") {
  STATIC_REQUIRE(std::is_same_v<kinds::records::Colour, kinds::capnp::Colour>);
  STATIC_REQUIRE(std::is_same_v<Sample::Inner::Mode, kinds::capnp::Sample::Inner::Mode>);
  STATIC_REQUIRE(std::is_same_v<decltype(Sample::point), shared::Point>);
  STATIC_REQUIRE(std::is_same_v<decltype(Sample::owner), hills::Key<shared::Owner>>);
  STATIC_REQUIRE(std::is_same_v<decltype(Sample::owners), std::vector<hills::Key<shared::Owner>>>);
  STATIC_REQUIRE(std::is_same_v<decltype(Sample::previous), hills::Key<Sample>>);
  STATIC_REQUIRE(std::is_same_v<decltype(Sample::flags), std::vector<bool>>);
  STATIC_REQUIRE(hills::RecordTraits<shared::Owner>::tree == "owners");
  STATIC_REQUIRE(std::is_aggregate_v<kinds::records::Holder>);
}
