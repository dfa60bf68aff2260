// Every program's --help lists its own flags (Abseil's default shows only flags defined in a file
// named after the program, so `rwkv-bench --help` used to print "No flags matched"), and none of
// Abseil's internal ones.
#include <gtest/gtest.h>

#include <ostream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "tests/util/run_command.h"

namespace rwkv {
namespace {

struct Program {
  std::string binary;
  std::vector<std::string> flags;  // a few of the program's own flags
};

void PrintTo(const Program& program, std::ostream* out) { *out << program.binary; }

class HelpFlagsTest : public ::testing::TestWithParam<Program> {};

TEST_P(HelpFlagsTest, HelpListsTheProgramsOwnFlags) {
  const Program& program = GetParam();
  const testing::CommandResult result =
      testing::RunCommand(absl::StrCat(RWKV_BIN_DIR, "/", program.binary, " --help 2>&1"));
  EXPECT_EQ(result.output.find("No flags matched"), std::string::npos) << result.output;
  for (const std::string& flag : program.flags) {
    EXPECT_NE(result.output.find(absl::StrCat("--", flag)), std::string::npos)
        << program.binary << " --help does not list --" << flag << ":\n" << result.output;
  }
  EXPECT_EQ(result.output.find("--flagfile"), std::string::npos)
      << "Abseil's own flags should not be listed:\n" << result.output;
}

INSTANTIATE_TEST_SUITE_P(
    Programs, HelpFlagsTest,
    ::testing::Values(Program{"rwkv-bench", {"shape", "threads", "precision", "batches"}},
                      Program{"rwkv-generate", {"model", "tokenizer", "prompt"}},
                      Program{"rwkv-tokenize", {"tokenizer", "text_file"}},
                      Program{"rwkv-server",
                              {"model", "listen", "max_batch_tokens", "tls_cert_file",
                               "tls_client_ca_file", "tls_reload_interval", "auth_tokens_file",
                               "allow_unauthenticated", "reflection"}},
                      Program{"rwkv-cli",
                              {"server", "session", "tls_ca_file", "tls_cert_file",
                               "auth_token_file"}},
                      Program{"rwkv-loadgen",
                              {"server", "sessions", "turns", "tls_ca_file", "auth_token_file"}},
                      Program{"rwkv-resume-bench",
                              {"server", "history_tokens", "tls_ca_file", "auth_token_file"}},
                      Program{"rwkv-soak", {"duration_s", "workers", "server_args"}}),
    [](const ::testing::TestParamInfo<Program>& info) {
      std::string name = info.param.binary;
      for (char& c : name) {
        if (c == '-') c = '_';
      }
      return name;
    });

}  // namespace
}  // namespace rwkv
