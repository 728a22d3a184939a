// TLS for the sync connection: fingerprints, the probe that reads a
// server's certificate, and the verified connection (kj-tls).
#include "hills/tls.h"

#include <arpa/inet.h>
#include <kj/compat/tls.h>
#include <kj/debug.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <cctype>
#include <fstream>
#include <memory>
#include <sstream>
#include <vector>

#include "hills/error.h"
#include "hills/protocol.h"

namespace hills::protocol {

namespace {

template <class T, void (*Free)(T*)>
struct Freer {
  void operator()(T* p) const { Free(p); }
};
using X509Ptr = std::unique_ptr<X509, Freer<X509, X509_free>>;
using BioPtr = std::unique_ptr<BIO, Freer<BIO, BIO_free_all>>;
using SslCtxPtr = std::unique_ptr<SSL_CTX, Freer<SSL_CTX, SSL_CTX_free>>;
using SslPtr = std::unique_ptr<SSL, Freer<SSL, SSL_free>>;

// The newest OpenSSL error of this thread, as text.
std::string opensslError() {
  unsigned long code = ERR_get_error();
  ERR_clear_error();
  if (code == 0) return "no reason given";
  char text[256];
  ERR_error_string_n(code, text, sizeof(text));
  return text;
}

X509Ptr readCertificate(std::string_view pem) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  X509Ptr cert(bio ? PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr) : nullptr);
  if (!cert) {
    ERR_clear_error();
    throw Error(ErrorCode::kInvalidArgument, "no PEM certificate found");
  }
  return cert;
}

std::string fingerprintOf(X509* cert) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned length = 0;
  if (X509_digest(cert, EVP_sha256(), digest, &length) != 1) {
    throw Error(ErrorCode::kInvalidArgument, "cannot digest the certificate: " + opensslError());
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = "sha256:";
  for (unsigned i = 0; i < length; ++i) {
    out += kHex[digest[i] >> 4];
    out += kHex[digest[i] & 15];
  }
  return out;
}

std::string pemOf(X509* cert) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_X509(bio.get(), cert) != 1) {
    throw Error(ErrorCode::kIo, "cannot write a certificate as PEM: " + opensslError());
  }
  char* data = nullptr;
  long size = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<std::size_t>(size));
}

// A DNS name the certificate holds (its first subjectAltName, else its
// common name): what kj-tls is given to check when the certificate itself
// is the trust.
std::string nameIn(X509* cert) {
  auto* names =
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  std::string found;
  for (int i = 0; names != nullptr && i < sk_GENERAL_NAME_num(names) && found.empty(); ++i) {
    const GENERAL_NAME* name = sk_GENERAL_NAME_value(names, i);
    if (name->type == GEN_DNS) {
      const unsigned char* text = ASN1_STRING_get0_data(name->d.dNSName);
      found.assign(reinterpret_cast<const char*>(text),
                   static_cast<std::size_t>(ASN1_STRING_length(name->d.dNSName)));
    }
  }
  GENERAL_NAMES_free(names);
  if (found.empty()) {
    char common[256] = "";
    if (X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, common,
                                  sizeof(common)) > 0) {
      found = common;
    }
  }
  return found;
}

bool isIpAddress(const std::string& host) {
  unsigned char buffer[sizeof(in6_addr)];
  return inet_pton(AF_INET, host.c_str(), buffer) == 1 ||
         inet_pton(AF_INET6, host.c_str(), buffer) == 1;
}

// "host:port" or "[v6]:port" -> host.
std::string hostOf(const std::string& server) {
  if (!server.empty() && server.front() == '[') return server.substr(1, server.find(']') - 1);
  auto colon = server.rfind(':');
  return colon == std::string::npos ? server : server.substr(0, colon);
}

