// rwkv-cli and rwkv-loadgen against the real rwkv-server on 127.0.0.1.
#include <string>

#include "gtest/gtest.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "tests/server/e2e/rpc_util.h"
#include "tests/server/e2e/server_process.h"
#include "tests/util/run_command.h"
#include "tests/util/shared_data.h"

namespace rwkv::testing {
namespace {

class ClientE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto server = ServerProcess::Start({"--model", TinyModel(), "--state-store", "memory:",
                                        "--http-address", "127.0.0.1:0"});
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
  }
  std::string Cli(const std::string& args) {
    return absl::StrCat(RWKV_BIN_DIR, "/rwkv-cli --server ", server_->Address(), " ", args);
  }
  std::unique_ptr<ServerProcess> server_;
};

TEST_F(ClientE2eTest, CliCommands) {
  const CommandResult health = RunCommand(Cli("health 2>&1"));
  EXPECT_EQ(health.exit_code, 0);
  EXPECT_TRUE(absl::StrContains(health.output, "SERVING")) << health.output;

  const CommandResult generate = RunCommand(Cli(
      "generate --session cli-1 --create-session --max-tokens 24 --temperature 0 "
      "'The quick brown fox' 2>/dev/null"));
  ASSERT_EQ(generate.exit_code, 0);
  const std::vector<int32_t> expected = LocalGreedy(TinyModel(), Bytes("The quick brown fox"), 24);
  EXPECT_TRUE(absl::StartsWith(generate.output, std::string(expected.begin(), expected.end())))
      << generate.output;

  const CommandResult get = RunCommand(Cli("sessions get cli-1 2>&1"));
  EXPECT_EQ(get.exit_code, 0);
  EXPECT_TRUE(absl::StrContains(get.output, "version:      1")) << get.output;

  const CommandResult missing = RunCommand(Cli("sessions get nobody 2>&1"));
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_TRUE(absl::StrContains(missing.output, "rwkv-cli: NOT_FOUND")) << missing.output;

  const CommandResult bad = RunCommand(Cli("generate --temperature -3 hello 2>&1"));
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_TRUE(absl::StrContains(bad.output, "INVALID_ARGUMENT")) << bad.output;

  const CommandResult tokens = RunCommand(Cli("tokenize '\"in' 2>&1"));
  EXPECT_EQ(tokens.exit_code, 0);
  EXPECT_TRUE(absl::StrContains(tokens.output, "34")) << tokens.output;
}

TEST_F(ClientE2eTest, LoadgenRunsAndReports) {
  const std::string json = UniqueTempPath("loadgen.json");
  const CommandResult run = RunCommand(absl::StrCat(RWKV_BIN_DIR, "/rwkv-loadgen --server ", server_->Address(),
                                     " --sessions 4 --turns 2 --max-tokens 8 --json ", json,
                                     " 2>&1"));
  EXPECT_EQ(run.exit_code, 0) << run.output;
  auto report = ReadFileBytes(json);
  ASSERT_TRUE(report.ok());
  EXPECT_TRUE(absl::StrContains(*report, "\"generated_tokens\": 64")) << *report;
}

TEST_F(ClientE2eTest, LoadgenOverTheHttpApi) {
  // The turns as streamed /v1/completions (sessions created and continued over HTTP), the
  // sessions deleted over gRPC afterwards; ignore_eos makes every turn exactly 8 tokens.
  const std::string json = UniqueTempPath("loadgen-http.json");
  const CommandResult run = RunCommand(absl::StrCat(
      RWKV_BIN_DIR, "/rwkv-loadgen --server ", server_->Address(), " --http 127.0.0.1:",
      server_->http_port(), " --sessions 4 --turns 2 --max-tokens 8 --json ", json, " 2>&1"));
  EXPECT_EQ(run.exit_code, 0) << run.output;
  auto report = ReadFileBytes(json);
  ASSERT_TRUE(report.ok());
  EXPECT_TRUE(absl::StrContains(*report, "\"generated_tokens\": 64")) << *report;
  const CommandResult sessions = RunCommand(Cli("sessions list 2>&1"));
  EXPECT_FALSE(absl::StrContains(sessions.output, "loadgen-")) << sessions.output;

  // A refused turn is counted by its code, as over gRPC.
  const CommandResult refused = RunCommand(absl::StrCat(
      RWKV_BIN_DIR, "/rwkv-loadgen --http 127.0.0.1:", server_->http_port(),
      " --no-sessions --max-tokens 100000 2>&1"));
  EXPECT_EQ(refused.exit_code, 1) << refused.output;
  EXPECT_TRUE(absl::StrContains(refused.output, "INVALID_ARGUMENT: 1")) << refused.output;
}

}  // namespace
}  // namespace rwkv::testing
