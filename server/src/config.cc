// hills-server's configuration file.
#include <capnp/compat/json.h>
#include <capnp/message.h>
#include <kj/compat/tls.h>
#include <kj/exception.h>

#include <fstream>
#include <set>
#include <sstream>

#include "authority.h"
#include "hills/config.capnp.h"
#include "hills/discovery.h"
#include "hills/server.h"
#include "hills/tls.h"

namespace hills {

namespace {

std::string readText(const std::string& path, const std::string& what) {
  std::ifstream in(path);
  if (!in) throw Error(ErrorCode::kInvalidArgument, what + " " + path + " cannot be read");
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// A file the configuration names, taken from the configuration's directory
// when relative.
std::string besides(const std::string& config, const std::string& file) {
  if (file.empty() || file.front() == '/') return file;
  auto slash = config.rfind('/');
  return slash == std::string::npos ? file : config.substr(0, slash + 1) + file;
}

std::optional<ServerTls> readTls(config::ServerConfig::Reader root, const std::string& path) {
  if (!root.hasTls()) return std::nullopt;
  auto tls = root.getTls();
  ServerTls out;
  out.certificateFile = besides(path, tls.getCertificateFile().cStr());
  out.keyFile = besides(path, tls.getKeyFile().cStr());
  if (out.certificateFile.empty() || out.keyFile.empty()) {
    throw Error(ErrorCode::kInvalidArgument,
                "the server configuration " + path +
                    " has a tls without both files: it needs \"certificateFile\" and \"keyFile\"");
  }
  const std::string where = "the server configuration " + path + ": tls.";
  out.certificate = readText(out.certificateFile, where + "certificateFile");
  out.key = readText(out.keyFile, where + "keyFile");
  return out;
}

ServerDiscovery readDiscovery(config::ServerConfig::Reader root, const std::string& path) {
  ServerDiscovery out;
  if (!root.hasDiscovery()) return out;
  auto d = root.getDiscovery();
  out.name = d.getName().cStr();
  out.where.group = d.getGroup().cStr();
  out.where.port = d.getPort();
  out.advertise = d.getAdvertise().cStr();
  out.interface = d.getInterface().cStr();
  if (out.name.empty()) {
    // A discovery member without a name would leave discovery off without a word.
    throw Error(ErrorCode::kInvalidArgument,
                "the server configuration " + path +
                    " has a discovery without a name: add \"name\" (what clients ask for, "
                    "with server = \"discover:<name>\") or remove discovery");
  }
  checkDiscovery(out, "the server configuration " + path);
  return out;
}

}  // namespace

void checkDiscovery(const ServerDiscovery& discovery, const std::string& where) {
  if (discovery.name.empty()) return;
  auto refuse = [&](const std::string& member, const std::string& why) {
    throw Error(ErrorCode::kInvalidArgument, where + ": discovery." + member + ": " + why);
  };
  if (auto why = protocol::whyNotName(discovery.name); !why.empty()) refuse("name", why);
  if (auto why = protocol::whyNotGroup(discovery.where.group); !why.empty()) refuse("group", why);
  if (discovery.where.port == 0) refuse("port", "0 is no port to send queries to");
  if (!discovery.interface.empty() && !protocol::isIpv4(discovery.interface)) {
    refuse("interface", "'" + discovery.interface +
                            "' is not an IPv4 address (the address of the interface to join on)");
  }
  if (discovery.advertise.size() > protocol::kMaxDiscoveryText) {
    refuse("advertise", "longer than " + std::to_string(protocol::kMaxDiscoveryText) + " bytes");
  }
  for (char c : discovery.advertise) {
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f || c == ':') {
      refuse("advertise", "'" + discovery.advertise +
                              "' is not a host name or IPv4 address (no port, no spaces)");
    }
  }
}

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
  out.tls = readTls(root, path);
  out.plaintext = root.getPlaintext();
  out.discovery = readDiscovery(root, path);
  checkTransport(out, "the server configuration " + path);
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
                          c.getAdmin(), {}};
    for (auto tree : c.getTrees()) account.trees.emplace_back(tree.cStr());
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

void checkTransport(const ServerConfig& config, const std::string& where) {
  if (config.tls && config.plaintext) {
    throw Error(ErrorCode::kInvalidArgument,
                where + " sets both tls and \"plaintext\": true; keep one");
  }
  if (!config.tls && !config.plaintext) {
    throw Error(ErrorCode::kInvalidArgument,
                where +
                    " says neither how to encrypt nor that it serves plain text: add "
                    "\"tls\": {\"certificateFile\": \"server.crt\", \"keyFile\": "
                    "\"server.key\"} (PEM files), or \"plaintext\": true to serve "
                    "unencrypted TCP on a network you trust");
  }
  if (!config.tls) return;
  const ServerTls& tls = *config.tls;
  auto refuse = [&](const std::string& file, const std::string& what, const kj::Exception& e) {
    throw Error(ErrorCode::kInvalidArgument,
                where + ": " + file + " " + what + " (" + e.getDescription().cStr() + ")");
  };
  // kj-tls reads them as the server will (and says why it cannot).
  try {
    kj::TlsCertificate certificate(kj::StringPtr(tls.certificate.c_str()));
  } catch (const kj::Exception& e) {
    refuse(tls.certificateFile, "holds no PEM certificate", e);
  }
  try {
    kj::TlsPrivateKey key(kj::StringPtr(tls.key.c_str()));
  } catch (const kj::Exception& e) {
    refuse(tls.keyFile, "holds no PEM private key (unencrypted)", e);
  }
  if (!protocol::keyMatches(tls.certificate, tls.key)) {
    throw Error(ErrorCode::kInvalidArgument,
                where + ": " + tls.keyFile + " is not the key of " + tls.certificateFile);
  }
}

std::string certificateFingerprint(const ServerTls& tls) {
  return protocol::certificateFingerprint(tls.certificate);
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
