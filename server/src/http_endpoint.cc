#include "http_endpoint.h"

#include "server_impl.h"

namespace hills {

namespace server {

kj::HttpServerSettings HttpEndpoint::settings() {
  kj::HttpServerSettings s;
  // A scraper sends its request at once; a connection that dawdles holds
  // one of the few places.
  s.headerTimeout = 5 * kj::SECONDS;
  s.pipelineTimeout = 5 * kj::SECONDS;
  // No request here has a body worth waiting for.
  s.canceledUploadGracePeriod = 100 * kj::MILLISECONDS;
  s.canceledUploadGraceBytes = 4096;
  s.errorHandler = *this;
  return s;
}

HttpEndpoint::HttpEndpoint(const SyncServer& server, kj::Timer& timer, kj::Duration acceptRetry,
                           std::function<void(std::string_view)> log)
    : server_(server),
      timer_(timer),
      acceptRetry_(acceptRetry),
      log_(std::move(log)),
      http_(timer, headerTable_, *this, settings()),
      tasks_(*this) {}

kj::Promise<void> HttpEndpoint::listen(kj::ConnectionReceiver& receiver) {
  // evalNow: accept() may throw at once rather than reject.
  return kj::evalNow([&receiver] { return receiver.accept(); })
      .then(
          [this, &receiver](kj::Own<kj::AsyncIoStream>&& stream) {
            // Past the limit the connection is closed as `stream` goes.
            if (open_ < kMaxHttpConnections) {
              ++open_;
              tasks_.add(http_.listenHttp(kj::mv(stream)).attach(kj::defer([this] { --open_; })));
            }
            return listen(receiver);
          },
          [this, &receiver](kj::Exception&& e) {
            log_("accepting HTTP connections failed, trying again: " +
                 std::string(e.getDescription().cStr()));
            return timer_.afterDelay(acceptRetry_).then([this, &receiver] {
              return listen(receiver);
            });
          });
}

kj::Promise<void> HttpEndpoint::handleApplicationError(kj::Exception exception,
                                                       kj::Maybe<Response&> response) {
  KJ_IF_MAYBE (r, response) {
    // kj reads the headers as part of the request: too large is the
    // client's mistake.
    bool tooLarge = std::string_view(exception.getDescription().cStr()).find("too large") !=
                    std::string_view::npos;
    return r->sendError(tooLarge ? 431 : 500,
                        tooLarge ? "Request Header Fields Too Large" : "Internal Server Error",
                        headerTable_);
  }
  return kj::READY_NOW;
}

void HttpEndpoint::taskFailed(kj::Exception&&) {
  // A peer that went away mid-request: nothing to do, nothing worth a line.
}

kj::Promise<void> HttpEndpoint::request(kj::HttpMethod method, kj::StringPtr url,
                                        const kj::HttpHeaders&, kj::AsyncInputStream&,
                                        Response& response) {
  std::string_view path(url.cStr(), url.size());
  path = path.substr(0, path.find('?'));
  unsigned status = 200;
  kj::StringPtr statusText = "OK";
  kj::StringPtr type = "text/plain; charset=utf-8";
  std::string body;
  kj::HttpHeaders headers(headerTable_);
  if (path != "/metrics" && path != "/health") {
    status = 404;
    statusText = "Not Found";
    body = "not found: this endpoint serves GET /metrics and GET /health\n";
  } else if (method != kj::HttpMethod::GET) {
    status = 405;
    statusText = "Method Not Allowed";
    headers.add("Allow", "GET");
    body = "method not allowed: GET only\n";
  } else if (path == "/metrics") {
    type = "text/plain; version=0.0.4; charset=utf-8";
    body = prometheusText(server_.metrics());
  } else {
    ServerHealth health = server_.health();
    if (!health.ok) {
      status = 503;
      statusText = "Service Unavailable";
    }
    body = (health.ok ? "ok: " : "unavailable: ") + health.reason + "\n";
  }
  headers.set(kj::HttpHeaderId::CONTENT_TYPE, type);
  headers.add("Cache-Control", "no-store");
  auto out = response.send(status, statusText, headers, body.size());
  auto text = kj::heapString(body.data(), body.size());
  auto write = out->write(text.begin(), text.size());
  return write.attach(kj::mv(out), kj::mv(text));
}

}  // namespace server

kj::Promise<void> SyncServer::serveHttp(kj::ConnectionReceiver& receiver) {
  KJ_REQUIRE(impl_->http == nullptr, "serveHttp() is called once");
  Impl& impl = *impl_;
  auto endpoint = kj::heap<server::HttpEndpoint>(
      *this, impl.timer, server::toKj(impl.config.acceptRetry), [&impl](std::string_view line) {
        impl.refusal("server", "accepting HTTP connections failed", line);
      });
  auto& ref = *endpoint;
  impl_->http = kj::mv(endpoint);
  return ref.listen(receiver);
}

}  // namespace hills
