// End to end: a client on another gRPC implementation (Node.js, @grpc/grpc-js, loading proto/ at
// run time: tests/node/generate.js) streams a completion from rwkv-server over TLS, with a client
// certificate under mutual TLS, and with a token where the server has --auth-tokens-file.
// Skipped, saying why, where node or the modules of tests/node/package.json are missing
// (scripts/test.sh installs them with `npm ci`).
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/server/e2e/rpc_util.h"
#include "tests/server/e2e/server_process.h"
#include "tests/util/run_command.h"
#include "tests/util/scoped_temp_dir.h"
#include "tests/util/test_certs.h"

namespace rwkv::testing {
namespace {

const std::string kNodeDir = absl::StrCat(RWKV_SOURCE_DIR, "/tests/node");
constexpr char kPrompt[] = "The quick brown fox";

// Why the Node client cannot run here, or "" when it can.
std::string NodeMissing() {
  if (RunCommand("node --version >/dev/null 2>&1").exit_code != 0) {
    return "node is not installed (Debian packages nodejs and npm; scripts/install-deps.sh)";
  }
  for (const char* module : {"@grpc/grpc-js", "@grpc/proto-loader"}) {
    if (!std::filesystem::exists(absl::StrCat(kNodeDir, "/node_modules/", module))) {
      return absl::StrCat(module,
                          " is not installed: run `npm ci` in tests/node (scripts/test.sh "
                          "does)");
    }
  }
  return "";
}

struct NodeResult {
  int exit_code = -1;
  std::string out;  // the streamed text
  std::string err;  // "done: ..." or "node-client: CODE: message"
};

class NodeClientE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (const std::string missing = NodeMissing(); !missing.empty()) GTEST_SKIP() << missing;
    absl::StatusOr<TestCerts> certs = MakeTestCerts(absl::StrCat(dir_.path(), "/ca"));
    ASSERT_TRUE(certs.ok()) << certs.status();
    certs_ = *certs;
  }

  std::unique_ptr<ServerProcess> StartServer(std::vector<std::string> more = {}) {
    std::vector<std::string> args = {"--model",        TinyModel(),       "--state-store",
                                     "memory:",        "--tls-cert-file", certs_.server_cert,
                                     "--tls-key-file", certs_.server_key};
    args.insert(args.end(), more.begin(), more.end());
    auto server = ServerProcess::Start(args);
    EXPECT_TRUE(server.ok()) << server.status();
    return server.ok() ? std::move(*server) : nullptr;
  }

  // generate.js against `server` with `flags` (e.g. "--ca FILE").
  NodeResult Node(const ServerProcess& server, const std::string& flags) {
    const std::string err_file = absl::StrCat(dir_.path(), "/node.err");
    const CommandResult run = RunCommand(
        absl::StrCat("node ", kNodeDir, "/generate.js --address ", server.Address(), " ", flags,
                     " --max-tokens 16 ", kPrompt, " 2>", err_file, " </dev/null"));
    return {run.exit_code, run.output, ReadTextFile(err_file)};
  }

  std::string Expected() const {
    const std::vector<int32_t> tokens = LocalGreedy(TinyModel(), Bytes(kPrompt), 16);
    return std::string(tokens.begin(), tokens.end());
  }

  ScopedTempDir dir_;
  TestCerts certs_;
};

TEST_F(NodeClientE2eTest, StreamsACompletionOverTls) {
  std::unique_ptr<ServerProcess> server = StartServer();
  ASSERT_NE(server, nullptr);
  const NodeResult trusted = Node(*server, absl::StrCat("--ca ", certs_.ca_cert));
  ASSERT_EQ(trusted.exit_code, 0) << trusted.err;
  EXPECT_EQ(trusted.out, Expected());
  EXPECT_TRUE(absl::StrContains(trusted.err, "done: FINISH_REASON_LENGTH 16")) << trusted.err;

  absl::StatusOr<TestCerts> other = MakeTestCerts(absl::StrCat(dir_.path(), "/other"), "other");
  ASSERT_TRUE(other.ok()) << other.status();
  const NodeResult untrusted = Node(*server, absl::StrCat("--ca ", other->ca_cert));
  EXPECT_EQ(untrusted.exit_code, 1) << untrusted.err;
  EXPECT_TRUE(absl::StrContains(untrusted.err, "node-client: UNAVAILABLE")) << untrusted.err;
  EXPECT_EQ(server->Terminate(absl::Seconds(30)), 0);
}

TEST_F(NodeClientE2eTest, StreamsWithAClientCertificateUnderMutualTls) {
  std::unique_ptr<ServerProcess> server = StartServer({"--tls-client-ca-file", certs_.ca_cert});
  ASSERT_NE(server, nullptr);
  const NodeResult with =
      Node(*server, absl::StrCat("--ca ", certs_.ca_cert, " --cert ", certs_.client_cert, " --key ",
                                 certs_.client_key));
  ASSERT_EQ(with.exit_code, 0) << with.err;
  EXPECT_EQ(with.out, Expected());
  const NodeResult without = Node(*server, absl::StrCat("--ca ", certs_.ca_cert));
  EXPECT_EQ(without.exit_code, 1) << without.err;
  EXPECT_EQ(server->Terminate(absl::Seconds(30)), 0);
}

// Authentication (`--auth-tokens-file`, lines "TENANT TOKEN") comes with issue 13's item 2; until
// the server has the flag there is nothing to send a token to.
TEST_F(NodeClientE2eTest, StreamsWithABearerToken) {
  const CommandResult help = RunCommand(absl::StrCat(ServerBinary(), " --help 2>&1"));
  if (!absl::StrContains(help.output, "auth_tokens_file")) {
    GTEST_SKIP() << "rwkv-server has no --auth-tokens-file yet";
  }
  const std::string tokens = absl::StrCat(dir_.path(), "/tokens");
  std::ofstream(tokens) << "# tenant token\nnode-tenant node-secret-token-0123456789\n";
  std::unique_ptr<ServerProcess> server = StartServer({"--auth-tokens-file", tokens});
  ASSERT_NE(server, nullptr);
  const std::string ca = absl::StrCat("--ca ", certs_.ca_cert);
  const NodeResult with = Node(*server, absl::StrCat(ca, " --token node-secret-token-0123456789"));
  ASSERT_EQ(with.exit_code, 0) << with.err;
  EXPECT_EQ(with.out, Expected());
  const NodeResult without = Node(*server, ca);
  EXPECT_EQ(without.exit_code, 1) << without.err;
  EXPECT_TRUE(absl::StrContains(without.err, "node-client: UNAUTHENTICATED")) << without.err;
  const NodeResult wrong = Node(*server, absl::StrCat(ca, " --token wrong-token"));
  EXPECT_TRUE(absl::StrContains(wrong.err, "node-client: UNAUTHENTICATED")) << wrong.err;
  EXPECT_EQ(server->Terminate(absl::Seconds(30)), 0);
}

}  // namespace
}  // namespace rwkv::testing
