// TlsCertificates: the HTTPS port's certificate chain and private key, read from the
// --tls-cert-file / --tls-key-file PEM files and re-read every --tls-reload-interval, so that the
// HTTP API follows a certificate rotation as the gRPC port does (server/api/server_tls.h).
//
//   TlsCertificates::Options options;
//   options.cert_file = "server.crt";
//   options.key_file = "server.key";
//   options.on_reload_error = [](const absl::Status& error) { ... log a warning ... };
//   RWKV_ASSIGN_OR_RETURN(std::shared_ptr<TlsCertificates> certificates,
//                         TlsCertificates::Create(std::move(options)));
//   ... on each TLS handshake: std::shared_ptr<const TlsCredentials> c = certificates->Current();
//
// The re-read is lazy: the first handshake after the interval has passed reads the two files
// (one read, on that handshake's thread; handshakes meanwhile use what was read before), so no
// thread is needed and an idle server reads nothing. A pair that does not parse, or whose key
// does not belong to the certificate, keeps the previous credentials and is reported through
// on_reload_error; unchanged files are not parsed again. Replace the files atomically (as
// Kubernetes swaps a Secret's directory); a key caught mid-rotation with the old certificate is
// refused by the key check and tried again at the next interval.
//
// Thread-safe: Current() may be called from any thread.
#ifndef RWKV_SERVER_HTTP_TLS_CERTIFICATES_H_
#define RWKV_SERVER_HTTP_TLS_CERTIFICATES_H_

#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/clock.h"

namespace rwkv::server::http {

// One parsed certificate chain and key, immutable; the GnuTLS handles are freed with it. GnuTLS
// keeps pointers to what a handshake was given for the connection's life, so a connection holds
// the shared_ptr it was served with (http_server.cc) until it closes.
class TlsCredentials {
 public:
  // INVALID_ARGUMENT naming the file: no certificate in `cert_pem`, a certificate or key GnuTLS
  // cannot parse, or a key that is not the certificate's.
  static absl::StatusOr<std::shared_ptr<const TlsCredentials>> Parse(const std::string& cert_pem,
                                                                     const std::string& key_pem,
                                                                     const std::string& cert_file,
                                                                     const std::string& key_file);
  ~TlsCredentials();
  TlsCredentials(const TlsCredentials&) = delete;
  TlsCredentials& operator=(const TlsCredentials&) = delete;

  // What a gnutls_certificate_retrieve_function2 hands back (GnuTLS does not take ownership).
  gnutls_pcert_st* chain() const { return chain_.data(); }
  unsigned chain_length() const { return static_cast<unsigned>(chain_.size()); }
  gnutls_privkey_t key() const { return key_; }
  // The first certificate's subject DN ("CN=localhost"), for logs and tests.
  const std::string& subject() const { return subject_; }

 private:
  friend class TlsCertificates;
  TlsCredentials() = default;

  mutable std::vector<gnutls_pcert_st> chain_;  // GnuTLS's API takes non-const pointers
  gnutls_privkey_t key_ = nullptr;
  std::string subject_;
  std::string cert_pem_;  // the files' bytes, to skip parsing unchanged files again
  std::string key_pem_;
};

class TlsCertificates {
 public:
  struct Options {
    std::string cert_file;  // the certificate chain, leaf first (PEM)
    std::string key_file;   // its private key (PEM, unencrypted)
    absl::Duration reload_interval = absl::Seconds(10);
    const Clock* clock = &Clock::Real();
    // A re-read that failed (the previous credentials stay); on the handshake's thread, without
    // locks held. May be empty.
    std::function<void(const absl::Status&)> on_reload_error;
  };

  // Reads and parses the files once: their errors (Parse's, or the file's NOT_FOUND) come back
  // here, for a clear start-up failure.
  static absl::StatusOr<std::unique_ptr<TlsCertificates>> Create(Options options);

  // The credentials for a new handshake, re-reading the files first when the interval has
  // passed since the last read and no other call is reading them.
  std::shared_ptr<const TlsCredentials> Current() ABSL_LOCKS_EXCLUDED(mu_);

  // Re-reads that failed so far (for tests and logs).
  int64_t failed_reloads() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  TlsCertificates(Options options, std::shared_ptr<const TlsCredentials> first);
  // Reads the files: new credentials, null when they are `previous`'s bytes, or the error.
  absl::StatusOr<std::shared_ptr<const TlsCredentials>> Read(const TlsCredentials& previous) const;

  const Options options_;
  mutable absl::Mutex mu_;
  std::shared_ptr<const TlsCredentials> current_ ABSL_GUARDED_BY(mu_);
  absl::Time next_read_ ABSL_GUARDED_BY(mu_);
  bool reading_ ABSL_GUARDED_BY(mu_) = false;  // one caller reads the files at a time
  int64_t failed_reloads_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace rwkv::server::http

#endif  // RWKV_SERVER_HTTP_TLS_CERTIFICATES_H_
