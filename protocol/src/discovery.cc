// LAN discovery's datagrams and sockets (hills/discovery.h).
#include "hills/discovery.h"

#include <arpa/inet.h>
#include <capnp/message.h>
#include <capnp/serialize.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include "hills/discovery.capnp.h"
#include "hills/error.h"

namespace hills::protocol {

namespace {

constexpr std::size_t kDatagramWords = kMaxDatagram / sizeof(capnp::word);

std::optional<in_addr> ipv4(const std::string& text) {
  in_addr out{};
  if (::inet_pton(AF_INET, text.c_str(), &out) != 1) return std::nullopt;
  return out;
}

std::vector<std::byte> flat(capnp::MessageBuilder& message, std::string_view what) {
  auto words = capnp::messageToFlatArray(message);
  auto bytes = words.asBytes();
  if (bytes.size() > kMaxDatagram) {
    throw Error(ErrorCode::kInvalidArgument,
                "a discovery " + std::string(what) + " of " + std::to_string(bytes.size()) +
                    " bytes is longer than the " + std::to_string(kMaxDatagram) + " allowed");
  }
  std::vector<std::byte> out(bytes.size());
  std::memcpy(out.data(), bytes.begin(), bytes.size());
  return out;
}

// Reads `datagram` as a Datagram of this version and hands its root to
// `read`; nullopt for anything that is not one, or that `read` refuses.
template <class T, class Read>
std::optional<T> decode(kj::ArrayPtr<const kj::byte> datagram, Read&& read) {
  if (datagram.size() == 0 || datagram.size() > kMaxDatagram ||
      datagram.size() % sizeof(capnp::word) != 0) {
    return std::nullopt;
  }
  // Copied to words: the receive buffer promises no alignment.
  capnp::word words[kDatagramWords];
  std::memcpy(words, datagram.begin(), datagram.size());
  capnp::ReaderOptions limits;
  limits.traversalLimitInWords = kDatagramWords;
  limits.nestingLimit = 4;
  try {
    capnp::FlatArrayMessageReader message(
        kj::arrayPtr(words, datagram.size() / sizeof(capnp::word)), limits);
    auto root = message.getRoot<discovery::Datagram>();
    if (root.getMagic() != discovery::MAGIC || root.getVersion() != discovery::VERSION) {
      return std::nullopt;
    }
    return read(root);
  } catch (const kj::Exception&) {
    return std::nullopt;
  }
}

// A text of a datagram, unless it is too long to be one we sent.
std::optional<std::string> text(capnp::Text::Reader t) {
  if (t.size() > kMaxDiscoveryText) return std::nullopt;
  return std::string(t.cStr(), t.size());
}

std::string systemError(int error) { return std::strerror(error); }

}  // namespace

bool isIpv4(const std::string& text) { return ipv4(text).has_value(); }

std::string whyNotGroup(const std::string& group) {
  auto address = ipv4(group);
  if (!address) return "'" + group + "' is not an IPv4 address (dotted, like 239.255.74.20)";
  if (!IN_MULTICAST(ntohl(address->s_addr))) {
    return "'" + group + "' is not a multicast address (224.0.0.0 to 239.255.255.255)";
  }
  return {};
}

std::string whyNotName(const std::string& name) {
  if (name.empty()) return "the name is empty";
  if (name.size() > kMaxDiscoveryText) {
    return "the name is longer than " + std::to_string(kMaxDiscoveryText) + " bytes";
  }
  for (char c : name) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
      return "the name holds a control character";
    }
  }
  return {};
}

std::vector<std::byte> encodeQuery(const DiscoveryQuery& query) {
  capnp::MallocMessageBuilder message(kDatagramWords);
  auto root = message.initRoot<discovery::Datagram>();
  root.setMagic(discovery::MAGIC);
  root.setVersion(discovery::VERSION);
  auto q = root.initQuery();
  q.setName(query.name);
  q.setNonce(query.nonce);
  return flat(message, "query");
}

std::vector<std::byte> encodeReply(const DiscoveryReply& reply) {
  capnp::MallocMessageBuilder message(kDatagramWords);
  auto root = message.initRoot<discovery::Datagram>();
  root.setMagic(discovery::MAGIC);
  root.setVersion(discovery::VERSION);
  auto r = root.initReply();
  r.setNonce(reply.nonce);
  r.setName(reply.name);
  r.setUuid(reply.uuid);
  r.setHost(reply.host);
  r.setPort(reply.port);
  r.setFingerprint(reply.fingerprint);
  r.setProtocol(reply.protocol);
  return flat(message, "reply");
}

std::optional<DiscoveryQuery> decodeQuery(kj::ArrayPtr<const kj::byte> datagram) {
  return decode<DiscoveryQuery>(
      datagram, [](discovery::Datagram::Reader root) -> std::optional<DiscoveryQuery> {
        if (!root.isQuery()) return std::nullopt;
        auto q = root.getQuery();
        auto name = text(q.getName());
        if (!name) return std::nullopt;
        return DiscoveryQuery{std::move(*name), q.getNonce()};
      });
}

