// TlsCertificates: the HTTPS pair read at start (bad files refused, naming them), re-read only
// once the interval has passed (a fake clock drives it), a changed pair taken, an unchanged one
// kept as it is, and a broken, mismatched or missing replacement refused with the previous
// credentials kept.
#include "server/http/tls_certificates.h"

#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/fakes/fake_clock.h"
#include "tests/util/scoped_temp_dir.h"
#include "tests/util/test_certs.h"

namespace rwkv::server::http {
namespace {

using ::rwkv::testing::FakeClock;
using ::rwkv::testing::MakeTwoTestCerts;
using ::rwkv::testing::ReadTextFile;
using ::rwkv::testing::ScopedTempDir;
using ::rwkv::testing::TestCerts;
using ::rwkv::testing::TwoTestCerts;

constexpr absl::Duration kInterval = absl::Seconds(10);

void WriteFile(const std::string& path, const std::string& contents) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << contents;
}

// The DER bytes of the (first) certificate in a PEM file.
std::string CertificateDer(const std::string& pem_file) {
  const std::string pem = ReadTextFile(pem_file);
  gnutls_datum_t in = {reinterpret_cast<unsigned char*>(const_cast<char*>(pem.data())),
                       static_cast<unsigned>(pem.size())};
  gnutls_datum_t der = {nullptr, 0};
  if (gnutls_pem_base64_decode2("CERTIFICATE", &in, &der) < 0) return "";
  std::string out(reinterpret_cast<const char*>(der.data), der.size);
  gnutls_free(der.data);
  return out;
}

// `pem` with bytes in the middle of its base64 body changed: still PEM, no longer DER.
std::string Garbled(std::string pem) {
  for (size_t i = pem.size() / 2; i < pem.size() / 2 + 8; ++i) pem[i] = pem[i] == 'A' ? 'B' : 'A';
  return pem;
}

std::string ServedDer(const TlsCredentials& credentials) {
  const gnutls_datum_t& der = credentials.chain()[0].cert;
  return std::string(reinterpret_cast<const char*>(der.data), der.size);
}

class TlsCertificatesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<TwoTestCerts> certs = MakeTwoTestCerts(dir_.path());
    ASSERT_TRUE(certs.ok()) << certs.status();
    a_ = certs->a;
    b_ = certs->b;
    cert_file_ = absl::StrCat(dir_.path(), "/server.crt");
    key_file_ = absl::StrCat(dir_.path(), "/server.key");
    Install(a_);
  }

  // Puts `certs`' server pair where the server reads it.
  void Install(const TestCerts& certs) {
    WriteFile(cert_file_, ReadTextFile(certs.server_cert));
    WriteFile(key_file_, ReadTextFile(certs.server_key));
  }

  absl::StatusOr<std::unique_ptr<TlsCertificates>> Create() {
    TlsCertificates::Options options;
    options.cert_file = cert_file_;
    options.key_file = key_file_;
    options.reload_interval = kInterval;
    options.clock = &clock_;
    options.on_reload_error = [this](const absl::Status& error) { errors_.push_back(error); };
    return TlsCertificates::Create(std::move(options));
  }

  ScopedTempDir dir_;
  TestCerts a_;
  TestCerts b_;
  std::string cert_file_;
  std::string key_file_;
  FakeClock clock_;
  std::vector<absl::Status> errors_;
};

TEST_F(TlsCertificatesTest, ReadsThePairAtCreate) {
  absl::StatusOr<std::unique_ptr<TlsCertificates>> certificates = Create();
  ASSERT_TRUE(certificates.ok()) << certificates.status();
  std::shared_ptr<const TlsCredentials> current = (*certificates)->Current();
  ASSERT_NE(current, nullptr);
  EXPECT_EQ(current->subject(), "CN=localhost");
  EXPECT_EQ(current->chain_length(), 1u);
  EXPECT_NE(current->key(), nullptr);
  EXPECT_EQ(ServedDer(*current), CertificateDer(a_.server_cert));
}

TEST_F(TlsCertificatesTest, AChainIsServedWhole) {
  // A "full chain" file: the server's certificate, then its CA's.
  WriteFile(cert_file_, ReadTextFile(a_.server_cert) + ReadTextFile(a_.ca_cert));
  absl::StatusOr<std::unique_ptr<TlsCertificates>> certificates = Create();
  ASSERT_TRUE(certificates.ok()) << certificates.status();
  std::shared_ptr<const TlsCredentials> current = (*certificates)->Current();
  ASSERT_EQ(current->chain_length(), 2u);
  EXPECT_EQ(ServedDer(*current), CertificateDer(a_.server_cert));
  const gnutls_datum_t& ca = current->chain()[1].cert;
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(ca.data), ca.size),
            CertificateDer(a_.ca_cert));
}

