// Test certificates, made by the test with Debian's `openssl` command line (none are committed):
// a CA, a server certificate it signs for 127.0.0.1 and localhost, and a client certificate it
// signs for mutual TLS.
//
//   ScopedTempDir dir;
//   absl::StatusOr<TestCerts> certs = MakeTestCerts(dir.path());
//   ASSERT_TRUE(certs.ok()) << certs.status();
//   ServerProcess::Start({..., "--tls-cert-file", certs->server_cert,
//                         "--tls-key-file", certs->server_key});
#ifndef RWKV_TESTS_UTIL_TEST_CERTS_H_
#define RWKV_TESTS_UTIL_TEST_CERTS_H_

#include <string>

#include "absl/status/statusor.h"

namespace rwkv::testing {

// Paths of PEM files (EC P-256 keys, unencrypted, valid for two days from now).
struct TestCerts {
  std::string ca_cert;
  std::string ca_key;
  std::string server_cert;  // subjectAltName IP:127.0.0.1, DNS:localhost; serverAuth
  std::string server_key;
  std::string client_cert;  // CN = the client's name; clientAuth
  std::string client_key;
};

// Makes a fresh CA named `ca_name` and the two certificates it signs, in `dir` (created if
// needed; files there of the same names are replaced). INTERNAL with openssl's output when a
// command fails.
absl::StatusOr<TestCerts> MakeTestCerts(const std::string& dir,
                                        const std::string& ca_name = "rwkv test CA",
                                        const std::string& client_name = "test-client");

// Two unrelated sets for rotation tests: `<dir>/a` (CA "CA a") and `<dir>/b` ("CA b"), so that
// a client trusting one CA tells which server certificate it was given.
struct TwoTestCerts {
  TestCerts a;
  TestCerts b;
};
absl::StatusOr<TwoTestCerts> MakeTwoTestCerts(const std::string& dir);

// Points the symlink `link` at the directory `target` atomically (a new link renamed over the
// old one), as Kubernetes swaps a mounted Secret's files.
void SwapLink(const std::string& target, const std::string& link);

// Points `link` at `target` and names the server certificate and key through `link`, for a
// server whose certificate a test replaces later by swapping `link` to another directory.
TestCerts LinkedServerCerts(const std::string& target, const std::string& link);

// A file's whole contents ("" when it cannot be read): PEM text for gRPC's credentials.
std::string ReadTextFile(const std::string& path);

}  // namespace rwkv::testing

#endif  // RWKV_TESTS_UTIL_TEST_CERTS_H_
