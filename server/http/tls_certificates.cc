#include "server/http/tls_certificates.h"

#include <gnutls/x509.h>

#include <utility>

#include "absl/strings/str_cat.h"
#include "common/read_file.h"
#include "common/status_macros.h"

namespace rwkv::server::http {
namespace {

// Far more than any certificate chain or key; a larger file is not one (and GnuTLS takes sizes
// as unsigned int).
constexpr size_t kMaxPemBytes = 1 << 20;

absl::Status GnuTlsError(const std::string& file, absl::string_view what, int code) {
  return absl::InvalidArgumentError(
      absl::StrCat(file, ": ", what, " (GnuTLS: ", gnutls_strerror(code), ")"));
}

absl::StatusOr<gnutls_datum_t> Datum(const std::string& pem, const std::string& file) {
  if (pem.size() > kMaxPemBytes) {
    return absl::InvalidArgumentError(absl::StrCat(file, ": ", pem.size(),
                                                   " bytes, more than a PEM certificate or key (",
                                                   kMaxPemBytes, " at most)"));
  }
  return gnutls_datum_t{reinterpret_cast<unsigned char*>(const_cast<char*>(pem.data())),
                        static_cast<unsigned>(pem.size())};
}

// The SHA-256 key ID of a public key: equal for a certificate and its private key.
absl::StatusOr<std::string> KeyId(gnutls_pubkey_t key, const std::string& file) {
  unsigned char id[64];
  size_t size = sizeof(id);
  if (int rc = gnutls_pubkey_get_key_id(key, GNUTLS_KEYID_USE_SHA256, id, &size); rc < 0) {
    return GnuTlsError(file, "cannot compute the key's ID", rc);
  }
  return std::string(reinterpret_cast<const char*>(id), size);
}

// The subject DN of `cert`, "" when GnuTLS cannot print it.
std::string Subject(gnutls_x509_crt_t cert) {
  gnutls_datum_t dn = {nullptr, 0};
  if (gnutls_x509_crt_get_dn3(cert, &dn, 0) < 0) return "";
  std::string subject(reinterpret_cast<const char*>(dn.data), dn.size);
  gnutls_free(dn.data);
  return subject;
}

}  // namespace

TlsCredentials::~TlsCredentials() {
  for (gnutls_pcert_st& cert : chain_) gnutls_pcert_deinit(&cert);
  if (key_ != nullptr) gnutls_privkey_deinit(key_);
}

absl::StatusOr<std::shared_ptr<const TlsCredentials>> TlsCredentials::Parse(
    const std::string& cert_pem, const std::string& key_pem, const std::string& cert_file,
    const std::string& key_file) {
  RWKV_ASSIGN_OR_RETURN(gnutls_datum_t cert_data, Datum(cert_pem, cert_file));
  RWKV_ASSIGN_OR_RETURN(gnutls_datum_t key_data, Datum(key_pem, key_file));
  auto credentials = std::shared_ptr<TlsCredentials>(new TlsCredentials);
  gnutls_x509_crt_t* certs = nullptr;
  unsigned count = 0;
  int rc = gnutls_x509_crt_list_import2(&certs, &count, &cert_data, GNUTLS_X509_FMT_PEM, 0);
  if (rc < 0) return GnuTlsError(cert_file, "no PEM certificate chain GnuTLS can read", rc);
  if (count > 0) {
    credentials->subject_ = Subject(certs[0]);
    credentials->chain_.resize(count);
    unsigned imported = count;
    rc = gnutls_pcert_import_x509_list(credentials->chain_.data(), certs, &imported, 0);
    // On failure nothing is left imported.
    credentials->chain_.resize(rc < 0 ? 0 : imported);
  }
  for (unsigned i = 0; i < count; ++i) gnutls_x509_crt_deinit(certs[i]);
  gnutls_free(certs);
  if (rc < 0) return GnuTlsError(cert_file, "certificate chain not usable", rc);
  if (credentials->chain_.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(cert_file, ": no certificate in it"));
  }
  if ((rc = gnutls_privkey_init(&credentials->key_)) < 0) {
    credentials->key_ = nullptr;
    return GnuTlsError(key_file, "cannot make a private key", rc);
  }
  rc =
      gnutls_privkey_import_x509_raw(credentials->key_, &key_data, GNUTLS_X509_FMT_PEM, nullptr, 0);
  if (rc < 0) return GnuTlsError(key_file, "no unencrypted PEM private key GnuTLS can read", rc);
  gnutls_pubkey_t public_key = nullptr;
  if ((rc = gnutls_pubkey_init(&public_key)) < 0) {
    return GnuTlsError(key_file, "cannot make a public key", rc);
  }
  rc = gnutls_pubkey_import_privkey(public_key, credentials->key_, 0, 0);
  absl::StatusOr<std::string> key_id =
      rc < 0 ? GnuTlsError(key_file, "cannot derive the public key", rc)
             : KeyId(public_key, key_file);
  gnutls_pubkey_deinit(public_key);
  RWKV_RETURN_IF_ERROR(key_id.status());
  RWKV_ASSIGN_OR_RETURN(std::string cert_id, KeyId(credentials->chain_[0].pubkey, cert_file));
  if (cert_id != *key_id) {
    return absl::InvalidArgumentError(
        absl::StrCat(key_file, ": not the private key of the first certificate in ", cert_file));
  }
  credentials->cert_pem_ = cert_pem;
  credentials->key_pem_ = key_pem;
  return credentials;
}

