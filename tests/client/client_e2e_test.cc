// rwkv-cli and rwkv-loadgen against the real rwkv-server on 127.0.0.1.
#include <sys/wait.h>

#include <cstdio>
#include <string>

#include "gtest/gtest.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "tests/server/e2e/rpc_util.h"
#include "tests/server/e2e/server_process.h"
#include "tests/util/shared_data.h"

namespace rwkv::testing {
namespace {

struct ShellRun {
  int exit_code = -1;
  std::string out;  // stdout and stderr
};

ShellRun Shell(const std::string& command) {
  ShellRun run;
  FILE* pipe = popen(command.c_str(), "r");
  char buffer[4096];
  size_t n;
  while ((n = fread(buffer, 1, sizeof(buffer), pipe)) > 0) run.out.append(buffer, n);
  const int status = pclose(pipe);
  run.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return run;
}

class ClientE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto server = ServerProcess::Start({"--model", TinyModel(), "--state-store", "memory:"});
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
  }
  std::string Cli(const std::string& args) {
    return absl::StrCat(RWKV_BIN_DIR, "/rwkv-cli --server ", server_->Address(), " ", args);
  }
  std::unique_ptr<ServerProcess> server_;
};

TEST_F(ClientE2eTest, CliCommands) {
  const ShellRun health = Shell(Cli("health 2>&1"));
  EXPECT_EQ(health.exit_code, 0);
  EXPECT_TRUE(absl::StrContains(health.out, "SERVING")) << health.out;

  const ShellRun generate = Shell(Cli(
      "generate --session cli-1 --create-session --max-tokens 24 --temperature 0 "
      "'The quick brown fox' 2>/dev/null"));
  ASSERT_EQ(generate.exit_code, 0);
  const std::vector<int32_t> expected = LocalGreedy(TinyModel(), Bytes("The quick brown fox"), 24);
  EXPECT_TRUE(absl::StartsWith(generate.out, std::string(expected.begin(), expected.end())))
      << generate.out;

  const ShellRun get = Shell(Cli("sessions get cli-1 2>&1"));
  EXPECT_EQ(get.exit_code, 0);
  EXPECT_TRUE(absl::StrContains(get.out, "version:      1")) << get.out;

  const ShellRun missing = Shell(Cli("sessions get nobody 2>&1"));
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_TRUE(absl::StrContains(missing.out, "rwkv-cli: NOT_FOUND")) << missing.out;

  const ShellRun bad = Shell(Cli("generate --temperature -3 hello 2>&1"));
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_TRUE(absl::StrContains(bad.out, "INVALID_ARGUMENT")) << bad.out;

  const ShellRun tokens = Shell(Cli("tokenize '\"in' 2>&1"));
  EXPECT_EQ(tokens.exit_code, 0);
  EXPECT_TRUE(absl::StrContains(tokens.out, "34")) << tokens.out;
}

TEST_F(ClientE2eTest, LoadgenRunsAndReports) {
  const std::string json = UniqueTempPath("loadgen.json");
  const ShellRun run = Shell(absl::StrCat(RWKV_BIN_DIR, "/rwkv-loadgen --server ", server_->Address(),
                                     " --sessions 4 --turns 2 --max-tokens 8 --json ", json,
                                     " 2>&1"));
  EXPECT_EQ(run.exit_code, 0) << run.out;
  auto report = ReadFileBytes(json);
  ASSERT_TRUE(report.ok());
  EXPECT_TRUE(absl::StrContains(*report, "\"generated_tokens\": 64")) << *report;
}

}  // namespace
}  // namespace rwkv::testing