std::optional<DiscoveryReply> decodeReply(kj::ArrayPtr<const kj::byte> datagram) {
  return decode<DiscoveryReply>(
      datagram, [](discovery::Datagram::Reader root) -> std::optional<DiscoveryReply> {
        if (!root.isReply()) return std::nullopt;
        auto r = root.getReply();
        auto name = text(r.getName()), uuid = text(r.getUuid()), host = text(r.getHost()),
             fingerprint = text(r.getFingerprint());
        if (!name || !uuid || !host || !fingerprint) return std::nullopt;
        return DiscoveryReply{r.getNonce(),     std::move(*name), std::move(*uuid),
                              std::move(*host), r.getPort(),      std::move(*fingerprint),
                              r.getProtocol()};
      });
}

DiscoverySocket openDiscoveryPort(kj::LowLevelAsyncIoProvider& io, const DiscoveryGroup& where,
                                  const std::string& interface, bool serve) {
  const std::string at = "discovery on " + where.toString();
  if (auto why = whyNotGroup(where.group); !why.empty()) {
    throw Error(ErrorCode::kInvalidArgument, at + ": " + why);
  }
  in_addr group = *ipv4(where.group);
  in_addr local{};
  local.s_addr = htonl(INADDR_ANY);
  if (!interface.empty()) {
    auto address = ipv4(interface);
    if (!address) {
      throw Error(ErrorCode::kInvalidArgument,
                  at + ": the interface '" + interface + "' is not an IPv4 address");
    }
    local = *address;
  }
  int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) throw Error(ErrorCode::kIo, at + ": socket() failed: " + systemError(errno));
  kj::AutoCloseFd owned(fd);
  auto set = [&](int level, int option, const void* value, socklen_t size, const char* name) {
    if (::setsockopt(fd, level, option, value, size) != 0) {
      throw Error(ErrorCode::kIo, at + ": setsockopt(" + name + ") failed: " + systemError(errno));
    }
  };
  int one = 1, zero = 0;
  // Neither queries nor replies leave the link: routers do not forward them.
  set(IPPROTO_IP, IP_MULTICAST_TTL, &one, sizeof(one), "IP_MULTICAST_TTL");
  set(IPPROTO_IP, IP_TTL, &one, sizeof(one), "IP_TTL");
  // A client finds a server on its own host.
  set(IPPROTO_IP, IP_MULTICAST_LOOP, &one, sizeof(one), "IP_MULTICAST_LOOP");
  if (!interface.empty())
    set(IPPROTO_IP, IP_MULTICAST_IF, &local, sizeof(local), "IP_MULTICAST_IF");
  sockaddr_in bound{};
  bound.sin_family = AF_INET;
  bound.sin_addr.s_addr = htonl(INADDR_ANY);
  bound.sin_port = htons(serve ? where.port : 0);
  if (serve) {
    set(SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one), "SO_REUSEADDR");
    // Only this group's datagrams, not those of every group another
    // program of this host joined on the same port.
    set(IPPROTO_IP, IP_MULTICAST_ALL, &zero, sizeof(zero), "IP_MULTICAST_ALL");
  }
  if (::bind(fd, reinterpret_cast<const sockaddr*>(&bound), sizeof(bound)) != 0) {
    throw Error(ErrorCode::kIo, at + ": bind() to UDP port " +
                                    std::to_string(serve ? where.port : 0) +
                                    " failed: " + systemError(errno));
  }
  if (serve) {
    ip_mreq membership{};
    membership.imr_multiaddr = group;
    membership.imr_interface = local;
    set(IPPROTO_IP, IP_ADD_MEMBERSHIP, &membership, sizeof(membership),
        "IP_ADD_MEMBERSHIP, joining the group");
  }
  return {io.wrapDatagramSocketFd(kj::mv(owned), kj::LowLevelAsyncIoProvider::ALREADY_CLOEXEC |
                                                     kj::LowLevelAsyncIoProvider::ALREADY_NONBLOCK),
          fd};
}

void sendToGroup(const DiscoverySocket& socket, const DiscoveryGroup& where,
                 const std::vector<std::byte>& datagram) {
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(where.port);
  if (auto group = ipv4(where.group)) to.sin_addr = *group;
  ssize_t sent;
  do {
    sent = ::sendto(socket.fd, datagram.data(), datagram.size(), 0,
                    reinterpret_cast<const sockaddr*>(&to), sizeof(to));
  } while (sent < 0 && errno == EINTR);
  if (sent < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
    throw Error(ErrorCode::kIo, "sending to the discovery group " + where.toString() +
                                    " failed: " + systemError(errno));
  }
}

}  // namespace hills::protocol
