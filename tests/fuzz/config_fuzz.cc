// Fuzz target: hills-server's configuration file (loadServerConfig). Text
// that is not a configuration is refused with hills::Error naming the file;
// a configuration it takes holds what the server relies on.
#include <fstream>
#include <set>

#include "fuzz_support.h"
#include "hills/server.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const std::string path = hills::fuzz::scratch().sub("hills-server.json");
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  }
  hills::ServerConfig config;
  bool taken = false;
  try {
    config = hills::loadServerConfig(path);
    taken = true;
  } catch (const hills::Error& e) {
    if (std::string(e.what()).find(path) == std::string::npos) {
      hills::fuzz::fail(std::string("a refusal that does not name the file: ") + e.what());
    }
  } catch (const kj::Exception& e) {
    hills::fuzz::fail(std::string("a kj::Exception escaped: ") + e.getDescription().cStr());
  } catch (const std::exception& e) {
    hills::fuzz::fail(std::string("a std::exception escaped: ") + e.what());
  }
  if (!taken) return 0;
  if (config.idBlock == 0 || config.batchChanges == 0 || config.maxConnections == 0 ||
      config.helloTimeout.count() <= 0) {
    hills::fuzz::fail("a configuration with a limit of 0 was taken");
  }
  if (config.tls.has_value() == config.plaintext) {
    hills::fuzz::fail("a configuration without exactly one of tls and plaintext was taken");
  }
  std::set<std::string> names;
  for (const auto& c : config.clients) {
    if (c.name.empty() || c.token.empty()) hills::fuzz::fail("a client without a name or token");
    if (!names.insert(c.name).second) hills::fuzz::fail("a client listed twice was taken");
  }
  return 0;
}
