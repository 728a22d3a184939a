// The sync server's HTTP endpoint: /metrics (Prometheus) and /health, on
// the server's event loop (SyncServer::serveHttp).
#pragma once

#include <kj/async-io.h>
#include <kj/compat/http.h>

#include <cstddef>
#include <functional>
#include <string_view>

#include "hills/server.h"

namespace hills::server {

// Serves GET /metrics and GET /health of `server`: 404 for other paths,
// 405 for other methods. Bounded: at most kMaxHttpConnections at once (more
// are closed at accept), a request's headers within 5 s, kj's limit on
// their size; it never reads a request body. Event loop only.
class HttpEndpoint final : private kj::HttpService,
                           private kj::HttpServerErrorHandler,
                           private kj::TaskSet::ErrorHandler {
 public:
  static constexpr std::size_t kMaxHttpConnections = 16;

  // `log` gets one line each time accepting fails (retried after
  // `acceptRetry`): it should be rate-limited. Requests are not logged.
  HttpEndpoint(const SyncServer& server, kj::Timer& timer, kj::Duration acceptRetry,
               std::function<void(std::string_view)> log);

  // Accepts connections until the promise is cancelled.
  kj::Promise<void> listen(kj::ConnectionReceiver& receiver);

 private:
  kj::Promise<void> request(kj::HttpMethod method, kj::StringPtr url,
                            const kj::HttpHeaders& headers, kj::AsyncInputStream& requestBody,
                            Response& response) override;
  // Without a line in the log: a stranger must not be able to fill it.
  kj::Promise<void> handleApplicationError(kj::Exception exception,
                                           kj::Maybe<Response&> response) override;
  void taskFailed(kj::Exception&& exception) override;
  kj::HttpServerSettings settings();

  const SyncServer& server_;
  kj::Timer& timer_;
  kj::Duration acceptRetry_;
  std::function<void(std::string_view)> log_;
  kj::HttpHeaderTable headerTable_;
  kj::HttpServer http_;
  std::size_t open_ = 0;  // connections now
  kj::TaskSet tasks_;     // last: its connections go before what they use
};

}  // namespace hills::server