absl::StatusOr<std::unique_ptr<TlsCertificates>> TlsCertificates::Create(Options options) {
  RWKV_ASSIGN_OR_RETURN(std::string cert_pem, ReadWholeFile(options.cert_file));
  RWKV_ASSIGN_OR_RETURN(std::string key_pem, ReadWholeFile(options.key_file));
  RWKV_ASSIGN_OR_RETURN(
      std::shared_ptr<const TlsCredentials> first,
      TlsCredentials::Parse(cert_pem, key_pem, options.cert_file, options.key_file));
  return std::unique_ptr<TlsCertificates>(
      new TlsCertificates(std::move(options), std::move(first)));
}

TlsCertificates::TlsCertificates(Options options, std::shared_ptr<const TlsCredentials> first)
    : options_(std::move(options)),
      current_(std::move(first)),
      next_read_(options_.clock->Now() + options_.reload_interval) {}

std::shared_ptr<const TlsCredentials> TlsCertificates::Current() {
  std::shared_ptr<const TlsCredentials> previous;
  {
    absl::MutexLock lock(&mu_);
    const absl::Time now = options_.clock->Now();
    if (reading_ || now < next_read_) return current_;
    reading_ = true;
    next_read_ = now + options_.reload_interval;
    previous = current_;
  }
  // Outside the lock: other handshakes go on with the current credentials meanwhile.
  absl::StatusOr<std::shared_ptr<const TlsCredentials>> read = Read(*previous);
  {
    absl::MutexLock lock(&mu_);
    reading_ = false;
    if (!read.ok()) ++failed_reloads_;
    if (read.ok() && *read != nullptr) current_ = *read;
    previous = current_;
  }
  if (!read.ok() && options_.on_reload_error) options_.on_reload_error(read.status());
  return previous;
}

int64_t TlsCertificates::failed_reloads() const {
  absl::MutexLock lock(&mu_);
  return failed_reloads_;
}

absl::StatusOr<std::shared_ptr<const TlsCredentials>> TlsCertificates::Read(
    const TlsCredentials& previous) const {
  RWKV_ASSIGN_OR_RETURN(std::string cert_pem, ReadWholeFile(options_.cert_file));
  RWKV_ASSIGN_OR_RETURN(std::string key_pem, ReadWholeFile(options_.key_file));
  if (cert_pem == previous.cert_pem_ && key_pem == previous.key_pem_) {
    return std::shared_ptr<const TlsCredentials>();
  }
  return TlsCredentials::Parse(cert_pem, key_pem, options_.cert_file, options_.key_file);
}

}  // namespace rwkv::server::http
