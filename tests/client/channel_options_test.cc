// ChannelOptions: which options make TLS, which combinations are refused, and clear errors for
// certificate files that cannot be used (before any connection is tried).
#include "client/channel_options.h"

#include <filesystem>
#include <fstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/util/scoped_temp_dir.h"

namespace rwkv::client {
namespace {

using ::rwkv::testing::ScopedTempDir;

// A file in `dir` holding `contents`.
std::string WriteFile(const ScopedTempDir& dir, const std::string& name,
                      const std::string& contents) {
  std::filesystem::create_directories(dir.path());
  const std::string path = absl::StrCat(dir.path(), "/", name);
  std::ofstream(path) << contents;
  return path;
}

constexpr char kPem[] = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";

TEST(ChannelOptionsTest, PlaintextUnlessATlsOptionIsSet) {
  EXPECT_FALSE(ChannelOptions().tls());
  ChannelOptions ca;
  ca.tls_ca_file = "ca.pem";
  EXPECT_TRUE(ca.tls());
  ChannelOptions name;
  name.tls_server_name = "localhost";
  EXPECT_TRUE(name.tls());
  auto credentials = MakeChannelCredentials(ChannelOptions());
  ASSERT_TRUE(credentials.ok()) << credentials.status();
  EXPECT_NE(*credentials, nullptr);
}

TEST(ChannelOptionsTest, ACertificateNeedsItsKeyAndTheReverse) {
  ChannelOptions cert_only;
  cert_only.tls_cert_file = "client.crt";
  EXPECT_EQ(CheckChannelOptions(cert_only).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(MakeChannelCredentials(cert_only).status().code(), absl::StatusCode::kInvalidArgument);
  ChannelOptions key_only;
  key_only.tls_key_file = "client.key";
  EXPECT_EQ(CheckChannelOptions(key_only).code(), absl::StatusCode::kInvalidArgument);
  ChannelOptions both = cert_only;
  both.tls_key_file = "client.key";
  EXPECT_TRUE(CheckChannelOptions(both).ok());
}

TEST(ChannelOptionsTest, UnusableFilesAreNamedInTheError) {
  ScopedTempDir dir;
  ChannelOptions missing;
  missing.tls_ca_file = absl::StrCat(dir.path(), "/nonexistent.pem");
  const absl::Status unreadable = MakeChannelCredentials(missing).status();
  EXPECT_EQ(unreadable.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(unreadable.message().find("--tls-ca-file: cannot read"), std::string::npos)
      << unreadable;

  ChannelOptions not_pem;
  not_pem.tls_ca_file = WriteFile(dir, "ca.txt", "hello\n");
  const absl::Status garbage = MakeChannelCredentials(not_pem).status();
  EXPECT_EQ(garbage.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(garbage.message().find("holds no PEM block"), std::string::npos) << garbage;

  ChannelOptions key_missing;
  key_missing.tls_ca_file = WriteFile(dir, "ca.pem", kPem);
  key_missing.tls_cert_file = WriteFile(dir, "client.pem", kPem);
  key_missing.tls_key_file = absl::StrCat(dir.path(), "/nonexistent.key");
  const absl::Status no_key = MakeChannelCredentials(key_missing).status();
  EXPECT_NE(no_key.message().find("--tls-key-file: cannot read"), std::string::npos) << no_key;
}

TEST(ChannelOptionsTest, PemFilesMakeTlsCredentials) {
  ScopedTempDir dir;
  ChannelOptions options;
  options.tls_ca_file = WriteFile(dir, "ca.pem", kPem);
  auto credentials = MakeChannelCredentials(options);
  ASSERT_TRUE(credentials.ok()) << credentials.status();
  auto channel = MakeChannel("127.0.0.1:1", options);
  ASSERT_TRUE(channel.ok()) << channel.status();
}

}  // namespace
}  // namespace rwkv::client
