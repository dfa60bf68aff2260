// End to end, rwkv-server on a Redis state store: the password comes from
// --state-store-password-file or RWKV_STATE_STORE_PASSWORD and never shows in the log, a refused
// one or one put in the URI stops the start-up with a clear message, and sessions resume.
// (Several replicas on one Redis are tested in their own suite.)
#include <stdlib.h>

#include <fstream>
#include <memory>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/server/e2e/rpc_util.h"
#include "tests/server/e2e/server_process.h"
#include "tests/util/redis_server.h"
#include "tests/util/scoped_temp_dir.h"

namespace rwkv::testing {
namespace {

using rwkv::v1::Rwkv;
using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kPassword[] = "s3cret-Pa55word";

class RedisStoreE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    RedisServer::Options options;
    options.password = kPassword;
    absl::StatusOr<std::unique_ptr<RedisServer>> redis = RedisServer::Start(options);
    ASSERT_TRUE(redis.ok()) << redis.status();
    redis_ = *std::move(redis);
  }

  std::string PasswordFile(const std::string& contents) {
    const std::string path = dir_.path() + "/password";
    std::filesystem::create_directories(dir_.path());
    std::ofstream(path) << contents;
    return path;
  }

  std::vector<std::string> Args(const std::string& uri) {
    return {"--model", TinyModel(), "--state-store", uri, "--metrics-address", ""};
  }

  ScopedTempDir dir_;
  std::unique_ptr<RedisServer> redis_;
};

TEST_F(RedisStoreE2eTest, PasswordFromAFileServesSessionsFromRedis) {
  std::vector<std::string> args = Args(redis_->uri());
  args.insert(args.end(),
              {"--state-store-password-file", PasswordFile(absl::StrCat(kPassword, "\n"))});
  absl::StatusOr<std::unique_ptr<ServerProcess>> server = ServerProcess::Start(args);
  ASSERT_TRUE(server.ok()) << server.status();
  auto stub = Rwkv::NewStub((*server)->Channel());
  const StreamResult turn1 = Generate(*stub, GreedyRequest("Hello", 8, "on-redis"));
  ASSERT_TRUE(turn1.status.ok()) << turn1.status.error_message();
  const StreamResult turn2 = Generate(*stub, GreedyRequest(" again", 8, "on-redis"));
  ASSERT_TRUE(turn2.status.ok()) << turn2.status.error_message();
  EXPECT_EQ(turn2.done.session().version(), 2);
  absl::StatusOr<RedisValue> keys = redis_->Command({"ZCARD", "rwkv:index"});
  ASSERT_TRUE(keys.ok()) << keys.status();
  EXPECT_GT(keys->integer, 0) << "the session is not in Redis";
  EXPECT_EQ((*server)->Terminate(absl::Seconds(30)), 0);
  EXPECT_THAT((*server)->Log(), Not(HasSubstr(kPassword)));
}

TEST_F(RedisStoreE2eTest, PasswordFromTheEnvironment) {
  setenv("RWKV_STATE_STORE_PASSWORD", kPassword, 1);
  absl::StatusOr<std::unique_ptr<ServerProcess>> server = ServerProcess::Start(Args(redis_->uri()));
  unsetenv("RWKV_STATE_STORE_PASSWORD");
  ASSERT_TRUE(server.ok()) << server.status();
  EXPECT_EQ((*server)->Terminate(absl::Seconds(30)), 0);
  EXPECT_THAT((*server)->Log(), Not(HasSubstr(kPassword)));
}

TEST_F(RedisStoreE2eTest, ARefusedPasswordStopsTheStartWithoutPrintingIt) {
  std::vector<std::string> args = Args(redis_->uri());
  args.insert(args.end(), {"--state-store-password-file", PasswordFile("not-the-password")});
  absl::StatusOr<std::unique_ptr<ServerProcess>> server = ServerProcess::Start(args);
  ASSERT_FALSE(server.ok());
  EXPECT_THAT(std::string(server.status().message()),
              AllOf(HasSubstr("password"), HasSubstr("refused"), Not(HasSubstr("not-the-password")),
                    Not(HasSubstr(kPassword))));
}

TEST_F(RedisStoreE2eTest, APasswordInTheUriIsRefused) {
  absl::StatusOr<std::unique_ptr<ServerProcess>> server = ServerProcess::Start(
      Args(absl::StrCat("redis://default:", kPassword, "@127.0.0.1:", redis_->port())));
  ASSERT_FALSE(server.ok());
  EXPECT_THAT(std::string(server.status().message()),
              AllOf(HasSubstr("--state-store-password-file"), Not(HasSubstr(kPassword))));
}

TEST_F(RedisStoreE2eTest, AnUnreadablePasswordFileIsAnError) {
  std::vector<std::string> args = Args(redis_->uri());
  args.insert(args.end(), {"--state-store-password-file", dir_.path() + "/missing"});
  absl::StatusOr<std::unique_ptr<ServerProcess>> server = ServerProcess::Start(args);
  ASSERT_FALSE(server.ok());
  EXPECT_THAT(std::string(server.status().message()),
              HasSubstr("--state-store-password-file: cannot read"));
}

}  // namespace
}  // namespace rwkv::testing