std::string readFile(const std::string& path, const char* what) {
  std::ifstream in(path);
  if (!in)
    throw Error(ErrorCode::kInvalidArgument, std::string(what) + " " + path + " cannot be read");
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

[[noreturn]] void notTls(const std::string& server, std::string_view how) {
  kj::throwFatalException(
      toException(Error(ErrorCode::kOffline, "the server at " + server +
                                                 " does not speak TLS: it " + std::string(how))));
}

[[noreturn]] void wrongServer(const std::string& text) {
  kj::throwFatalException(toException(Error(ErrorCode::kWrongServer, text)));
}

// How long a probe's close may wait for the server to close its side.
constexpr kj::Duration kProbeClose = 5 * kj::SECONDS;

// A TLS handshake driven over a kj stream through memory BIOs, verifying
// nothing: it only learns the certificate the server presents.
class Probe {
 public:
  Probe(kj::Own<kj::AsyncIoStream> stream, std::string server, const std::string& sni)
      : stream_(kj::mv(stream)), server_(std::move(server)) {
    ctx_.reset(SSL_CTX_new(TLS_client_method()));
    if (ctx_) ssl_.reset(SSL_new(ctx_.get()));
    if (!ssl_) throw Error(ErrorCode::kIo, "cannot set up TLS: " + opensslError());
    SSL_set_verify(ssl_.get(), SSL_VERIFY_NONE, nullptr);
    if (!sni.empty() && !isIpAddress(sni)) SSL_set_tlsext_host_name(ssl_.get(), sni.c_str());
    BIO* in = BIO_new(BIO_s_mem());
    BIO* out = BIO_new(BIO_s_mem());
    SSL_set_bio(ssl_.get(), in, out);  // the SSL owns both
    in_ = in;
    out_ = out;
    SSL_set_connect_state(ssl_.get());
  }

  // Resolves once the handshake is done; certificate() then holds what
  // the server presented.
  kj::Promise<void> run() {
    ERR_clear_error();
    int result = SSL_do_handshake(ssl_.get());
    int error = result == 1 ? SSL_ERROR_NONE : SSL_get_error(ssl_.get(), result);
    auto sent = flush();
    if (result == 1) return sent;
    if (error != SSL_ERROR_WANT_READ) failed();
    return sent.then([this] { return stream_->tryRead(buffer_, 1, sizeof(buffer_)); })
        .then([this](std::size_t n) -> kj::Promise<void> {
          if (n == 0) {
            if (received_ == 0) notTls(server_, "closed the connection at the TLS handshake");
            failed();
          }
          if (received_ == 0) first_ = buffer_[0];
          received_ += n;
          BIO_write(in_, buffer_, static_cast<int>(n));
          return run();
        });
  }

  X509Ptr certificate() { return X509Ptr(SSL_get1_peer_certificate(ssl_.get())); }

  // Ends the probe as TLS ends a connection: a close_notify, the write side
  // shut, then what the server still sends (session tickets) read until it
  // closes too. Dropped with data unread, the socket would reset the
  // connection, which the server counts and logs as one that failed.
  kj::Promise<void> close() {
    ERR_clear_error();
    SSL_shutdown(ssl_.get());  // queues the close_notify; the server's is not waited for
    return flush().then([this] {
      stream_->shutdownWrite();
      return drain();
    });
  }

 private:
  kj::Promise<void> flush() {
    auto pending = BIO_ctrl_pending(out_);
    if (pending == 0) return kj::READY_NOW;
    auto bytes = kj::heapArray<kj::byte>(pending);
    BIO_read(out_, bytes.begin(), static_cast<int>(pending));
    auto& ref = bytes;
    return stream_->write(ref.begin(), ref.size()).attach(kj::mv(bytes));
  }

  kj::Promise<void> drain() {
    return stream_->tryRead(buffer_, 1, sizeof(buffer_)).then([this](std::size_t n) {
      return n == 0 ? kj::Promise<void>(kj::READY_NOW) : drain();
    });
  }

  // TLS records start with a content type from 20 to 23 and version 3.x.
  [[noreturn]] void failed() {
    std::string reason = opensslError();
    if (received_ > 0 && (first_ < 20 || first_ > 23)) {
      notTls(server_, "answered the TLS handshake with something else");
    }
    kj::throwFatalException(
        toException(Error(ErrorCode::kOffline, "the TLS handshake with the server at " + server_ +
                                                   " failed: " + reason)));
  }

  kj::Own<kj::AsyncIoStream> stream_;
  std::string server_;
  SslCtxPtr ctx_;
  SslPtr ssl_;
  BIO* in_ = nullptr;
  BIO* out_ = nullptr;
  std::size_t received_ = 0;
  kj::byte first_ = 0;
  kj::byte buffer_[16384];
};

// The certificates of a PEM file, one kj::TlsCertificate each (kj-tls
// would read a file of several as one chain).
std::vector<kj::TlsCertificate> authorities(const std::string& path) {
  std::string text = readFile(path, "tls.caFile");
  std::vector<kj::TlsCertificate> out;
  constexpr std::string_view kEnd = "-----END CERTIFICATE-----";
  for (std::size_t at = text.find("-----BEGIN CERTIFICATE-----"); at != std::string::npos;
       at = text.find("-----BEGIN CERTIFICATE-----", at)) {
    auto end = text.find(kEnd, at);
    if (end == std::string::npos) break;
    end += kEnd.size();
    try {
      out.emplace_back(kj::StringPtr(text.substr(at, end - at).c_str()));
    } catch (const kj::Exception& e) {
      throw Error(ErrorCode::kInvalidArgument,
                  "tls.caFile " + path +
                      " holds a certificate that does not read: " + e.getDescription().cStr());
    }
    at = end;
  }
  if (out.empty()) {
    throw Error(ErrorCode::kInvalidArgument, "tls.caFile " + path + " holds no PEM certificate");
  }
  return out;
}

// What the presented certificate is checked against, and the name kj-tls
// checks it for.
struct Decision {
  std::vector<kj::TlsCertificate> trusted;
  std::string hostname;
};

Decision decide(X509* cert, const std::string& pem, const std::string& fingerprint,
                const std::string& server, const TlsTrust& trust) {
  Decision d;
  if (!trust.caFile.empty()) {
    d.trusted = authorities(trust.caFile);
    d.hostname = trust.serverName.empty() ? hostOf(server) : trust.serverName;
    if (isIpAddress(d.hostname)) {
      throw Error(ErrorCode::kInvalidArgument,
                  "with tls.caFile the server's certificate is checked against a host name, and "
                  "the server is given as " +
                      server + ": set tls.serverName to a name its certificate holds");
    }
    return d;
  }
  const std::string& expected =
      trust.fingerprint.empty() ? trust.pinnedFingerprint : trust.fingerprint;
  if (!expected.empty() && expected != fingerprint) {
    wrongServer("the certificate of the server at " + server + " (" + fingerprint +
                ") does not match the " +
                (trust.fingerprint.empty() ? "certificate pinned at first contact ("
                                           : "fingerprint given in tls.fingerprint (") +
                expected +
                "); nothing was sent to it. If its certificate was replaced on purpose, give "
                "the new fingerprint in tls.fingerprint");
  }
  if (X509_check_issued(cert, cert) != X509_V_OK) {
    wrongServer("the certificate of the server at " + server + " (" + fingerprint +
                ") is not self-signed, so it cannot be pinned: give its issuer in tls.caFile");
  }
  d.trusted.emplace_back(kj::StringPtr(pem.c_str()));
  d.hostname = trust.serverName.empty() ? nameIn(cert) : trust.serverName;
  if (d.hostname.empty()) {
    wrongServer("the certificate of the server at " + server + " (" + fingerprint +
                ") names no host: set tls.serverName, or give the server a certificate with a "
                "subjectAltName");
  }
  return d;
}

// The real connection: kj-tls trusting exactly what decide() chose.
kj::Promise<TlsStream> handshake(kj::NetworkAddress& address, std::string server,
                                 TlsStream presented, Decision decision, std::string caFile) {
  kj::TlsContext::Options options;
  options.useSystemTrustStore = false;
  auto trusted = kj::heap<std::vector<kj::TlsCertificate>>(std::move(decision.trusted));
  options.trustedCertificates = kj::arrayPtr(trusted->data(), trusted->size());
  auto context = kj::heap<kj::TlsContext>(options);
  auto& ctx = *context;
  auto hostname = kj::heapString(decision.hostname.c_str());
  std::string fingerprint = presented.fingerprint;
  return address.connect()
      .then([&ctx, name = hostname.asPtr()](kj::Own<kj::AsyncIoStream> stream) {
        return ctx.wrapClient(kj::mv(stream), name);
      })
      .then(
          [presented = kj::mv(presented), context = kj::mv(context),
           trusted = kj::mv(trusted)](kj::Own<kj::AsyncIoStream> stream) mutable {
            presented.stream = stream.attach(kj::mv(context), kj::mv(trusted));
            return kj::mv(presented);
          },
          [server, caFile, fingerprint](kj::Exception&& e) -> TlsStream {
            std::string why = e.getDescription().cStr();
            if (why.find("not trusted") == std::string::npos) kj::throwFatalException(kj::mv(e));
            wrongServer("the certificate of the server at " + server + " (" + fingerprint + ") " +
                        (caFile.empty() ? "failed its check"
                                        : "is not vouched for by tls.caFile " + caFile) +
                        ": " + why);
          })
      .attach(kj::mv(hostname));
}

}  // namespace

