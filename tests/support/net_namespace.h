// A network of the test's own, for multicast that must not leave the
// machine: the process moves into a new network namespace (as root; as
// another user, inside a user namespace of its own) whose only interface
// is a loopback, brought up with multicast on and the multicast route
// (224.0.0.0/4) on it. Threads and child processes started afterwards
// (clients' sync threads, hills-server) share it.
#pragma once

#include <fcntl.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

namespace hills::test {

namespace detail {

inline std::string errnoText(const std::string& what) { return what + ": " + std::strerror(errno); }

inline bool writeFile(const char* path, const std::string& text) {
  int fd = ::open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return false;
  bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  ::close(fd);
  return ok;
}

// The route "224.0.0.0/4 dev lo src 127.0.0.1", through rtnetlink: with
// a source address, multicast sent on the loopback comes from 127.0.0.1,
// as it comes from an interface's address on a LAN (without one, from
// 0.0.0.0).
inline std::string multicastRoute() {
  struct Request {
    nlmsghdr header;
    rtmsg route;
    char attributes[64];
  } request{};
  request.header.nlmsg_len = NLMSG_LENGTH(sizeof(rtmsg));
  request.header.nlmsg_type = RTM_NEWROUTE;
  request.header.nlmsg_flags = NLM_F_REQUEST | NLM_F_CREATE | NLM_F_EXCL | NLM_F_ACK;
  request.route.rtm_family = AF_INET;
  request.route.rtm_dst_len = 4;
  request.route.rtm_table = RT_TABLE_MAIN;
  request.route.rtm_protocol = RTPROT_BOOT;
  request.route.rtm_scope = RT_SCOPE_LINK;
  request.route.rtm_type = RTN_UNICAST;
  auto add = [&](unsigned short type, const void* data, std::size_t size) {
    auto* attribute = reinterpret_cast<rtattr*>(reinterpret_cast<char*>(&request) +
                                                NLMSG_ALIGN(request.header.nlmsg_len));
    attribute->rta_type = type;
    attribute->rta_len = static_cast<unsigned short>(RTA_LENGTH(size));
    std::memcpy(RTA_DATA(attribute), data, size);
    request.header.nlmsg_len = NLMSG_ALIGN(request.header.nlmsg_len) + RTA_ALIGN(RTA_LENGTH(size));
  };
  in_addr group{htonl(0xe0000000)};  // 224.0.0.0
  in_addr loopback{htonl(INADDR_LOOPBACK)};
  int index = static_cast<int>(::if_nametoindex("lo"));
  add(RTA_DST, &group, sizeof(group));
  add(RTA_OIF, &index, sizeof(index));
  add(RTA_PREFSRC, &loopback, sizeof(loopback));

  int fd = ::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
  if (fd < 0) return errnoText("socket(AF_NETLINK)");
  std::string failure;
  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  if (::sendto(fd, &request, request.header.nlmsg_len, 0, reinterpret_cast<sockaddr*>(&kernel),
               sizeof(kernel)) < 0) {
    failure = errnoText("adding the route 224.0.0.0/4 dev lo");
  } else {
    char answer[512];
    ssize_t n = ::recv(fd, answer, sizeof(answer), 0);
    auto* header = reinterpret_cast<nlmsghdr*>(answer);
    if (n < static_cast<ssize_t>(NLMSG_LENGTH(sizeof(nlmsgerr))) ||
        header->nlmsg_type != NLMSG_ERROR) {
      failure = "adding the route 224.0.0.0/4 dev lo: no answer from the kernel";
    } else if (int error = reinterpret_cast<nlmsgerr*>(NLMSG_DATA(header))->error; error != 0) {
      errno = -error;
      failure = errnoText("adding the route 224.0.0.0/4 dev lo");
    }
  }
  ::close(fd);
  return failure;
}

// Loopback up with multicast, and 224.0.0.0/4 routed to it.
inline std::string multicastOnLoopback() {
  int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return errnoText("socket()");
  ifreq ifr{};
  std::strncpy(ifr.ifr_name, "lo", IFNAMSIZ - 1);
  std::string failure;
  if (::ioctl(fd, SIOCGIFFLAGS, &ifr) != 0) {
    failure = errnoText("SIOCGIFFLAGS lo");
  } else {
    ifr.ifr_flags = static_cast<short>(ifr.ifr_flags | IFF_UP | IFF_MULTICAST);
    if (::ioctl(fd, SIOCSIFFLAGS, &ifr) != 0) failure = errnoText("SIOCSIFFLAGS lo");
  }
  ::close(fd);
  return failure.empty() ? multicastRoute() : failure;
}

inline std::string isolate() {
  if (::geteuid() == 0) {
    if (::unshare(CLONE_NEWNET) != 0) return detail::errnoText("unshare(CLONE_NEWNET)");
  } else {
    uid_t uid = ::geteuid();
    gid_t gid = ::getegid();
    // Needs a process without threads yet (EINVAL otherwise).
    if (::unshare(CLONE_NEWUSER | CLONE_NEWNET) != 0) {
      return detail::errnoText("unshare(CLONE_NEWUSER | CLONE_NEWNET), as a user without root");
    }
    if (!writeFile("/proc/self/setgroups", "deny") ||
        !writeFile("/proc/self/uid_map", "0 " + std::to_string(uid) + " 1") ||
        !writeFile("/proc/self/gid_map", "0 " + std::to_string(gid) + " 1")) {
      return detail::errnoText("mapping the user into its namespace");
    }
  }
  return multicastOnLoopback();
}

}  // namespace detail

// Moves this process into its own network (once; later calls return the
// first result). Empty on success, else why it could not.
inline const std::string& isolateNetwork() {
  static const std::string result = detail::isolate();
  return result;
}

}  // namespace hills::test
