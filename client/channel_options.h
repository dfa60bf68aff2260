// ChannelOptions: how a client reaches rwkv-server: plaintext, or TLS that verifies the server's
// certificate (against a CA file, else the system's roots), optionally with a client
// certificate for mutual TLS. The one place where a client's channel credentials are built, for
// the client library, rwkv-cli, rwkv-loadgen and rwkv-resume-bench alike.
//
//   ChannelOptions tls;
//   tls.tls_ca_file = "/etc/rwkv/ca.crt";
//   RWKV_ASSIGN_OR_RETURN(auto client, RwkvClient::Connect("10.0.0.5:50051", absl::Seconds(5),
//   tls));
#ifndef RWKV_CLIENT_CHANNEL_OPTIONS_H_
#define RWKV_CLIENT_CHANNEL_OPTIONS_H_

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "grpcpp/grpcpp.h"

namespace rwkv::client {

struct ChannelOptions {
  // PEM file of the CA(s) that signed the server's certificate; implies TLS.
  std::string tls_ca_file;
  // PEM files of the client's certificate chain and private key, for a server that requires
  // mutual TLS; both or neither; imply TLS.
  std::string tls_cert_file;
  std::string tls_key_file;
  // The name checked against the server's certificate instead of the address's host (an IP
  // address the certificate does not name, a balancer in front); implies TLS.
  std::string tls_server_name;

  // Any TLS option turns TLS on; without one the channel is plaintext.
  bool tls() const {
    return !tls_ca_file.empty() || !tls_cert_file.empty() || !tls_key_file.empty() ||
           !tls_server_name.empty();
  }
};

// INVALID_ARGUMENT, naming the option, for a certificate without its key (or the reverse).
absl::Status CheckChannelOptions(const ChannelOptions& options);

// Plaintext credentials, or TLS ones from the files `options` names (read now: a replaced file
// takes effect for the next channel made). INVALID_ARGUMENT naming the file when one cannot be
// read or holds no PEM block.
absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> MakeChannelCredentials(
    const ChannelOptions& options);

// A channel to `address` with `options`' credentials; `args` are passed on, with the TLS target
// name override added when `options` has one.
absl::StatusOr<std::shared_ptr<grpc::Channel>> MakeChannel(
    const std::string& address, const ChannelOptions& options,
    grpc::ChannelArguments args = grpc::ChannelArguments());

}  // namespace rwkv::client

#endif  // RWKV_CLIENT_CHANNEL_OPTIONS_H_
