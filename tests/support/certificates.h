// Certificates the TLS tests and benchmarks make for themselves, with the
// openssl command (EC P-256: quick to make).
#pragma once

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>

#include "hills/tls.h"

namespace hills::test {

struct TestCertificate {
  std::string certificateFile;  // PEM
  std::string keyFile;          // PEM, unencrypted
  std::string fingerprint;      // "sha256:..." as hills-server prints it
};

namespace detail {

inline void openssl(const std::string& arguments) {
  std::string command = "openssl " + arguments + " >/dev/null 2>&1";
  if (std::system(command.c_str()) != 0) {
    throw std::runtime_error("the openssl command failed: " + command);
  }
}

inline TestCertificate finished(const std::string& stem) {
  std::ifstream in(stem + ".crt");
  std::stringstream pem;
  pem << in.rdbuf();
  return {stem + ".crt", stem + ".key", protocol::certificateFingerprint(pem.str())};
}

constexpr char kKey[] = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 30";

}  // namespace detail

// A self-signed certificate, <dir>/<name>.crt and .key, for the host
// `host` (also its common name), localhost and 127.0.0.1. Each call makes a
// new key, so two calls give two certificates.
inline TestCertificate selfSigned(const std::string& dir, const std::string& name,
                                  const std::string& host = "localhost") {
  std::string stem = dir + "/" + name;
  detail::openssl(std::string("req -x509 ") + detail::kKey + " -keyout " + stem + ".key -out " +
                  stem + ".crt -subj /CN=" + host + " -addext subjectAltName=DNS:" + host +
                  ",DNS:localhost,IP:127.0.0.1");
  return detail::finished(stem);
}

// A certificate authority (self-signed, for signing) and a certificate it
// issues for `host`: <dir>/<name>.crt and .key.
inline TestCertificate issuedBy(const TestCertificate& ca, const std::string& dir,
                                const std::string& name, const std::string& host = "localhost") {
  std::string stem = dir + "/" + name;
  detail::openssl(std::string("req -new ") + detail::kKey + " -keyout " + stem + ".key -out " +
                  stem + ".csr -subj /CN=" + host + " -addext subjectAltName=DNS:" + host);
  detail::openssl("x509 -req -days 30 -in " + stem + ".csr -CA " + ca.certificateFile + " -CAkey " +
                  ca.keyFile + " -CAcreateserial -copy_extensions copyall -out " + stem + ".crt");
  return detail::finished(stem);
}

}  // namespace hills::test