std::string certificateFingerprint(std::string_view pem) {
  return fingerprintOf(readCertificate(pem).get());
}

bool keyMatches(std::string_view certificate, std::string_view key) {
  BioPtr certBio(BIO_new_mem_buf(certificate.data(), static_cast<int>(certificate.size())));
  BioPtr keyBio(BIO_new_mem_buf(key.data(), static_cast<int>(key.size())));
  X509Ptr cert(certBio ? PEM_read_bio_X509(certBio.get(), nullptr, nullptr, nullptr) : nullptr);
  std::unique_ptr<EVP_PKEY, Freer<EVP_PKEY, EVP_PKEY_free>> pkey(
      keyBio ? PEM_read_bio_PrivateKey(keyBio.get(), nullptr, nullptr, nullptr) : nullptr);
  bool matches = cert && pkey && X509_check_private_key(cert.get(), pkey.get()) == 1;
  ERR_clear_error();
  return matches;
}

std::string normalFingerprint(std::string_view text) {
  std::string_view rest = text;
  if (rest.size() >= 7 && (rest.substr(0, 7) == "sha256:" || rest.substr(0, 7) == "SHA256:")) {
    rest.remove_prefix(7);
  }
  std::string hex = "sha256:";
  bool valid = true;
  for (char c : rest) {
    if (c == ':' || c == ' ') continue;
    valid = valid && std::isxdigit(static_cast<unsigned char>(c));
    hex += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  if (!valid || hex.size() != 7 + 64) {
    throw Error(ErrorCode::kInvalidArgument,
                "'" + std::string(text) +
                    "' is not a SHA-256 fingerprint (\"sha256:\" and 64 hex digits, as "
                    "hills-server prints it at start)");
  }
  return hex;
}

kj::Promise<TlsStream> connectTls(kj::NetworkAddress& address, std::string server, TlsTrust trust,
                                  kj::Timer& timer) {
  std::string sni = trust.serverName.empty() ? hostOf(server) : trust.serverName;
  return address.connect()
      .then([server, sni, &timer](kj::Own<kj::AsyncIoStream> stream) {
        auto probe = kj::heap<Probe>(kj::mv(stream), server, sni);
        auto& ref = *probe;
        // kj drops run()'s promise before this continuation, which owns the probe.
        return ref.run().then([probe = kj::mv(probe), &timer]() mutable {
          X509Ptr certificate = probe->certificate();
          // The probe closes on its own while the real connection is made.
          Probe& closing = *probe;
          closing.close()
              .exclusiveJoin(timer.afterDelay(kProbeClose))
              .attach(kj::mv(probe))
              .detach([](kj::Exception&&) {});
          return certificate;
        });
      })
      .then([&address, server, trust = std::move(trust)](X509Ptr cert) {
        if (!cert) wrongServer("the server at " + server + " presented no certificate");
        TlsStream presented;
        presented.certificate = pemOf(cert.get());
        presented.fingerprint = fingerprintOf(cert.get());
        Decision decision;
        try {
          decision =
              decide(cert.get(), presented.certificate, presented.fingerprint, server, trust);
        } catch (const Error& e) {
          kj::throwFatalException(toException(e));
        }
        return handshake(address, server, kj::mv(presented), std::move(decision), trust.caFile);
      });
}

}  // namespace hills::protocol
