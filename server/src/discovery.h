// The sync server's answers to LAN discovery (SyncServer::serveDiscovery):
// a UDP socket in a multicast group, read one datagram at a time.
#pragma once

#include <kj/async-io.h>

#include <cstdint>
#include <functional>
#include <string_view>

#include "hills/discovery.h"
#include "peer_limits.h"

namespace hills::server {

// Replies at most, per source and in all, in each window of
// kReplyWindow; sources remembered at once. A client's discovery sends a
// few queries and stops at the first answer.
inline constexpr unsigned kRepliesPerSource = 10;
inline constexpr unsigned kRepliesTotal = 200;
inline constexpr std::size_t kReplySources = 4096;
inline constexpr kj::Duration kReplyWindow = 1 * kj::SECONDS;

// Answers the queries for `advert.name` that arrive on `port` with
// `advert` (its nonce the query's). One datagram at a time: what it holds
// is one receive buffer of protocol::kMaxDatagram bytes, the limiter's
// sources and one reply in flight. Not thread-safe (the event loop only).
class DiscoveryResponder {
 public:
  // `refusal(source, kind, text)` writes a line rate-limited by source and
  // kind (SyncServer's refusal log); the responder always passes the fixed
  // source "discovery", since a datagram's source address may be forged.
  using Refusal =
      std::function<void(std::string_view source, std::string_view kind, std::string_view text)>;
  DiscoveryResponder(kj::Own<kj::DatagramPort> port, protocol::DiscoveryReply advert,
                     kj::Timer& timer, Refusal refusal);

  // Receives and answers until cancelled; never ends by itself. A failed
  // receive is logged and tried again after 100 ms; a failed send is logged.
  kj::Promise<void> run();

  std::uint64_t answered() const { return answered_; }  // replies sent
  std::uint64_t ignored() const { return ignored_; }    // datagrams not a query of ours
  std::uint64_t limited() const { return limited_; }    // queries not answered: too many

 private:
  kj::Promise<void> handle();

  kj::Own<kj::DatagramPort> port_;
  kj::Own<kj::DatagramReceiver> receiver_;
  protocol::DiscoveryReply advert_;
  kj::Timer& timer_;
  Refusal refusal_;
  ReplyLimiter limiter_{kRepliesPerSource, kRepliesTotal, kReplySources, kReplyWindow};
  std::uint64_t answered_ = 0, ignored_ = 0, limited_ = 0;
};

// Whether `host` (of a listen address) is a wildcard rather than a host
// clients can connect to: empty, 0.0.0.0, *, ::, [::].
bool wildcardHost(std::string_view host);

}  // namespace hills::server
