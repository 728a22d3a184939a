// hills borrows / hills break: a short session with a sync server (hello,
// then one call), for the administrator who has no application at hand.
#include <capnp/rpc-twoparty.h>
#include <kj/async-io.h>
#include <kj/timer.h>

#include <cstdio>

#include "commands.h"
#include "common.h"
#include "hills/discovery.h"
#include "hills/protocol.h"
#include "hills/tls.h"

namespace hills::tools {
namespace {

struct RemoteArgs {
  std::string server, name, token;
  bool plaintext = false;
  protocol::TlsTrust trust;  // caFile, serverName, fingerprint
  std::string tree;
  KeyArg key;
};

// The server as the user named it, and where it was found.
std::string where(const std::string& named, const std::string& found) {
  return named == found ? named : named + " (" + found + ")";
}

// Connects, says hello (no schemas: the tool declares no trees) and runs
// fn(session) to completion, at most 10 seconds in all.
template <class F>
void withSession(const RemoteArgs& args, F&& fn) {
  if (args.server.empty() || args.name.empty()) {
    throw Error(ErrorCode::kInvalidArgument,
                "--server HOST:PORT (or discover:NAME) and --name are needed");
  }
  // No replica to pin a certificate in: the server is verified against a
  // fingerprint or a CA, or spoken to in plain text, as the user says.
  if (!args.plaintext && args.trust.fingerprint.empty() && args.trust.caFile.empty()) {
    throw Error(ErrorCode::kInvalidArgument,
                "say how to verify the server: --fingerprint sha256:... (as hills-server prints "
                "it at start) or --ca-file FILE; or --plaintext for a server configured "
                "\"plaintext\": true");
  }
  auto target = protocol::discoveryTarget(args.server);  // refuses a malformed "discover:"
  auto io = kj::setupAsyncIo();
  auto& timer = io.provider->getTimer();
  std::string server = args.server;  // "host:port" once discovered
  kj::Own<kj::AsyncIoStream> stream;
  try {
    if (target) {
      // What the reply must show: the certificate the user trusts, or none
      // at all over plain TCP; the connection checks it again.
      protocol::DiscoveryPins pins;
      pins.transport = args.plaintext ? protocol::DiscoveryTransport::kPlainTcp
                                      : protocol::DiscoveryTransport::kTls;
      if (!args.plaintext) pins.fingerprint = args.trust.fingerprint;
      server = protocol::discover(io, *target, pins, protocol::toKj(protocol::kDiscoveryTimeout))
                   .wait(io.waitScope)
                   .address;
    }
    auto address = timer.timeoutAfter(10 * kj::SECONDS,
                                      io.provider->getNetwork().parseAddress(server, 7420))
                       .wait(io.waitScope);
    stream = args.plaintext
                 ? timer.timeoutAfter(10 * kj::SECONDS, address->connect()).wait(io.waitScope)
                 : timer.timeoutAfter(10 * kj::SECONDS,
                                      protocol::connectTls(*address, server, args.trust, timer))
                       .wait(io.waitScope)
                       .stream;
  } catch (const kj::Exception& e) {
    Error error = protocol::toError(e);
    throw Error(error.code(), "server " + where(args.server, server) + ": " + error.what());
  }
  capnp::TwoPartyClient client(*stream);
  auto gate = client.bootstrap().castAs<sync::Gate>();
  auto request = gate.helloRequest();
  auto hello = request.initHello();
  hello.setClient(args.name);
  hello.setToken(args.token);
  hello.setProtocol(sync::PROTOCOL_VERSION);
  try {
    auto answer = timer.timeoutAfter(10 * kj::SECONDS, request.send()).wait(io.waitScope);
    auto session = answer.getSession();
    fn(session, timer, io.waitScope);
  } catch (const kj::Exception& e) {
    Error error = protocol::toError(e);
    throw Error(error.code(), "server " + where(args.server, server) + ": " + error.what());
  }
}

void listBorrows(const RemoteArgs& args) {
  withSession(args, [&](sync::Session::Client& session, kj::Timer& timer, kj::WaitScope& ws) {
    auto reply =
        timer.timeoutAfter(10 * kj::SECONDS, session.listBorrowsRequest().send()).wait(ws);
    auto borrows = reply.getBorrows();
    for (auto b : borrows) {
      auto info = protocol::borrowOf(b);
      std::printf("%s %llu/%u held by %s since %s fencing %llu\n", info.key.tree.c_str(),
                  static_cast<unsigned long long>(info.key.id), info.key.revision,
                  info.holder.c_str(), isoTime(protocol::toNanos(info.since)).c_str(),
                  static_cast<unsigned long long>(info.fencing));
    }
    std::printf("%u borrows\n", borrows.size());
  });
}

void breakBorrow(const RemoteArgs& args) {
  withSession(args, [&](sync::Session::Client& session, kj::Timer& timer, kj::WaitScope& ws) {
    auto request = session.breakBorrowRequest();
    std::uint32_t revision = args.key.revision.value_or(0);
    protocol::setKey(request.initKey(), OpaqueKey{args.tree, args.key.id, revision});
    auto reply = timer.timeoutAfter(10 * kj::SECONDS, request.send()).wait(ws);
    protocol::check(reply.getOutcome());
    auto info = protocol::borrowOf(reply.getBorrow());
    std::printf("broke the borrow of %s %llu/%u held by %s (fencing %llu)\n", args.tree.c_str(),
                static_cast<unsigned long long>(args.key.id), revision, info.holder.c_str(),
                static_cast<unsigned long long>(info.fencing));
  });
}

kj::MainBuilder& serverOptions(kj::MainBuilder& b, std::shared_ptr<RemoteArgs> args) {
  return b
      .addOptionWithArg({"server"}, [args](kj::StringPtr v) { args->server = v; return true; },
                        "<HOST:PORT>", "The sync server (port 7420 when left out), or "
                        "discover:NAME[@GROUP:PORT] for the server the LAN's discovery finds "
                        "by that name.")
      .addOptionWithArg({"name"}, [args](kj::StringPtr v) { args->name = v; return true; },
                        "<NAME>", "A client name the server's configuration lists.")
      .addOptionWithArg({"token"}, [args](kj::StringPtr v) { args->token = v; return true; },
                        "<TOKEN>", "That client's token.")
      .addOptionWithArg({"fingerprint"},
                        [args](kj::StringPtr v) -> kj::MainBuilder::Validity {
                          try {
                            args->trust.fingerprint = protocol::normalFingerprint(v.cStr());
                          } catch (const Error& e) {
                            return kj::str(e.what());
                          }
                          return true;
                        },
                        "<sha256:HEX>", "The fingerprint of the server's certificate, as "
                        "hills-server prints it at start.")
      .addOptionWithArg({"ca-file"},
                        [args](kj::StringPtr v) { args->trust.caFile = v; return true; }, "<FILE>",
                        "CA certificates (PEM) the server's certificate must lead to.")
      .addOptionWithArg({"server-name"},
                        [args](kj::StringPtr v) { args->trust.serverName = v; return true; },
                        "<NAME>", "The host name the server's certificate must hold (default: "
                        "the host of --server, or the address discovery found: give the name "
                        "a CA-issued certificate holds).")
      .addOption({"plaintext"}, [args]() { args->plaintext = true; return true; },
                 "Plain TCP, for a server configured \"plaintext\": true.");
}

}  // namespace

kj::MainFunc borrowsCommand(kj::ProcessContext& context) {
  auto args = std::make_shared<RemoteArgs>();
  kj::MainBuilder b(context, kVersion,
                    "Lists the borrows (check-outs) a sync server holds: tree, id/revision, "
                    "holder, since when and fencing number. Needs a client with the read "
                    "permission.");
  serverOptions(b, args);
  return b
      .callAfterParsing([args, &context]() {
        return guarded(context, [&]() -> kj::MainBuilder::Validity {
          listBorrows(*args);
          return true;
        });
      })
      .build();
}

kj::MainFunc breakCommand(kj::ProcessContext& context) {
  auto args = std::make_shared<RemoteArgs>();
  kj::MainBuilder b(context, kVersion,
                    "Breaks the borrow of ID/REV of TREE (revision 0 when left out) on a sync "
                    "server: an administrator's action, logged, after which the record may be "
                    "checked out again; the old holder keeps its edit as a conflict copy. Needs "
                    "a client with the admin permission.");
  serverOptions(b, args);
  return b
      .expectArg("TREE", [args](kj::StringPtr v) { args->tree = v; return true; })
      .expectArg("ID[/REV]", [args](kj::StringPtr v) { return keyArgument(v, args->key); })
      .callAfterParsing([args, &context]() {
        return guarded(context, [&]() -> kj::MainBuilder::Validity {
          breakBorrow(*args);
          return true;
        });
      })
      .build();
}

}  // namespace hills::tools
