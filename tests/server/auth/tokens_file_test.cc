// The --auth-tokens-file format: comments, blank lines, certificate names, and clear errors
// that name the line and never a token.
#include "server/auth/tokens_file.h"

#include <fstream>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace rwkv::server::auth {
namespace {

using ::testing::ElementsAre;

constexpr char kTokenA[] = "alpha-token-0123456789";
constexpr char kTokenB[] = "bravo-token-0123456789";

TEST(TokensFileTest, ParsesTokensCommentsBlankLinesAndCertificates) {
  const std::string contents = absl::StrCat(
      "# tenants of the staging cluster\n"
      "\n"
      "acme   ",
      kTokenA, "   # the gateway's token\n", "\tacme\t", kTokenB, "\r\n",
      "   # indented comment\n"
      "beta-2 x509:gateway.beta.internal\n"
      "zed.x_y x509:CN with spaces\n");
  absl::StatusOr<TokensFile> file = ParseTokensFile(contents);
  ASSERT_TRUE(file.ok()) << file.status();
  ASSERT_EQ(file->tokens.size(), 2u);
  EXPECT_EQ(file->tokens[0].tenant, "acme");
  EXPECT_EQ(file->tokens[0].line, 3);
  EXPECT_EQ(file->tokens[0].hash, HashToken(kTokenA));
  EXPECT_EQ(file->tokens[1].hash, HashToken(kTokenB));
  EXPECT_EQ(file->tokens[1].line, 4);
  ASSERT_EQ(file->certificates.size(), 2u);
  EXPECT_EQ(file->certificates[0].tenant, "beta-2");
  EXPECT_EQ(file->certificates[0].common_name, "gateway.beta.internal");
  EXPECT_EQ(file->certificates[1].common_name, "CN with spaces");
  EXPECT_THAT(file->Tenants(), ElementsAre("acme", "beta-2", "zed.x_y"));
}

TEST(TokensFileTest, AHashInsideATokenIsPartOfIt) {
  absl::StatusOr<TokensFile> file = ParseTokensFile("acme abc#def0123456789012\n");
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_EQ(file->tokens[0].hash, HashToken("abc#def0123456789012"));
}

// What the server keeps holds no byte sequence of the token: only its SHA-256.
TEST(TokensFileTest, KeepsNoTokenBytes) {
  absl::StatusOr<TokensFile> file = ParseTokensFile(absl::StrCat("acme ", kTokenA, "\n"));
  ASSERT_TRUE(file.ok()) << file.status();
  const TokenEntry& entry = file->tokens[0];
  const std::string hash_bytes(entry.hash.begin(), entry.hash.end());
  const std::string token(kTokenA);
  for (size_t n = 4; n <= token.size(); ++n) {  // no 4-byte or longer piece of it
    for (size_t at = 0; at + n <= token.size(); ++at) {
      const std::string piece = token.substr(at, n);
      EXPECT_FALSE(absl::StrContains(hash_bytes, piece));
      EXPECT_FALSE(absl::StrContains(entry.tenant, piece));
    }
  }
}

struct BadFile {
  std::string contents;
  std::string error;  // expected in the message
};

TEST(TokensFileTest, BadLinesNameTheLineAndNeverTheToken) {
  const std::string secret = "s3cret-s3cret-s3cret";
  const BadFile cases[] = {
      {absl::StrCat("# ok\nacme ", secret, "\nacme\n"), "line 3: expected TENANT TOKEN"},
      {absl::StrCat("acme ", secret, " extra\n"), "line 1: expected TENANT TOKEN, got more"},
      {"acme short-token\n", "line 1: the token is shorter than 16 characters"},
      {absl::StrCat(secret, " acme\n"), ""},  // swapped: a valid "tenant", a short "token"
      {absl::StrCat("ac/me ", secret, "\n"), "line 1: the tenant name must be"},
      {absl::StrCat(std::string(65, 'a'), " ", secret, "\n"), "line 1: the tenant name must be"},
      {absl::StrCat("a ", secret, "\nb ", secret, "\n"),
       "line 2: duplicate token (also on line 1)"},
      {"a x509:gw\nb x509:gw\n", "line 2: certificate name \"gw\" is already mapped on line 1"},
      {"a x509:\n", "line 1: x509: needs a certificate's common name"},
      {"# nothing\n\n", "holds no token and no certificate name"},
      {"", "holds no token and no certificate name"},
  };
  for (const BadFile& bad : cases) {
    absl::StatusOr<TokensFile> file = ParseTokensFile(bad.contents);
    ASSERT_EQ(file.status().code(), absl::StatusCode::kInvalidArgument) << bad.contents;
    EXPECT_TRUE(absl::StrContains(file.status().message(), bad.error)) << file.status();
    EXPECT_FALSE(absl::StrContains(file.status().message(), "s3cret")) << file.status();
  }
}

TEST(TokensFileTest, ReadNamesThePath) {
  const std::string path = ::testing::TempDir() + "/tokens_bad";
  std::ofstream(path) << "acme\n";
  absl::StatusOr<TokensFile> bad = ReadTokensFile(path);
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StartsWith(bad.status().message(), path + ": line 1:")) << bad.status();
  absl::StatusOr<TokensFile> missing = ReadTokensFile(path + "-missing");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(absl::StrContains(missing.status().message(), "tokens_bad-missing"));
}

TEST(TokensFileTest, TenantNames) {
  EXPECT_TRUE(IsTenantName("a"));
  EXPECT_TRUE(IsTenantName("Acme.Corp_2-x"));
  EXPECT_TRUE(IsTenantName(std::string(64, 'z')));
  EXPECT_FALSE(IsTenantName(""));
  EXPECT_FALSE(IsTenantName(std::string(65, 'z')));
  EXPECT_FALSE(IsTenantName("a b"));
  EXPECT_FALSE(IsTenantName("a/b"));
  EXPECT_FALSE(IsTenantName("caf\xc3\xa9"));
}

}  // namespace
}  // namespace rwkv::server::auth