TEST_F(TlsCertificatesTest, CreateRefusesBadFilesNamingThem) {
  struct Case {
    std::string cert, key, file_named, says;
  };
  const std::string a_cert = ReadTextFile(a_.server_cert);
  const std::string a_key = ReadTextFile(a_.server_key);
  const std::vector<Case> cases = {
      {"not a certificate\n", a_key, cert_file_, "no PEM certificate"},
      {"", a_key, cert_file_, "no PEM certificate"},
      {a_cert.substr(0, a_cert.size() / 2), a_key, cert_file_, "no PEM certificate"},
      // Garbled: unreadable, or read as another certificate or key, as the changed bytes fall
      // (the keys are new each run); either way refused, naming the file.
      {Garbled(a_cert), a_key, cert_file_, ""},
      {a_cert + "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", a_key, cert_file_,
       "no PEM certificate"},
      {a_cert, Garbled(a_key), key_file_, ""},
      {a_cert, "not a key\n", key_file_, "no unencrypted PEM private key"},
      {a_cert, ReadTextFile(b_.server_key), key_file_, "not the private key"},
      {std::string(2 << 20, 'x'), a_key, cert_file_, "more than a PEM"},
  };
  for (const Case& c : cases) {
    WriteFile(cert_file_, c.cert);
    WriteFile(key_file_, c.key);
    absl::StatusOr<std::unique_ptr<TlsCertificates>> certificates = Create();
    ASSERT_FALSE(certificates.ok()) << c.says;
    EXPECT_EQ(certificates.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(certificates.status().message().find(c.file_named), absl::string_view::npos)
        << certificates.status();
    EXPECT_NE(certificates.status().message().find(c.says), absl::string_view::npos)
        << certificates.status();
  }
  std::filesystem::remove(key_file_);
  WriteFile(cert_file_, a_cert);
  absl::StatusOr<std::unique_ptr<TlsCertificates>> missing = Create();
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound) << missing.status();
  EXPECT_NE(missing.status().message().find(key_file_), absl::string_view::npos);
}

TEST_F(TlsCertificatesTest, ReplacedFilesAreTakenOnlyAfterTheInterval) {
  absl::StatusOr<std::unique_ptr<TlsCertificates>> certificates = Create();
  ASSERT_TRUE(certificates.ok()) << certificates.status();
  std::shared_ptr<const TlsCredentials> first = (*certificates)->Current();
  Install(b_);
  clock_.Advance(kInterval - absl::Seconds(1));
  EXPECT_EQ((*certificates)->Current(), first) << "re-read before the interval";
  clock_.Advance(absl::Seconds(1));
  std::shared_ptr<const TlsCredentials> second = (*certificates)->Current();
  ASSERT_NE(second, first);
  EXPECT_EQ(ServedDer(*second), CertificateDer(b_.server_cert));
  // What a connection still holds stays usable.
  EXPECT_EQ(ServedDer(*first), CertificateDer(a_.server_cert));
  // Unchanged files: the same credentials, not parsed again.
  clock_.Advance(kInterval);
  EXPECT_EQ((*certificates)->Current(), second);
  EXPECT_EQ((*certificates)->failed_reloads(), 0);
  EXPECT_TRUE(errors_.empty());
}

TEST_F(TlsCertificatesTest, ABrokenReplacementKeepsThePrevious) {
  absl::StatusOr<std::unique_ptr<TlsCertificates>> certificates = Create();
  ASSERT_TRUE(certificates.ok()) << certificates.status();
  std::shared_ptr<const TlsCredentials> first = (*certificates)->Current();
  const std::string a_cert = ReadTextFile(a_.server_cert);
  // A garbled key, a key of another certificate (a rotation caught halfway), a missing file.
  WriteFile(key_file_, "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n");
  clock_.Advance(kInterval);
  EXPECT_EQ((*certificates)->Current(), first);
  WriteFile(cert_file_, ReadTextFile(b_.server_cert));
  WriteFile(key_file_, ReadTextFile(a_.server_key));
  clock_.Advance(kInterval);
  EXPECT_EQ((*certificates)->Current(), first);
  std::filesystem::remove(cert_file_);
  clock_.Advance(kInterval);
  EXPECT_EQ((*certificates)->Current(), first);
  EXPECT_EQ((*certificates)->failed_reloads(), 3);
  ASSERT_EQ(errors_.size(), 3u);
  EXPECT_EQ(errors_[0].code(), absl::StatusCode::kInvalidArgument) << errors_[0];
  EXPECT_NE(errors_[0].message().find(key_file_), absl::string_view::npos) << errors_[0];
  EXPECT_NE(errors_[1].message().find("not the private key"), absl::string_view::npos)
      << errors_[1];
  EXPECT_EQ(errors_[2].code(), absl::StatusCode::kNotFound) << errors_[2];
  // Mended: taken at the next read.
  Install(b_);
  clock_.Advance(kInterval);
  std::shared_ptr<const TlsCredentials> mended = (*certificates)->Current();
  ASSERT_NE(mended, first);
  EXPECT_EQ(ServedDer(*mended), CertificateDer(b_.server_cert));
  EXPECT_EQ((*certificates)->failed_reloads(), 3);
}

}  // namespace
}  // namespace rwkv::server::http
