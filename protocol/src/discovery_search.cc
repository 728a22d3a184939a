// The search for the server "discover:NAME" names (hills/discovery.h).
#include <charconv>
#include <random>
#include <vector>

#include "hills/discovery.h"
#include "hills/error.h"
#include "hills/protocol.h"

namespace hills::protocol {

namespace {

constexpr std::string_view kScheme = "discover:";
constexpr unsigned kQueries = 4;
// Reasons kept for the error message; the rest are counted.
constexpr std::size_t kReasonsKept = 3;

// One discovery in progress: its socket, its query, what it ignored.
struct Search {
  DiscoverySocket socket;
  kj::Own<kj::DatagramReceiver> receiver;
  DiscoveryTarget target;
  DiscoveryPins pins;
  std::uint64_t nonce = 0;
  std::vector<std::byte> query;
  std::vector<std::string> ignored;
  std::size_t ignoredMore = 0;

  void ignore(std::string why) {
    if (ignored.size() < kReasonsKept) {
      ignored.push_back(std::move(why));
    } else {
      ++ignoredMore;
    }
  }
  std::string named() const { return "a hills-server named \"" + target.name + "\""; }
};

std::uint64_t randomNonce() {
  try {
    std::random_device device;
    return (std::uint64_t{device()} << 32) ^ device();
  } catch (const std::exception& e) {
    throw Error(ErrorCode::kIo,
                std::string("no random number for the discovery query: ") + e.what());
  }
}

// The query, sent `left` more times, timeout / 4 apart.
kj::Promise<void> sendQueries(Search& s, kj::Timer& timer, kj::Duration every, unsigned left) {
  translated([&] { sendToGroup(s.socket, s.target.where, s.query); });
  if (left <= 1) return kj::NEVER_DONE;
  return timer.afterDelay(every).then(
      [&s, &timer, every, left] { return sendQueries(s, timer, every, left - 1); });
}

// Why `reply`, from `from`, is not the server looked for: empty when it
// is; "-" when it is no answer to this query (another nonce or name), to
// drop without a word.
std::string whyNot(const Search& s, const DiscoveryReply& reply,
                   const std::string& from) {
  if (reply.nonce != s.nonce || reply.name != s.target.name) return "-";  // not an answer to us
  if (!s.pins.uuid.empty() && reply.uuid != s.pins.uuid) {
    return s.named() + " answered from " + from + " as server " + reply.uuid + ", not the server " +
           s.pins.uuid + " this replica is pinned to";
  }
  if (!s.pins.fingerprint.empty() && reply.fingerprint != s.pins.fingerprint) {
    return s.named() + " answered from " + from + " with the certificate " +
           (reply.fingerprint.empty() ? std::string("none (plain TCP)") : reply.fingerprint) +
           ", not " + s.pins.fingerprint;
  }
  if (s.pins.transport == DiscoveryTransport::kPlainTcp && !reply.fingerprint.empty()) {
    return s.named() + " answered from " + from + " over TLS (certificate " + reply.fingerprint +
           "), and this client is set to plain TCP";
  }
  if (s.pins.transport == DiscoveryTransport::kTls && reply.fingerprint.empty()) {
    return s.named() + " answered from " + from +
           " over plain TCP, and this client is set to TLS";
  }
  if (reply.port == 0) return s.named() + " answered from " + from + " without a port";
  return {};
}

kj::Promise<Discovered> receiveReplies(Search& s) {
  return s.receiver->receive().then([&s]() -> kj::Promise<Discovered> {
    auto content = s.receiver->getContent();
    std::string from = s.receiver->getSource().toString().cStr();
    std::string host = from.substr(0, from.rfind(':'));
    auto reply = content.isTruncated ? std::nullopt : decodeReply(content.value);
    if (reply) {
      std::string why = whyNot(s, *reply, from);
      if (why.empty()) {
        return Discovered{
            (reply->host.empty() ? host : reply->host) + ":" + std::to_string(reply->port),
            reply->uuid, reply->fingerprint};
      }
      if (why != "-") s.ignore(std::move(why));
    }
    return receiveReplies(s);
  });
}

std::string noAnswer(const Search& s, kj::Duration timeout) {
  std::string out = "no hills-server named \"" + s.target.name + "\" answered on " +
                    s.target.where.toString() + " within " +
                    std::to_string(timeout / kj::MILLISECONDS) + " ms";
  for (std::size_t i = 0; i < s.ignored.size(); ++i)
    out += (i == 0 ? "; ignored: " : "; ") + s.ignored[i];
  if (s.ignoredMore > 0) out += "; and " + std::to_string(s.ignoredMore) + " more";
  return out;
}

}  // namespace

std::optional<DiscoveryTarget> discoveryTarget(const std::string& server) {
  if (server.rfind(kScheme, 0) != 0) return std::nullopt;
  std::string rest = server.substr(kScheme.size());
  auto refuse = [&](const std::string& why) {
    throw Error(ErrorCode::kInvalidArgument,
                "the server \"" + server + "\" cannot be discovered: " + why +
                    " (write \"discover:NAME\" or \"discover:NAME@GROUP:PORT\")");
  };
  DiscoveryTarget out;
  auto at = rest.rfind('@');
  out.name = rest.substr(0, at);
  if (auto why = whyNotName(out.name); !why.empty()) refuse(why);
  if (at == std::string::npos) return out;
  std::string where = rest.substr(at + 1);
  auto colon = where.rfind(':');
  if (colon == std::string::npos) refuse("'" + where + "' has no port");
  out.where.group = where.substr(0, colon);
  if (auto why = whyNotGroup(out.where.group); !why.empty()) refuse(why);
  std::string port = where.substr(colon + 1);
  unsigned value = 0;
  auto [end, error] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (error != std::errc() || end != port.data() + port.size() || value == 0 || value > 65535) {
    refuse("'" + port + "' is not a port");
  }
  out.where.port = static_cast<std::uint16_t>(value);
  return out;
}

kj::Promise<Discovered> discover(kj::AsyncIoContext& io, DiscoveryTarget target, DiscoveryPins pins,
                                 kj::Duration timeout) {
  return kj::evalNow([&]() -> kj::Promise<Discovered> {
    auto s = kj::heap<Search>();
    s->target = std::move(target);
    s->pins = std::move(pins);
    s->socket = translated(
        [&] { return openDiscoveryPort(*io.lowLevelProvider, s->target.where, {}, false); });
    s->receiver = s->socket.port->makeReceiver({kMaxDatagram, 0});
    s->nonce = translated(randomNonce);
    s->query = translated([&] { return encodeQuery({s->target.name, s->nonce}); });
    Search& ref = *s;
    kj::Timer& timer = io.provider->getTimer();
    auto late = timer.afterDelay(timeout).then([&ref, timeout]() -> Discovered {
      kj::throwFatalException(
          toException(Error(ErrorCode::kOffline, noAnswer(ref, timeout))));
    });
    auto sending =
        sendQueries(ref, timer, timeout / kQueries, kQueries).then([]() -> kj::Promise<Discovered> {
          return kj::NEVER_DONE;
        });
    return receiveReplies(ref)
        .exclusiveJoin(kj::mv(late))
        .exclusiveJoin(kj::mv(sending))
        .attach(kj::mv(s));
  });
}

}  // namespace hills::protocol
