// End to end: what a drain refuses, and a second SIGTERM cutting a long drain short.
#include <signal.h>

#include <filesystem>
#include <memory>
#include <string>

#include "gtest/gtest.h"
#include "absl/strings/str_cat.h"
#include "tests/server/e2e/rpc_util.h"
#include "tests/server/e2e/server_process.h"
#include "tests/util/shared_data.h"
#include "tests/util/wait_for.h"

namespace rwkv::testing {
namespace {

using grpc::StatusCode;
using rwkv::v1::Rwkv;

class ShutdownE2eTest : public ::testing::Test {
 protected:
  void Start(const std::string& dir) {
    // A drain far longer than any wait below: only a second signal can end it in time.
    auto server = ServerProcess::Start({"--model", TinyModel(), "--state-store", "rocksdb:" + dir,
                                        "--drain-timeout", "600s", "--max-new-tokens",
                                        "1000000"});
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    stub_ = Rwkv::NewStub(server_->Channel());
  }

  grpc::Status GetSession(const std::string& id, rwkv::v1::Session* session) {
    grpc::ClientContext context;
    Bound(context);
    rwkv::v1::GetSessionRequest request;
    request.set_session_id(id);
    return stub_->GetSession(&context, request, session);
  }

  std::unique_ptr<ServerProcess> server_;
  std::unique_ptr<Rwkv::Stub> stub_;
};

TEST_F(ShutdownE2eTest, DrainRefusesEveryNewCallAndASecondSigtermRollsBackAtOnce) {
  const std::string dir = UniqueTempPath("shutdown");
  std::filesystem::remove_all(dir);
  Start(dir);
  ASSERT_TRUE(Generate(*stub_, GreedyRequest("First turn.", 8, "s")).status.ok());

  // A turn that would run for a very long time, on the same session.
  grpc::ClientContext stream_context;
  Bound(stream_context);
  auto stream = stub_->Generate(&stream_context, GreedyRequest("Second turn.", 1'000'000, "s"));
  rwkv::v1::GenerateResponse response;
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(stream->Read(&response)) << "the long turn never ran";

  ASSERT_EQ(kill(server_->pid(), SIGTERM), 0);
  ASSERT_TRUE(server_->WaitForLog("draining", kWaitLimit)) << server_->Log();

  // Every new call is refused during the drain, not only Generate.
  rwkv::v1::Session session;
  EXPECT_EQ(GetSession("s", &session).error_code(), StatusCode::UNAVAILABLE);
  {
    grpc::ClientContext context;
    Bound(context);
    rwkv::v1::TokenizeRequest request;
    request.set_text("hello");
    rwkv::v1::TokenizeResponse tokens;
    const grpc::Status status = stub_->Tokenize(&context, request, &tokens);
    EXPECT_EQ(status.error_code(), StatusCode::UNAVAILABLE);
    EXPECT_NE(status.error_message().find("shutting down"), std::string::npos)
        << status.error_message();
  }
  EXPECT_EQ(Generate(*stub_, GreedyRequest("New turn.", 4, "t")).status.error_code(),
            StatusCode::UNAVAILABLE);

  // The second signal ends the 600 s drain now: the long turn is rolled back, the server exits 0.
  EXPECT_EQ(server_->Stop(SIGTERM, kWaitLimit), 0) << server_->Log();
  while (stream->Read(&response)) {
  }
  EXPECT_FALSE(stream->Finish().ok());

  // After a restart the session is as the first turn left it.
  Start(dir);
  ASSERT_TRUE(GetSession("s", &session).ok());
  EXPECT_EQ(session.version(), 1);
  EXPECT_TRUE(Generate(*stub_, GreedyRequest(" more", 4, "s")).status.ok());
  EXPECT_EQ(server_->Terminate(kWaitLimit), 0) << server_->Log();
}

}  // namespace
}  // namespace rwkv::testing
