// ServerTls: the credentials of rwkv-server's gRPC port: plaintext, TLS, or mutual TLS (client
// certificates required and verified against a CA), from PEM files named by the --tls-* flags.
//
//   TlsFiles tls{"server.crt", "server.key", /*client_ca_file=*/""};
//   RWKV_RETURN_IF_ERROR(CheckTlsFiles(tls));     // at start-up: clear errors, exit 2
//   builder.AddListeningPort(address, MakeServerCredentials(tls), &port);
//
// Reload: gRPC's FileWatcherCertificateProvider re-reads the files every `reload_interval`;
// new handshakes use what it read last, connections already open (and their streams) go on with
// the certificate they were made with. gRPC offers no way to trigger a read, so SIGHUP is not
// needed (nor used) for certificates. Replace the files atomically (Kubernetes does: it swaps a
// symlinked directory): a key read with the certificate of another would fail handshakes until
// the next read.
#ifndef RWKV_SERVER_API_SERVER_TLS_H_
#define RWKV_SERVER_API_SERVER_TLS_H_

#include <grpcpp/security/server_credentials.h>

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace rwkv::server {

struct TlsFiles {
  std::string cert_file;       // --tls-cert-file: the server's certificate chain (PEM)
  std::string key_file;        // --tls-key-file: its private key (PEM)
  std::string client_ca_file;  // --tls-client-ca-file: mutual TLS against these CAs; "": none
  // --tls-reload-interval: how often the files are re-read (whole seconds, at least 1).
  absl::Duration reload_interval = absl::Seconds(10);

  bool enabled() const { return !cert_file.empty() || !key_file.empty(); }
  // "plaintext", "TLS" or "mutual TLS", for the start-up log.
  std::string Describe() const;
};

// INVALID_ARGUMENT naming the flag and the file: a certificate without its key (or the reverse),
// a client CA without them, an unreadable file, a file that is not PEM, a key that does not
// belong to the certificate, a reload interval under a second.
absl::Status CheckTlsFiles(const TlsFiles& files);

// Insecure credentials without TLS; otherwise TLS credentials that watch the files. Call
// CheckTlsFiles first: gRPC itself only logs a file it cannot use, and fails the handshakes.
std::shared_ptr<grpc::ServerCredentials> MakeServerCredentials(const TlsFiles& files);

}  // namespace rwkv::server

#endif  // RWKV_SERVER_API_SERVER_TLS_H_
