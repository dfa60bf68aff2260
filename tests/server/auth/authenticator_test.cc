// Authenticator: bearer tokens and certificate names to tenants, the three refusals, and
// reloads (atomic, a bad file keeping the old table), also under concurrent calls.
#include "server/auth/authenticator.h"

#include <atomic>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace rwkv::server::auth {
namespace {

using ::testing::ElementsAre;

constexpr char kAcme[] = "acme-token-0123456789";
constexpr char kAcme2[] = "acme-second-0123456789";
constexpr char kBeta[] = "beta-token-0123456789";

std::string Bearer(absl::string_view token) { return absl::StrCat("Bearer ", token); }

std::string WriteTokens(const std::string& name, const std::string& contents) {
  const std::string path = ::testing::TempDir() + "/" + name;
  std::ofstream(path, std::ios::binary | std::ios::trunc) << contents;
  return path;
}

std::unique_ptr<Authenticator> Make(const std::string& contents) {
  absl::StatusOr<TokensFile> file = ParseTokensFile(contents);
  EXPECT_TRUE(file.ok()) << file.status();
  return std::make_unique<Authenticator>(*file);
}

absl::StatusOr<std::string> WithHeader(const Authenticator& auth, const std::string& header) {
  return auth.Authenticate({{header}, std::nullopt});
}

TEST(AuthenticatorTest, EveryTokenGivesItsTenant) {
  auto auth = Make(absl::StrCat("acme ", kAcme, "\nbeta ", kBeta, "\nacme ", kAcme2, "\n"));
  // First, middle and last entries alike (every entry is compared, whichever matches).
  EXPECT_EQ(WithHeader(*auth, Bearer(kAcme)).value_or("?"), "acme");
  EXPECT_EQ(WithHeader(*auth, Bearer(kBeta)).value_or("?"), "beta");
  EXPECT_EQ(WithHeader(*auth, Bearer(kAcme2)).value_or("?"), "acme");
  // The scheme in any case, spaces around the token.
  EXPECT_EQ(WithHeader(*auth, absl::StrCat("bearer  ", kBeta, " ")).value_or("?"), "beta");
  EXPECT_EQ(WithHeader(*auth, absl::StrCat("BEARER ", kBeta)).value_or("?"), "beta");
  EXPECT_THAT(auth->Tenants(), ElementsAre("acme", "beta"));
}

TEST(AuthenticatorTest, RefusalsSayWhyAndNeverEchoTheToken) {
  auto auth = Make(absl::StrCat("acme ", kAcme, "\n"));
  struct Case {
    Credentials credentials;
    absl::string_view message;
    absl::string_view reason;
  };
  const std::string wrong = Bearer("wrong-token-0123456789");
  const std::string prefix = Bearer(std::string(kAcme).substr(0, 10));
  const std::string longer = Bearer(absl::StrCat(kAcme, "x"));
  const std::string basic = absl::StrCat("Basic ", kAcme);
  const std::string two_words = absl::StrCat("Bearer ", kAcme, " more");
  const std::string bare = kAcme;
  const std::string good = Bearer(kAcme);
  const Case cases[] = {
      {{{}, std::nullopt}, kMissingCredentials, "missing"},
      {{{wrong}, std::nullopt}, kUnknownToken, "unknown_token"},
      {{{prefix}, std::nullopt}, kUnknownToken, "unknown_token"},
      {{{longer}, std::nullopt}, kUnknownToken, "unknown_token"},
      {{{basic}, std::nullopt}, kMalformedHeader, "malformed"},
      {{{bare}, std::nullopt}, kMalformedHeader, "malformed"},
      {{{"Bearer"}, std::nullopt}, kMalformedHeader, "malformed"},
      {{{"Bearer   "}, std::nullopt}, kMalformedHeader, "malformed"},
      {{{two_words}, std::nullopt}, kMalformedHeader, "malformed"},
      {{{good, good}, std::nullopt}, kMalformedHeader, "malformed"},  // two headers
      {{{}, "unmapped.example"}, kMissingCredentials, "missing"},
  };
  for (const Case& c : cases) {
    absl::StatusOr<std::string> tenant = auth->Authenticate(c.credentials);
    ASSERT_EQ(tenant.status().code(), absl::StatusCode::kUnauthenticated) << c.message;
    EXPECT_EQ(tenant.status().message(), c.message);
    EXPECT_EQ(AuthFailureReason(tenant.status()), c.reason);
  }
  EXPECT_EQ(AuthFailureReason(absl::UnavailableError("x")), "other");
}

TEST(AuthenticatorTest, CertificateNamesMapTenantsAndATokenWins) {
  auto auth = Make(absl::StrCat("acme ", kAcme, "\nbeta x509:gw.beta.internal\n"));
  EXPECT_EQ(auth->Authenticate({{}, "gw.beta.internal"}).value_or("?"), "beta");
  const std::string header = Bearer(kAcme);
  EXPECT_EQ(auth->Authenticate({{header}, "gw.beta.internal"}).value_or("?"), "acme");
  // A wrong token is refused even with a mapped certificate: the header is what counts.
  const std::string wrong = Bearer("wrong-token-0123456789");
  EXPECT_EQ(auth->Authenticate({{wrong}, "gw.beta.internal"}).status().code(),
            absl::StatusCode::kUnauthenticated);
}

TEST(AuthenticatorTest, ReloadSwapsTheTableAndABadFileKeepsTheOld) {
  const std::string path = WriteTokens("reload_tokens", absl::StrCat("acme ", kAcme, "\n"));
  absl::StatusOr<std::unique_ptr<Authenticator>> auth = Authenticator::Load(path);
  ASSERT_TRUE(auth.ok()) << auth.status();
  EXPECT_TRUE(WithHeader(**auth, Bearer(kAcme)).ok());

  WriteTokens("reload_tokens", absl::StrCat("beta ", kBeta, "\n"));
  ASSERT_TRUE((*auth)->Reload(path).ok());
  EXPECT_EQ(WithHeader(**auth, Bearer(kAcme)).status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(WithHeader(**auth, Bearer(kBeta)).value_or("?"), "beta");
  EXPECT_THAT((*auth)->Tenants(), ElementsAre("beta"));

  WriteTokens("reload_tokens", "beta\n");
  const absl::Status bad = (*auth)->Reload(path);
  EXPECT_EQ(bad.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(WithHeader(**auth, Bearer(kBeta)).value_or("?"), "beta");
  EXPECT_EQ((*auth)->Reload(path + "-gone").code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(WithHeader(**auth, Bearer(kBeta)).value_or("?"), "beta");
}

// Calls authenticate while the table is swapped under them: each sees one table or the other,
// whole (and ThreadSanitizer sees no race: label concurrency).
TEST(AuthenticatorTest, ReloadWhileAuthenticating) {
  const std::string both = absl::StrCat("acme ", kAcme, "\nbeta ", kBeta, "\n");
  const std::string path = WriteTokens("concurrent_tokens", both);
  absl::StatusOr<std::unique_ptr<Authenticator>> auth = Authenticator::Load(path);
  ASSERT_TRUE(auth.ok()) << auth.status();
  std::atomic<bool> stop{false};
  std::atomic<int> wrong{0};
  std::vector<std::thread> callers;
  for (int i = 0; i < 3; ++i) {
    callers.emplace_back([&] {
      while (!stop.load()) {
        // acme is in every table; beta comes and goes.
        if (WithHeader(**auth, Bearer(kAcme)).value_or("?") != "acme") ++wrong;
        absl::StatusOr<std::string> beta = WithHeader(**auth, Bearer(kBeta));
        if (beta.ok() && *beta != "beta") ++wrong;
      }
    });
  }
  for (int i = 0; i < 50; ++i) {
    WriteTokens("concurrent_tokens", i % 2 == 0 ? absl::StrCat("acme ", kAcme, "\n") : both);
    ASSERT_TRUE((*auth)->Reload(path).ok());
  }
  stop.store(true);
  for (std::thread& caller : callers) caller.join();
  EXPECT_EQ(wrong.load(), 0);
}

}  // namespace
}  // namespace rwkv::server::auth
