#include "client/channel_flags.h"

#include <string>

#include "absl/flags/flag.h"

ABSL_FLAG(std::string, tls_ca_file, "",
          "Connect with TLS and verify the server's certificate against this PEM file of CA "
          "certificates (default: plaintext; with another --tls-* flag but no CA file: the "
          "system's roots).");
ABSL_FLAG(std::string, tls_cert_file, "",
          "Client certificate chain (PEM) for a server that requires mutual TLS; needs "
          "--tls-key-file; implies TLS.");
ABSL_FLAG(std::string, tls_key_file, "", "Private key (PEM) of --tls-cert-file.");
ABSL_FLAG(std::string, tls_server_name, "",
          "Name to check the server's certificate against instead of the host in the address "
          "(e.g. when connecting by IP address); implies TLS.");

namespace rwkv::client {

ChannelOptions ChannelOptionsFromFlags() {
  ChannelOptions options;
  options.tls_ca_file = absl::GetFlag(FLAGS_tls_ca_file);
  options.tls_cert_file = absl::GetFlag(FLAGS_tls_cert_file);
  options.tls_key_file = absl::GetFlag(FLAGS_tls_key_file);
  options.tls_server_name = absl::GetFlag(FLAGS_tls_server_name);
  return options;
}

}  // namespace rwkv::client
