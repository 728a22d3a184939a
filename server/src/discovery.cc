// The sync server's answers to LAN discovery (discovery.h).
#include "discovery.h"

#include "server_impl.h"

namespace hills {

namespace server {

DiscoveryResponder::DiscoveryResponder(kj::Own<kj::DatagramPort> port,
                                       protocol::DiscoveryReply advert, kj::Timer& timer,
                                       Refusal refusal)
    : port_(kj::mv(port)),
      receiver_(port_->makeReceiver({protocol::kMaxDatagram, 0})),
      advert_(std::move(advert)),
      timer_(timer),
      refusal_(std::move(refusal)) {}

kj::Promise<void> DiscoveryResponder::run() {
  // evalNow: kj's receive() tries at once, so its failure may be thrown.
  return kj::evalNow([this] { return receiver_->receive(); })
      .then([this] { return handle(); },
            [this](kj::Exception&& e) -> kj::Promise<void> {
              refusal_("discovery", "discovery receive failed",
                       "receiving on the discovery port failed, trying again in 100 ms: " +
                           std::string(e.getDescription().cStr()));
              return timer_.afterDelay(100 * kj::MILLISECONDS);
            })
      .then([this] { return run(); });
}

kj::Promise<void> DiscoveryResponder::handle() {
  auto content = receiver_->getContent();
  std::string from = receiver_->getSource().toString().cStr();
  std::string source = from.substr(0, from.rfind(':'));
  std::optional<protocol::DiscoveryQuery> query;
  // A longer datagram arrives cut to the buffer: it is not read at all.
  if (!content.isTruncated) query = protocol::decodeQuery(content.value);
  if (!query) {
    ++ignored_;
    refusal_("discovery", "ignored discovery datagram",
             "ignored a datagram on the discovery port from " + from +
                 ": not a hills discovery query of this version (" +
                 (content.isTruncated ? "longer than " + std::to_string(protocol::kMaxDatagram)
                                      : std::to_string(content.value.size())) +
                 " bytes)");
    return kj::READY_NOW;
  }
  // Several servers share a LAN: a query for another is not ours to answer.
  if (query->name != advert_.name) return kj::READY_NOW;
  if (!limiter_.allow(timer_.now(), source)) {
    ++limited_;
    refusal_("discovery", "discovery replies limited",
             "did not answer a discovery query from " + from + ": more than " +
                 std::to_string(kRepliesPerSource) + " a second from it, or " +
                 std::to_string(kRepliesTotal) + " in all");
    return kj::READY_NOW;
  }
  protocol::DiscoveryReply reply = advert_;
  reply.nonce = query->nonce;
  auto bytes = kj::heap(protocol::encodeReply(reply));
  auto to = receiver_->getSource().clone();
  auto& data = *bytes;
  auto& destination = *to;
  return kj::evalNow([&] { return port_->send(data.data(), data.size(), destination); })
      .then([this](std::size_t) { ++answered_; },
            [this, from](kj::Exception&& e) {
              refusal_("discovery", "discovery reply failed",
                       "answering the discovery query from " + from +
                           " failed: " + e.getDescription().cStr());
            })
      .attach(kj::mv(bytes), kj::mv(to));
}

bool wildcardHost(std::string_view host) {
  return host.empty() || host == "0.0.0.0" || host == "*" || host == "::" || host == "[::]";
}

}  // namespace server

kj::Promise<void> SyncServer::serveDiscovery(kj::LowLevelAsyncIoProvider& io, std::string host,
                                             std::uint16_t port) {
  Impl& impl = *impl_;
  const ServerDiscovery& d = impl.config.discovery;
  if (d.name.empty()) {
    throw Error(ErrorCode::kInvalidArgument,
                "discovery is off: the server's configuration names no discovery.name");
  }
  checkDiscovery(d, "the server's configuration");
  protocol::DiscoveryReply advert;
  advert.name = d.name;
  advert.uuid = impl.db.uuid();
  advert.host = !d.advertise.empty() ? d.advertise : server::wildcardHost(host) ? "" : host;
  advert.port = port;
  if (impl.config.tls) advert.fingerprint = certificateFingerprint(*impl.config.tls);
  advert.protocol = sync::PROTOCOL_VERSION;
  // Checked now: a reply too long to send would otherwise fail at every query.
  protocol::encodeReply(advert);
  auto responder = kj::heap<server::DiscoveryResponder>(
      protocol::openDiscoveryPort(io, d.where, d.interface, true).port, advert, impl.timer,
      [&impl](std::string_view source, std::string_view kind, std::string_view text) {
        impl.refusal(source, kind, text);
      });
  impl.log("answering discovery for '" + d.name + "' on " + d.where.toString() +
           (d.interface.empty() ? "" : " (interface " + d.interface + ")") + ", advertising " +
           (advert.host.empty() ? std::string("the address replies leave from") : advert.host) +
           " port " + std::to_string(port));
  auto& ref = *responder;
  impl.discovery = kj::mv(responder);
  return ref.run();
}

}  // namespace hills
