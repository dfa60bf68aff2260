#include "server/api/server_tls.h"

#include <grpcpp/security/tls_certificate_provider.h>
#include <grpcpp/security/tls_credentials_options.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <memory>
#include <sstream>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "common/status_macros.h"

namespace rwkv::server {
namespace {

absl::StatusOr<std::string> ReadFile(const std::string& path, absl::string_view flag) {
  std::ifstream file(path, std::ios::binary);
  if (!file) {
    return absl::InvalidArgumentError(
        absl::StrCat(flag, ": cannot read ", path, ": ", std::strerror(errno)));
  }
  std::stringstream contents;
  contents << file.rdbuf();
  return contents.str();
}

// RAII for the OpenSSL objects parsed here.
struct BioFree {
  void operator()(BIO* bio) const { BIO_free(bio); }
};
struct X509Free {
  void operator()(X509* cert) const { X509_free(cert); }
};
struct KeyFree {
  void operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
};
using BioPtr = std::unique_ptr<BIO, BioFree>;
using X509Ptr = std::unique_ptr<X509, X509Free>;
using KeyPtr = std::unique_ptr<EVP_PKEY, KeyFree>;

BioPtr MemoryBio(const std::string& pem) {
  return BioPtr(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
}

// The first certificate of a PEM file (a chain or a CA bundle may hold more).
absl::StatusOr<X509Ptr> ParseFirstCertificate(const std::string& path, absl::string_view flag) {
  RWKV_ASSIGN_OR_RETURN(const std::string pem, ReadFile(path, flag));
  BioPtr bio = MemoryBio(pem);
  X509Ptr first(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  if (first == nullptr) {
    ERR_clear_error();
    return absl::InvalidArgumentError(absl::StrCat(flag, ": ", path, " holds no PEM certificate"));
  }
  return first;
}

absl::StatusOr<KeyPtr> ParseKey(const std::string& path, absl::string_view flag) {
  RWKV_ASSIGN_OR_RETURN(const std::string pem, ReadFile(path, flag));
  BioPtr bio = MemoryBio(pem);
  KeyPtr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  ERR_clear_error();
  if (key == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(
        flag, ": ", path, " holds no PEM private key (or one protected by a passphrase)"));
  }
  return key;
}

}  // namespace

std::string TlsFiles::Describe() const {
  if (!enabled()) return "plaintext";
  return client_ca_file.empty() ? "TLS" : "mutual TLS";
}

absl::Status CheckTlsFiles(const TlsFiles& files) {
  if (files.cert_file.empty() != files.key_file.empty()) {
    return absl::InvalidArgumentError(
        "--tls-cert-file and --tls-key-file go together (the server's certificate and its key)");
  }
  if (!files.client_ca_file.empty() && !files.enabled()) {
    return absl::InvalidArgumentError(
        "--tls-client-ca-file needs --tls-cert-file and --tls-key-file (mutual TLS is TLS)");
  }
  if (!files.enabled()) return absl::OkStatus();
  if (files.reload_interval < absl::Seconds(1)) {
    return absl::InvalidArgumentError("--tls-reload-interval must be at least 1s");
  }
  RWKV_ASSIGN_OR_RETURN(X509Ptr cert, ParseFirstCertificate(files.cert_file, "--tls-cert-file"));
  RWKV_ASSIGN_OR_RETURN(KeyPtr key, ParseKey(files.key_file, "--tls-key-file"));
  if (X509_check_private_key(cert.get(), key.get()) != 1) {
    ERR_clear_error();
    return absl::InvalidArgumentError(absl::StrCat("--tls-key-file: ", files.key_file,
                                                   " is not the key of the certificate in ",
                                                   files.cert_file));
  }
  if (!files.client_ca_file.empty()) {
    RWKV_RETURN_IF_ERROR(
        ParseFirstCertificate(files.client_ca_file, "--tls-client-ca-file").status());
  }
  return absl::OkStatus();
}

std::shared_ptr<grpc::ServerCredentials> MakeServerCredentials(const TlsFiles& files) {
  if (!files.enabled()) return grpc::InsecureServerCredentials();
  const auto interval =
      static_cast<unsigned int>(std::max<int64_t>(1, absl::ToInt64Seconds(files.reload_interval)));
  // The watcher reads the files now and then every interval, in gRPC's own thread.
  auto provider = std::make_shared<grpc::experimental::FileWatcherCertificateProvider>(
      files.key_file, files.cert_file, files.client_ca_file, interval);
  grpc::experimental::TlsServerCredentialsOptions options(provider);
  options.watch_identity_key_cert_pairs();
  if (files.client_ca_file.empty()) {
    options.set_cert_request_type(GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
  } else {
    options.watch_root_certs();
    options.set_cert_request_type(GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  }
  return grpc::experimental::TlsServerCredentials(options);
}

}  // namespace rwkv::server
