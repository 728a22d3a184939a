// LAN discovery's datagrams (protocol/src/discovery.cc): what they carry,
// and that anything else is ignored rather than read.
#include "hills/discovery.h"

#include <capnp/message.h>
#include <capnp/serialize.h>

#include <catch2/catch.hpp>
#include <cstring>
#include <random>
#include <vector>

#include "error_of.h"
#include "hills/discovery.capnp.h"

using hills::ErrorCode;
using namespace hills::protocol;
using namespace hills::test;

namespace {

kj::ArrayPtr<const kj::byte> bytesOf(const std::vector<std::byte>& v) {
  return kj::arrayPtr(reinterpret_cast<const kj::byte*>(v.data()), v.size());
}

DiscoveryReply sampleReply() {
  DiscoveryReply r;
  r.nonce = 0x1234'5678'9abc'def0;
  r.name = "plm";
  r.uuid = "2f1c0a9e-aaaa-bbbb-cccc-0123456789ab";
  r.host = "plm-server";
  r.port = 7420;
  r.fingerprint = "sha256:" + std::string(64, 'a');
  r.protocol = 3;
  return r;
}

// A Datagram with the given magic and version holding a query.
std::vector<std::byte> queryWith(std::uint32_t magic, std::uint16_t version) {
  capnp::MallocMessageBuilder message;
  auto root = message.initRoot<hills::discovery::Datagram>();
  root.setMagic(magic);
  root.setVersion(version);
  root.initQuery().setName("plm");
  auto words = capnp::messageToFlatArray(message);
  std::vector<std::byte> out(words.asBytes().size());
  std::memcpy(out.data(), words.asBytes().begin(), out.size());
  return out;
}

}  // namespace

TEST_CASE("a discovery query and a reply read back as they were written", "[protocol][discovery]") {
  auto query = decodeQuery(bytesOf(encodeQuery({"plm", 42})));
  REQUIRE(query);
  CHECK(query->name == "plm");
  CHECK(query->nonce == 42);

  auto encoded = encodeReply(sampleReply());
  CHECK(encoded.size() <= kMaxDatagram);
  auto reply = decodeReply(bytesOf(encoded));
  REQUIRE(reply);
  CHECK(reply->nonce == sampleReply().nonce);
  CHECK(reply->name == "plm");
  CHECK(reply->uuid == sampleReply().uuid);
  CHECK(reply->host == "plm-server");
  CHECK(reply->port == 7420);
  CHECK(reply->fingerprint == sampleReply().fingerprint);
  CHECK(reply->protocol == 3);

  // A query is not a reply, nor a reply a query.
  CHECK_FALSE(decodeReply(bytesOf(encodeQuery({"plm", 42}))));
  CHECK_FALSE(decodeQuery(bytesOf(encoded)));
}

TEST_CASE("a datagram of another magic, version or shape is ignored", "[protocol][discovery]") {
  CHECK(decodeQuery(bytesOf(queryWith(hills::discovery::MAGIC, hills::discovery::VERSION))));
  CHECK_FALSE(decodeQuery(bytesOf(queryWith(0x12345678, hills::discovery::VERSION))));
  CHECK_FALSE(decodeQuery(bytesOf(queryWith(hills::discovery::MAGIC, 2))));

  auto good = encodeQuery({"plm", 1});
  // Cut short, by a word or by a byte; empty; longer than allowed.
  CHECK_FALSE(decodeQuery(bytesOf({good.begin(), good.end() - 8})));
  CHECK_FALSE(decodeQuery(bytesOf({good.begin(), good.end() - 1})));
  CHECK_FALSE(decodeQuery(kj::ArrayPtr<const kj::byte>()));
  std::vector<std::byte> large(kMaxDatagram + 8, std::byte{0});
  CHECK_FALSE(decodeQuery(bytesOf(large)));

  // Random bytes, however many, never read as a query and never throw.
  std::mt19937 random(7);
  for (int i = 0; i < 2000; ++i) {
    std::vector<std::byte> noise(8 * (1 + random() % (kMaxDatagram / 8)));
    for (auto& b : noise) b = static_cast<std::byte>(random());
    CHECK_NOTHROW(decodeQuery(bytesOf(noise)));
    CHECK_NOTHROW(decodeReply(bytesOf(noise)));
  }
  // A valid segment table pointing past the end.
  std::vector<std::byte> lying = good;
  lying[4] = std::byte{0xff};
  CHECK_FALSE(decodeQuery(bytesOf(lying)));
}

TEST_CASE("a name too long for a datagram is refused when written and when read",
          "[protocol][discovery]") {
  std::string tooLong(kMaxDiscoveryText + 1, 'x');
  CHECK_FALSE(whyNotName(tooLong).empty());
  CHECK_FALSE(whyNotName("").empty());
  CHECK_FALSE(whyNotName("line\n3").empty());
  CHECK(whyNotName("line 3").empty());
  // Written with a name longer than the reader takes: read as nothing.
  CHECK_FALSE(decodeQuery(bytesOf(encodeQuery({tooLong, 1}))));
  auto error = errorOf([] { encodeQuery({std::string(kMaxDatagram, 'x'), 1}); });
  CHECK(error.code() == ErrorCode::kInvalidArgument);
  CHECK_THAT(error.what(), Catch::Contains("longer than the 1024 allowed"));
}

TEST_CASE("a discovery group must be an IPv4 multicast address", "[protocol][discovery]") {
  CHECK(whyNotGroup(kDiscoveryGroup).empty());
  CHECK(whyNotGroup("224.0.0.251").empty());
  CHECK(whyNotGroup("239.255.255.255").empty());
  CHECK_THAT(whyNotGroup("10.0.0.5"), Catch::Contains("not a multicast address"));
  CHECK_THAT(whyNotGroup("240.0.0.1"), Catch::Contains("not a multicast address"));
  CHECK_THAT(whyNotGroup("plm-server"), Catch::Contains("not an IPv4 address"));
  CHECK_THAT(whyNotGroup("ff02::1"), Catch::Contains("not an IPv4 address"));
  CHECK(isIpv4("10.0.0.5"));
  CHECK_FALSE(isIpv4("10.0.0"));
}
