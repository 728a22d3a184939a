// A plain HTTP/1.1 request to a server on 127.0.0.1, over a raw socket, as
// a scraper or a load balancer's health check sends it.
#pragma once

#include <poll.h>
#include <unistd.h>

#include <chrono>
#include <string>

#include "raw_socket.h"

namespace hills::test {

struct HttpReply {
  int status = 0;       // 0: no answer (closed, or nothing within the timeout)
  std::string headers;  // the status line and the headers
  std::string body;
};

// Sends `method path` with `extraHeaders` (each line ending in "\r\n") and
// reads the answer: at most `timeout` in all.
inline HttpReply httpRequest(unsigned port, const std::string& method, const std::string& path,
                             const std::string& extraHeaders = {},
                             std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
  RawSocket socket(port);
  std::string request = method + " " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n" + extraHeaders +
                        "Connection: close\r\n\r\n";
  HttpReply reply;
  if (!socket.send(std::vector<unsigned char>(request.begin(), request.end()))) return reply;
  std::string in;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    auto end = in.find("\r\n\r\n");
    if (end != std::string::npos) {
      auto length = in.find("Content-Length: ");
      if (length != std::string::npos && length < end &&
          in.size() >= end + 4 + std::stoul(in.substr(length + 16))) {
        break;
      }
    }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    pollfd p{socket.fd(), POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) break;
    char buf[4096];
    ssize_t n = ::read(socket.fd(), buf, sizeof(buf));
    if (n <= 0) break;
    in.append(buf, static_cast<std::size_t>(n));
  }
  auto end = in.find("\r\n\r\n");
  if (in.rfind("HTTP/1.1 ", 0) != 0 || end == std::string::npos) return reply;
  reply.status = std::stoi(in.substr(9, 3));
  reply.headers = in.substr(0, end + 2);
  reply.body = in.substr(end + 4);
  return reply;
}

inline HttpReply httpGet(unsigned port, const std::string& path) {
  return httpRequest(port, "GET", path);
}

// The value of the sample `name` (with its labels, as written:
// `hills_sessions_refused_total{reason="credentials"}`) in Prometheus text;
// -1 when absent.
inline double sampleValue(const std::string& text, const std::string& name) {
  std::string::size_type at = 0;
  while ((at = text.find(name + " ", at)) != std::string::npos) {
    if (at == 0 || text[at - 1] == '\n') {
      return std::stod(text.substr(at + name.size() + 1));
    }
    at += name.size();
  }
  return -1;
}

}  // namespace hills::test
