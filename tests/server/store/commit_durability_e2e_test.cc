// End to end: rwkv-server's --commit-durability flag (sync, the default, fsyncs each commit
// before the turn's final message; async does not). That sync writes are fsynced is checked in
// state_store_test; here, that the flag is parsed, validated, logged and serves.
#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "tests/server/e2e/rpc_util.h"
#include "tests/server/e2e/server_process.h"
#include "tests/util/run_command.h"
#include "tests/util/scoped_temp_dir.h"

namespace rwkv::testing {
namespace {

using rwkv::v1::Rwkv;

std::unique_ptr<ServerProcess> StartServer(const std::string& store,
                                           std::vector<std::string> extra) {
  std::vector<std::string> args = {"--model", TinyModel(), "--state-store", store};
  args.insert(args.end(), extra.begin(), extra.end());
  auto server = ServerProcess::Start(args);
  EXPECT_TRUE(server.ok()) << server.status();
  return server.ok() ? *std::move(server) : nullptr;
}

TEST(CommitDurabilityE2eTest, UnknownValueExitsTwoNamingTheFlag) {
  // timeout(1) bounds the run should the server start serving instead of refusing.
  const CommandResult run =
      RunCommand(absl::StrCat("timeout 60 ", ServerBinary(), " --model ", TinyModel(),
                              " --state-store memory: --listen 127.0.0.1:0 --metrics-address ''",
                              " --commit-durability bogus 2>&1"));
  EXPECT_EQ(run.exit_code, 2) << run.output;
  EXPECT_TRUE(absl::StrContains(run.output, "--commit-durability must be sync or async"))
      << run.output;
  EXPECT_TRUE(absl::StrContains(run.output, "bogus")) << run.output;
}

TEST(CommitDurabilityE2eTest, SyncIsTheDefaultAndIsLogged) {
  ScopedTempDir dir;
  std::unique_ptr<ServerProcess> server = StartServer(absl::StrCat("rocksdb:", dir.path()), {});
  ASSERT_NE(server, nullptr);
  EXPECT_TRUE(absl::StrContains(server->Log(), "sync commits")) << server->Log();
  EXPECT_EQ(server->Terminate(absl::Seconds(30)), 0);
}

TEST(CommitDurabilityE2eTest, AsyncServesAndItsCommitsSurviveAProcessCrash) {
  ScopedTempDir dir;
  const std::string store = absl::StrCat("rocksdb:", dir.path());
  std::unique_ptr<ServerProcess> server = StartServer(store, {"--commit-durability", "async"});
  ASSERT_NE(server, nullptr);
  EXPECT_TRUE(absl::StrContains(server->Log(), "async commits")) << server->Log();
  std::unique_ptr<Rwkv::Stub> stub = Rwkv::NewStub(server->Channel());
  const StreamResult turn = Generate(*stub, GreedyRequest("Hello", 4, "durable"));
  ASSERT_TRUE(turn.status.ok()) << turn.status.error_message();
  ASSERT_TRUE(turn.has_done);
  // Unsynced writes are in the OS page cache, which a SIGKILL of the process does not lose.
  server->Kill();

  server = StartServer(store, {"--commit-durability=sync"});
  ASSERT_NE(server, nullptr);
  stub = Rwkv::NewStub(server->Channel());
  grpc::ClientContext context;
  Bound(context);
  rwkv::v1::GetSessionRequest request;
  request.set_session_id("durable");
  rwkv::v1::Session session;
  const grpc::Status status = stub->GetSession(&context, request, &session);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(session.version(), 1);
  EXPECT_EQ(server->Terminate(absl::Seconds(30)), 0);
}

}  // namespace
}  // namespace rwkv::testing
