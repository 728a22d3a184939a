// hills-server's configuration file.
#include <capnp/compat/json.h>
#include <capnp/message.h>
#include <kj/exception.h>

#include <fstream>
#include <set>
#include <sstream>

#include "authority.h"
#include "hills/config.capnp.h"
#include "hills/server.h"

namespace hills {

ServerConfig loadServerConfig(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw Error(ErrorCode::kIo, "the server configuration " + path + " cannot be read");
  std::stringstream text;
  text << in.rdbuf();
  std::string json = text.str();

  capnp::MallocMessageBuilder msg;
  auto root = msg.initRoot<config::ServerConfig>();
  try {
    capnp::JsonCodec codec;
    // A misspelt limit would otherwise be ignored without a word.
    codec.setRejectUnknownFields(true);
    codec.decode(kj::StringPtr(json.c_str(), json.size()), root);
  } catch (const kj::Exception& e) {
    throw Error(ErrorCode::kInvalidArgument,
                "the server configuration " + path +
                    " is not JSON of the expected shape: " + e.getDescription().cStr());
  }
  ServerConfig out;
  out.idBlock = root.getIdBlock();
  out.batchChanges = root.getBatchChanges();
  out.maxConnections = root.getMaxConnections();
  out.helloTimeout = std::chrono::milliseconds(root.getHelloTimeoutMs());
  out.maxConnectionsPerSource = root.getMaxConnectionsPerSource();
  out.maxHelloFailures = root.getMaxHelloFailures();
  out.helloDelay = std::chrono::milliseconds(root.getHelloDelayMs());
  out.helloDelayMax = std::chrono::milliseconds(root.getHelloDelayMaxMs());
  out.maxBytesInFlight = root.getMaxBytesInFlight();
  out.acceptRetry = std::chrono::milliseconds(root.getAcceptRetryMs());
  out.logBurst = root.getLogBurst();
  out.logWindow = std::chrono::milliseconds(root.getLogWindowMs());
  out.compactLog = root.getCompactLog();
  out.logRetention = std::chrono::seconds(root.getLogRetentionS());
  out.httpListen = root.getHttpListen().cStr();
  const std::pair<const char*, std::uint64_t> positive[] = {
      {"idBlock", out.idBlock},
      {"batchChanges", out.batchChanges},
      {"maxConnections", out.maxConnections},
      {"helloTimeoutMs", static_cast<std::uint64_t>(out.helloTimeout.count())},
      {"maxConnectionsPerSource", out.maxConnectionsPerSource},
      {"maxHelloFailures", out.maxHelloFailures},
      {"helloDelayMs", static_cast<std::uint64_t>(out.helloDelay.count())},
      {"maxBytesInFlight", out.maxBytesInFlight},
      {"acceptRetryMs", static_cast<std::uint64_t>(out.acceptRetry.count())},
      {"logBurst", out.logBurst},
      {"logWindowMs", static_cast<std::uint64_t>(out.logWindow.count())},
  };
  for (const auto& [name, value] : positive) {
    if (value == 0) {
      throw Error(ErrorCode::kInvalidArgument,
                  "the server configuration " + path + " sets " + name + " to 0");
    }
  }
  if (out.helloDelayMax < out.helloDelay) {
    throw Error(ErrorCode::kInvalidArgument,
                "the server configuration " + path + " sets helloDelayMaxMs (" +
                    std::to_string(out.helloDelayMax.count()) + ") below helloDelayMs (" +
                    std::to_string(out.helloDelay.count()) + ")");
  }
  std::set<std::string> names;
  for (auto c : root.getClients()) {
    ClientAccount account{c.getName().cStr(), c.getToken().cStr(), c.getRead(), c.getWrite(),
                          c.getAdmin()};
    if (account.name.empty() || account.token.empty()) {
      throw Error(ErrorCode::kInvalidArgument,
                  "the server configuration " + path + " lists a client without a name or token");
    }
    if (!names.insert(account.name).second) {
      throw Error(ErrorCode::kInvalidArgument, "the server configuration " + path +
                                                   " lists client '" + account.name + "' twice");
    }
    out.clients.push_back(std::move(account));
  }
  return out;
}

Options serverDatabaseOptions() {
  Options o;
  o.changeLog = true;
  o.ids = Options::IdSource::kOwn;
  o.hooks.push_back(server::authorityHook());
  o.durable = true;
  o.author = "hills-server";
  return o;
}

}  // namespace hills
