#include "cutting_proxy.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <list>
#include <stdexcept>
#include <vector>

namespace hills::test {
namespace {

sockaddr_in loopback(unsigned port) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return addr;
}

void nonBlocking(int fd) { ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK); }

// Bytes read from one side and not yet written to the other.
struct Direction {
  int from = -1;
  int to = -1;
  std::vector<char> pending;
  bool ended = false;  // `from` reached end of stream
};

// A proxied connection: client -> server and server -> client.
struct Link {
  Direction up;
  Direction down;
  std::uint64_t left = 0;  // bytes still to forward before the cut
  bool closed = false;
};

// Reads what `d.from` has and keeps for forwarding what fits in the bytes
// `left` before the cut; false when the link is to be closed.
bool pull(Direction& d, std::uint64_t& left) {
  char buf[16384];
  ssize_t n = ::read(d.from, buf, sizeof(buf));
  if (n < 0) return errno == EAGAIN || errno == EINTR;
  if (n == 0) {
    d.ended = true;
    return !d.pending.empty();
  }
  auto take = static_cast<std::uint64_t>(n) < left ? static_cast<std::uint64_t>(n) : left;
  d.pending.insert(d.pending.end(), buf, buf + take);
  left -= take;
  return true;
}

// Writes what is pending; false when the other side is gone.
bool push(Direction& d) {
  while (!d.pending.empty()) {
    ssize_t n = ::send(d.to, d.pending.data(), d.pending.size(), MSG_NOSIGNAL);
    if (n < 0) return errno == EAGAIN || errno == EINTR;
    d.pending.erase(d.pending.begin(), d.pending.begin() + n);
  }
  return !d.ended;
}

}  // namespace

std::uint64_t CuttingProxy::cutAfter(std::uint32_t seed, std::uint64_t k) {
  std::mt19937_64 random(seed * 1'000'003ull + k);
  unsigned bits = static_cast<unsigned>(random() % 21);  // up to 1 MiB
  std::uint64_t scale = std::uint64_t{1} << bits;
  return scale + random() % scale;
}

CuttingProxy::CuttingProxy(unsigned targetPort, std::uint32_t seed)
    : targetPort_(targetPort), seed_(seed) {
  listener_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  auto addr = loopback(0);
  socklen_t size = sizeof(addr);
  if (listener_ < 0 || ::bind(listener_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      ::listen(listener_, 64) != 0 ||
      ::getsockname(listener_, reinterpret_cast<sockaddr*>(&addr), &size) != 0) {
    if (listener_ >= 0) ::close(listener_);
    throw std::runtime_error("the proxy cannot listen on 127.0.0.1");
  }
  port_ = ntohs(addr.sin_port);
  nonBlocking(listener_);
  thread_ = std::thread([this] { run(); });
}

CuttingProxy::~CuttingProxy() {
  stop_ = true;
  thread_.join();
  ::close(listener_);
}

void CuttingProxy::run() {
  std::list<Link> links;
  auto close = [&](Link& link, bool cut) {
    ::close(link.up.from);
    ::close(link.down.from);
    link.closed = true;
    if (cut) ++cuts_;
  };
  while (!stop_) {
    std::vector<pollfd> fds{{listener_, POLLIN, 0}};
    for (auto& link : links) {
      for (Direction* d : {&link.up, &link.down}) {
        fds.push_back({d->from, static_cast<short>(d->pending.empty() ? POLLIN : 0), 0});
        fds.push_back({d->to, static_cast<short>(d->pending.empty() ? 0 : POLLOUT), 0});
      }
    }
    if (::poll(fds.data(), fds.size(), 50) < 0 && errno != EINTR) break;
    // A link accepted below has no entries in `fds` yet: it is served from
    // the next poll on.
    const std::size_t polled = links.size();
    if (fds[0].revents & POLLIN) {
      int client = ::accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
      if (client >= 0) {
        int server = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        auto addr = loopback(targetPort_);
        if (server < 0 || ::connect(server, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
          // No server behind the proxy: the client sees its connection end.
          if (server >= 0) ::close(server);
          ::close(client);
        } else {
          nonBlocking(client);
          nonBlocking(server);
          Link& link = links.emplace_back();
          link.up = {client, server, {}, false};
          link.down = {server, client, {}, false};
          link.left = cutAfter(seed_, connections_++);
        }
      }
    }
    std::size_t at = 1;
    std::size_t served = 0;
    for (auto& link : links) {
      if (served++ == polled) break;
      bool open = true;
      for (Direction* d : {&link.up, &link.down}) {
        auto& in = fds[at++];
        auto& out = fds[at++];
        if (open && (in.revents & (POLLIN | POLLHUP | POLLERR))) open = pull(*d, link.left);
        if (open && (out.revents & (POLLOUT | POLLHUP | POLLERR))) open = push(*d);
        if (open && !d->pending.empty()) open = push(*d);
      }
      if (!open) {
        close(link, false);
      } else if (link.left == 0 && link.up.pending.empty() && link.down.pending.empty()) {
        close(link, true);
      }
    }
    links.remove_if([](const Link& link) { return link.closed; });
  }
  for (auto& link : links) close(link, false);
}

}  // namespace hills::test
