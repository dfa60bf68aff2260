#include "tests/util/test_certs.h"

#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "tests/util/run_command.h"

namespace rwkv::testing {
namespace {

std::string Quote(const std::string& s) { return absl::StrCat("'", s, "'"); }

absl::Status Run(const std::string& command) {
  const CommandResult result = RunCommand(absl::StrCat(command, " 2>&1"));
  if (result.exit_code != 0) {
    return absl::InternalError(
        absl::StrCat("`", command, "` exited ", result.exit_code, ":\n", result.output));
  }
  return absl::OkStatus();
}

constexpr char kNewKey[] = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";

// A key and a certificate for `subject` signed by the CA, with the extensions in `extensions`.
absl::Status Issue(const std::string& dir, const std::string& name, const std::string& subject,
                   const std::string& extensions, int serial, const TestCerts& ca,
                   std::string& cert, std::string& key) {
  key = absl::StrCat(dir, "/", name, ".key");
  cert = absl::StrCat(dir, "/", name, ".crt");
  const std::string csr = absl::StrCat(dir, "/", name, ".csr");
  const std::string ext = absl::StrCat(dir, "/", name, ".ext");
  std::ofstream(ext) << extensions;
  if (absl::Status s = Run(absl::StrCat("openssl req -new ", kNewKey, " -keyout ", Quote(key),
                                        " -out ", Quote(csr), " -subj ", Quote(subject)));
      !s.ok()) {
    return s;
  }
  return Run(absl::StrCat("openssl x509 -req -in ", Quote(csr), " -CA ", Quote(ca.ca_cert),
                          " -CAkey ", Quote(ca.ca_key), " -set_serial ", serial,
                          " -days 2 -extfile ", Quote(ext), " -out ", Quote(cert)));
}

}  // namespace

absl::StatusOr<TestCerts> MakeTestCerts(const std::string& dir, const std::string& ca_name,
                                        const std::string& client_name) {
  std::error_code error;
  std::filesystem::create_directories(dir, error);
  if (error) return absl::InternalError(absl::StrCat("cannot create ", dir, ": ", error.message()));
  TestCerts certs;
  certs.ca_key = absl::StrCat(dir, "/ca.key");
  certs.ca_cert = absl::StrCat(dir, "/ca.crt");
  // openssl's default configuration makes a self-signed certificate a CA (basicConstraints).
  if (absl::Status s = Run(absl::StrCat("openssl req -x509 ", kNewKey, " -keyout ",
                                        Quote(certs.ca_key), " -out ", Quote(certs.ca_cert),
                                        " -days 2 -subj ", Quote(absl::StrCat("/CN=", ca_name))));
      !s.ok()) {
    return s;
  }
  if (absl::Status s = Issue(dir, "server", "/CN=localhost",
                             "basicConstraints=CA:FALSE\n"
                             "subjectAltName=IP:127.0.0.1,DNS:localhost\n"
                             "extendedKeyUsage=serverAuth\n",
                             1, certs, certs.server_cert, certs.server_key);
      !s.ok()) {
    return s;
  }
  if (absl::Status s = Issue(dir, "client", absl::StrCat("/CN=", client_name),
                             "basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n", 2, certs,
                             certs.client_cert, certs.client_key);
      !s.ok()) {
    return s;
  }
  return certs;
}

absl::StatusOr<TwoTestCerts> MakeTwoTestCerts(const std::string& dir) {
  TwoTestCerts two;
  absl::StatusOr<TestCerts> a = MakeTestCerts(absl::StrCat(dir, "/a"), "CA a");
  if (!a.ok()) return a.status();
  two.a = *std::move(a);
  absl::StatusOr<TestCerts> b = MakeTestCerts(absl::StrCat(dir, "/b"), "CA b");
  if (!b.ok()) return b.status();
  two.b = *std::move(b);
  return two;
}

void SwapLink(const std::string& target, const std::string& link) {
  const std::string next = absl::StrCat(link, ".next");
  std::filesystem::remove(next);
  std::filesystem::create_directory_symlink(target, next);
  std::filesystem::rename(next, link);
}

TestCerts LinkedServerCerts(const std::string& target, const std::string& link) {
  SwapLink(target, link);
  TestCerts linked;
  linked.server_cert = absl::StrCat(link, "/server.crt");
  linked.server_key = absl::StrCat(link, "/server.key");
  return linked;
}

std::string ReadTextFile(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  std::stringstream contents;
  contents << file.rdbuf();
  return contents.str();
}

}  // namespace rwkv::testing
