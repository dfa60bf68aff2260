// End to end: the TLS flags of rwkv-server and of the client programs (issue 13). A bad
// combination or an unusable file stops rwkv-server before it starts, with exit code 2 and one
// line naming the flag; rwkv-cli, rwkv-loadgen and rwkv-resume-bench reach a TLS server with
// --tls-ca-file and fail clearly without it.
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gtest/gtest.h"
#include "tests/server/e2e/rpc_util.h"
#include "tests/server/e2e/server_process.h"
#include "tests/util/run_command.h"
#include "tests/util/scoped_temp_dir.h"
#include "tests/util/test_certs.h"

namespace rwkv::testing {
namespace {

class TlsFlagsE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<TestCerts> certs = MakeTestCerts(dir_.path());
    ASSERT_TRUE(certs.ok()) << certs.status();
    certs_ = *certs;
    not_pem_ = absl::StrCat(dir_.path(), "/not.pem");
    std::ofstream(not_pem_) << "not a certificate\n";
  }

  // rwkv-server with `flags` (the model is never loaded: the checks come first), and stderr.
  CommandResult Server(const std::vector<std::string>& flags) {
    return RunCommand(absl::StrCat(ServerBinary(), " --model ", TinyModel(),
                                   " --state-store memory: --listen 127.0.0.1:0 ",
                                   absl::StrJoin(flags, " "), " 2>&1 </dev/null"));
  }

  ScopedTempDir dir_;
  TestCerts certs_;
  std::string not_pem_;
};

// Each bad combination: exit 2, before anything is bound or loaded, and the line says why.
TEST_F(TlsFlagsE2eTest, BadServerFlagsExitWithCode2AndSayWhy) {
  const std::string cert = certs_.server_cert, key = certs_.server_key;
  struct Case {
    std::vector<std::string> flags;
    std::string says;
  };
  const std::vector<Case> cases = {
      {{"--tls-cert-file", cert}, "--tls-cert-file and --tls-key-file go together"},
      {{"--tls-key-file", key}, "--tls-cert-file and --tls-key-file go together"},
      {{"--tls-client-ca-file", certs_.ca_cert}, "--tls-client-ca-file needs --tls-cert-file"},
      {{"--tls-cert-file", "/nonexistent/server.crt", "--tls-key-file", key},
       "--tls-cert-file: cannot read /nonexistent/server.crt"},
      {{"--tls-cert-file", cert, "--tls-key-file", "/nonexistent/server.key"},
       "--tls-key-file: cannot read /nonexistent/server.key"},
      {{"--tls-cert-file", not_pem_, "--tls-key-file", key}, "holds no PEM certificate"},
      {{"--tls-cert-file", cert, "--tls-key-file", not_pem_}, "holds no PEM private key"},
      {{"--tls-cert-file", cert, "--tls-key-file", certs_.client_key},
       "is not the key of the certificate"},
      {{"--tls-cert-file", cert, "--tls-key-file", key, "--tls-client-ca-file", not_pem_},
       "--tls-client-ca-file: "},
      {{"--tls-cert-file", cert, "--tls-key-file", key, "--tls-reload-interval", "0"},
       "--tls-reload-interval must be at least 1s"},
      // The HTTPS API reads the same files: refused at start just the same.
      {{"--http-address", "127.0.0.1:0", "--tls-cert-file", not_pem_, "--tls-key-file", key},
       "holds no PEM certificate"},
      {{"--http-address", "127.0.0.1:0", "--tls-cert-file", cert, "--tls-key-file",
        certs_.client_key},
       "is not the key of the certificate"},
  };
  for (const Case& c : cases) {
    const CommandResult run = Server(c.flags);
    EXPECT_EQ(run.exit_code, 2) << absl::StrJoin(c.flags, " ") << ":\n" << run.output;
    EXPECT_TRUE(absl::StrContains(run.output, c.says))
        << absl::StrJoin(c.flags, " ") << " should say \"" << c.says << "\":\n"
        << run.output;
    EXPECT_EQ(run.output.find("listening on"), std::string::npos) << run.output;
  }
}

TEST_F(TlsFlagsE2eTest, ClientProgramsConnectWithTheCa) {
  auto server =
      ServerProcess::Start({"--model", TinyModel(), "--state-store", "memory:", "--tls-cert-file",
                            certs_.server_cert, "--tls-key-file", certs_.server_key});
  ASSERT_TRUE(server.ok()) << server.status();
  const std::string address = (*server)->Address();
  const std::string ca = absl::StrCat(" --tls-ca-file ", certs_.ca_cert);
  const std::string cli = absl::StrCat(RWKV_BIN_DIR, "/rwkv-cli --server ", address);

  const CommandResult generate = RunCommand(absl::StrCat(
      cli, ca, " generate --max-tokens 8 --temperature 0 'The quick brown fox' 2>/dev/null"));
  ASSERT_EQ(generate.exit_code, 0);
  const std::vector<int32_t> expected = LocalGreedy(TinyModel(), Bytes("The quick brown fox"), 8);
  EXPECT_TRUE(absl::StartsWith(generate.output, std::string(expected.begin(), expected.end())))
      << generate.output;

  const CommandResult plaintext =
      RunCommand(absl::StrCat(cli, " --connect-timeout 2s health 2>&1"));
  EXPECT_EQ(plaintext.exit_code, 1) << plaintext.output;
  EXPECT_TRUE(absl::StrContains(plaintext.output, "UNAVAILABLE")) << plaintext.output;

  const CommandResult half =
      RunCommand(absl::StrCat(cli, ca, " --tls-cert-file ", certs_.client_cert, " health 2>&1"));
  EXPECT_EQ(half.exit_code, 2) << half.output;
  EXPECT_TRUE(absl::StrContains(half.output, "--tls-cert-file and --tls-key-file go together"))
      << half.output;

  const CommandResult loadgen =
      RunCommand(absl::StrCat(RWKV_BIN_DIR, "/rwkv-loadgen --server ", address, ca,
                              " --sessions 2 --turns 1 --max-tokens 4 2>&1"));
  EXPECT_EQ(loadgen.exit_code, 0) << loadgen.output;

  const CommandResult bench =
      RunCommand(absl::StrCat(RWKV_BIN_DIR, "/rwkv-resume-bench --server ", address, ca,
                              " --history-tokens 16 --repeats 1 --recompute=false 2>&1"));
  EXPECT_EQ(bench.exit_code, 0) << bench.output;
  EXPECT_EQ((*server)->Terminate(absl::Seconds(30)), 0);
}

}  // namespace
}  // namespace rwkv::testing
