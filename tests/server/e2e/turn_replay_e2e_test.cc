// End to end: a Generate retried with the turn_id of its session's last committed turn is
// replayed (the same tokens, text and Done, the session unchanged, nothing run), also after the
// server was SIGKILLed; any other turn_id runs a new turn. Real gRPC, the tiny RWKV-7 model,
// RocksDB.
#include <filesystem>
#include <memory>
#include <string>

#include "gtest/gtest.h"
#include "tests/server/e2e/rpc_util.h"
#include "tests/server/e2e/server_process.h"
#include "tests/util/shared_data.h"

namespace rwkv::testing {
namespace {

using rwkv::v1::GenerateRequest;
using rwkv::v1::Rwkv;

class TurnReplayE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = UniqueTempPath("turn-replay");
    std::filesystem::remove_all(dir_);
    StartServer();
  }
  void TearDown() override {
    server_.reset();
    std::filesystem::remove_all(dir_);
  }

  void StartServer() {
    auto server = ServerProcess::Start(
        {"--model", TinyModel(), "--state-store", "rocksdb:" + dir_, "--precision", "f32"});
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    stub_ = Rwkv::NewStub(server_->Channel());
  }

  rwkv::v1::Session GetSession(const std::string& id) {
    grpc::ClientContext context;
    Bound(context);
    rwkv::v1::GetSessionRequest request;
    request.set_session_id(id);
    rwkv::v1::Session session;
    const grpc::Status status = stub_->GetSession(&context, request, &session);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return session;
  }

  // `replay` must be `original` again, its Done included. The one difference allowed: the
  // replay reports the first try's total measured just before its commit, the first try the
  // total after it.
  static void ExpectReplayed(const StreamResult& replay, const StreamResult& original) {
    ASSERT_TRUE(replay.status.ok()) << replay.status.error_message();
    ASSERT_TRUE(replay.has_done);
    EXPECT_EQ(replay.tokens, original.tokens);
    EXPECT_EQ(replay.text, original.text);
    rwkv::v1::GenerateResponse::Done replayed = replay.done;
    rwkv::v1::GenerateResponse::Done first = original.done;
    EXPECT_LE(replayed.timings().total_s(), first.timings().total_s());
    EXPECT_GE(replayed.timings().total_s(), first.timings().prefill_s());
    replayed.mutable_timings()->clear_total_s();
    first.mutable_timings()->clear_total_s();
    EXPECT_EQ(replayed.SerializeAsString(), first.SerializeAsString())
        << "replayed: " << replayed.ShortDebugString() << "\nfirst: " << first.ShortDebugString();
  }

  std::string dir_;
  std::unique_ptr<ServerProcess> server_;
  std::unique_ptr<Rwkv::Stub> stub_;
};

TEST_F(TurnReplayE2eTest, RetryWithTheLastTurnIdReplaysItAcrossARestart) {
  ASSERT_TRUE(Generate(*stub_, GreedyRequest("The quick brown fox", 8, "chat")).status.ok());
  GenerateRequest request = GreedyRequest(" jumps over", 24, "chat");
  request.set_expected_version(1);
  request.set_turn_id("3f2b8c1e-7d4a-4e59-9a61-0c2d5e8f9b17");
  const StreamResult first = Generate(*stub_, request);
  ASSERT_TRUE(first.status.ok()) << first.status.error_message();
  ASSERT_TRUE(first.has_done);
  EXPECT_EQ(first.tokens.size(), 24u);
  EXPECT_EQ(first.done.session().version(), 2);
  const rwkv::v1::Session committed = GetSession("chat");

  // The same request again (its expected_version, 1, is now stale): replayed, nothing changes.
  ExpectReplayed(Generate(*stub_, request), first);
  const rwkv::v1::Session after = GetSession("chat");
  EXPECT_EQ(after.SerializeAsString(), committed.SerializeAsString());

  // The record is durable: after a SIGKILL the retry is still answered from it.
  server_->Kill();
  StartServer();
  ExpectReplayed(Generate(*stub_, request), first);
  EXPECT_EQ(GetSession("chat").version(), 2);

  // Another turn_id runs a new turn, continuing from the committed state.
  GenerateRequest next = GreedyRequest(" the lazy", 6, "chat");
  next.set_expected_version(2);
  next.set_turn_id("turn-3");
  const StreamResult third = Generate(*stub_, next);
  ASSERT_TRUE(third.status.ok()) << third.status.error_message();
  EXPECT_EQ(third.done.session().version(), 3);
  EXPECT_EQ(third.done.usage().session_tokens(),
            first.done.usage().session_tokens() + third.done.usage().prompt_tokens() + 6);
  // The earlier turn_id is no longer the last one: its retry runs and is refused as stale.
  EXPECT_EQ(Generate(*stub_, request).status.error_code(), grpc::StatusCode::ABORTED);
}

TEST_F(TurnReplayE2eTest, InvalidTurnIdIsInvalidArgumentNamingIt) {
  GenerateRequest request = GreedyRequest("x", 1, "chat");
  request.set_turn_id("not valid");
  StreamResult result = Generate(*stub_, request);
  EXPECT_EQ(result.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(result.status.error_message().find("turn_id"), std::string::npos)
      << result.status.error_message();
  request = GreedyRequest("x", 1);
  request.set_turn_id("t-1");
  result = Generate(*stub_, request);
  EXPECT_EQ(result.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(result.status.error_message().find("turn_id"), std::string::npos)
      << result.status.error_message();
}

}  // namespace
}  // namespace rwkv::testing
