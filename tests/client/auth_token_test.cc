// The client's bearer token: read from --auth-token-file or RWKV_AUTH_TOKEN (auth_token.h), and
// sent by RwkvClient as `authorization: Bearer <token>` on every call.
#include "client/auth_token.h"

#include <cstdlib>
#include <fstream>
#include <string>

#include "absl/strings/match.h"
#include "client/rwkv_client.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/client/fake_rwkv_server.h"

namespace rwkv::client {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

std::string WriteFile(const std::string& name, const std::string& contents) {
  const std::string path = ::testing::TempDir() + "/" + name;
  std::ofstream(path, std::ios::binary) << contents;
  return path;
}

class AuthTokenTest : public ::testing::Test {
 protected:
  void SetUp() override { unsetenv(kAuthTokenEnv); }
  void TearDown() override { unsetenv(kAuthTokenEnv); }
};

TEST_F(AuthTokenTest, FileWinsOverTheEnvironmentAndLosesItsNewline) {
  setenv(kAuthTokenEnv, "from-the-environment-123", 1);
  const std::string path = WriteFile("token", "  from-the-file-0123456\n");
  absl::StatusOr<std::string> token = LoadAuthToken(path);
  ASSERT_TRUE(token.ok()) << token.status();
  EXPECT_EQ(*token, "from-the-file-0123456");
}

TEST_F(AuthTokenTest, EnvironmentWithoutAFileElseNone) {
  absl::StatusOr<std::string> none = LoadAuthToken("");
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_EQ(*none, "");
  setenv(kAuthTokenEnv, "from-the-environment-123", 1);
  absl::StatusOr<std::string> token = LoadAuthToken("");
  ASSERT_TRUE(token.ok()) << token.status();
  EXPECT_EQ(*token, "from-the-environment-123");
}

TEST_F(AuthTokenTest, BadFilesAreClearErrorsWithoutTheToken) {
  absl::StatusOr<std::string> missing = LoadAuthToken(::testing::TempDir() + "/no-such-token");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(missing.status().message(), "no-such-token"));
  EXPECT_EQ(LoadAuthToken(WriteFile("empty", "\n")).status().code(),
            absl::StatusCode::kInvalidArgument);
  absl::StatusOr<std::string> two = LoadAuthToken(WriteFile("two", "secret-one-0123 secret-two\n"));
  EXPECT_EQ(two.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(absl::StrContains(two.status().message(), "secret")) << two.status();
}

TEST(RwkvClientAuthTest, EveryCallCarriesTheBearerTokenOnce) {
  testing::FakeRwkvServer server;
  RwkvClient client(server.NewChannel());
  client.SetAuthToken("tok-0123456789abcdef");
  ASSERT_TRUE(client.Generate(rwkv::v1::GenerateRequest(), nullptr, nullptr).ok());
  grpc::ClientContext own;  // a caller's own context gets it too
  ASSERT_TRUE(client.Generate(rwkv::v1::GenerateRequest(), nullptr, nullptr, &own).ok());
  ASSERT_TRUE(client.CreateSession(rwkv::v1::CreateSessionRequest()).ok());
  ASSERT_TRUE(client.ListSessions(rwkv::v1::ListSessionsRequest()).ok());
  client.GetSession("s").status().IgnoreError();
  client.DeleteSession("s").IgnoreError();
  client.ForkSession(rwkv::v1::ForkSessionRequest()).status().IgnoreError();
  ASSERT_TRUE(client.Tokenize("x").ok());
  client.Detokenize(rwkv::v1::DetokenizeRequest()).status().IgnoreError();
  ASSERT_TRUE(client.GetModelInfo().ok());
  const std::vector<testing::RecordedCall> calls = server.service().calls();
  EXPECT_GE(calls.size(), 9u);
  for (const testing::RecordedCall& call : calls) {
    EXPECT_THAT(call.authorizations, ElementsAre("Bearer tok-0123456789abcdef")) << call.method;
  }
}

TEST(RwkvClientAuthTest, NoTokenNoHeader) {
  testing::FakeRwkvServer server;
  RwkvClient client(server.NewChannel());
  ASSERT_TRUE(client.GetModelInfo().ok());
  ASSERT_EQ(server.service().calls().size(), 1u);
  EXPECT_THAT(server.service().calls()[0].authorizations, IsEmpty());
}

}  // namespace
}  // namespace rwkv::client
