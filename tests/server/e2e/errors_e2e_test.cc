// End to end: every bad input gets its status code, and the server keeps serving after each.
#include <filesystem>

#include "gtest/gtest.h"
#include "absl/strings/str_cat.h"
#include "server/store/state_store.h"
#include "tests/server/e2e/rpc_util.h"
#include "tests/util/shared_data.h"
#include "tests/server/e2e/server_process.h"

namespace rwkv::testing {
namespace {

using grpc::StatusCode;
using rwkv::v1::Rwkv;

class ErrorsE2eTest : public ::testing::Test {
 protected:
  void Start(const std::string& model, const std::string& store,
             std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"--model", model, "--state-store", store};
    args.insert(args.end(), extra.begin(), extra.end());
    auto server = ServerProcess::Start(args);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    stub_ = Rwkv::NewStub(server_->Channel());
  }

  // The code of a Generate, then proof that the server still serves.
  StatusCode GenerateCode(const rwkv::v1::GenerateRequest& request) {
    const StreamResult result = Generate(*stub_, request);
    const StreamResult healthy = Generate(*stub_, GreedyRequest("still alive?", 4));
    EXPECT_TRUE(healthy.status.ok()) << healthy.status.error_message();
    if (!result.status.ok()) {
      EXPECT_FALSE(result.status.error_message().empty());
    }
    return result.status.error_code();
  }

  std::string StorePath(const std::string& name) {
    const std::string dir = UniqueTempPath(name);
    std::filesystem::remove_all(dir);
    return dir;
  }

  std::unique_ptr<ServerProcess> server_;
  std::unique_ptr<Rwkv::Stub> stub_;
};

TEST_F(ErrorsE2eTest, InvalidRequests) {
  Start(TinyModel(), "memory:", {"--max-prompt-tokens", "64", "--max-new-tokens", "100"});
  rwkv::v1::GenerateRequest unknown = GreedyRequest("hi", 4, "nobody");
  unknown.set_create_session(false);
  EXPECT_EQ(GenerateCode(unknown), StatusCode::NOT_FOUND);

  EXPECT_EQ(GenerateCode(GreedyRequest("hi", 4, "bad id with spaces")),
            StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(GenerateCode(GreedyRequest("hi", 4, std::string(129, 'x'))),
            StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(GenerateCode(GreedyRequest("", 4)), StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(GenerateCode(rwkv::v1::GenerateRequest()), StatusCode::INVALID_ARGUMENT);

  auto sampling = [](auto set) {
    rwkv::v1::GenerateRequest r = GreedyRequest("hi", 4);
    set(*r.mutable_sampling());
    return r;
  };
  EXPECT_EQ(GenerateCode(sampling([](auto& s) { s.set_temperature(-1); })),
            StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(GenerateCode(sampling([](auto& s) { s.set_top_p(1.5f); })),
            StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(GenerateCode(sampling([](auto& s) { s.set_top_k(-3); })),
            StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(GenerateCode(sampling([](auto& s) { (*s.mutable_logit_bias())[999] = 1; })),
            StatusCode::INVALID_ARGUMENT);

  EXPECT_EQ(GenerateCode(GreedyRequest(std::string(65, 'a'), 4)), StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(GenerateCode(GreedyRequest("hi", 101)), StatusCode::INVALID_ARGUMENT);
  rwkv::v1::GenerateRequest bad_token = GreedyRequest("", 4);
  bad_token.mutable_tokens()->add_ids(256);
  EXPECT_EQ(GenerateCode(bad_token), StatusCode::INVALID_ARGUMENT);
  rwkv::v1::GenerateRequest long_stop = GreedyRequest("hi", 4);
  long_stop.mutable_stop()->add_stop_strings(std::string(300, 's'));
  EXPECT_EQ(GenerateCode(long_stop), StatusCode::INVALID_ARGUMENT);

  // Unary RPCs.
  rwkv::v1::Session session;
  grpc::ClientContext c1, c2, c3;
  rwkv::v1::GetSessionRequest get;
  get.set_session_id("missing");
  EXPECT_EQ(stub_->GetSession(&c1, get, &session).error_code(), StatusCode::NOT_FOUND);
  rwkv::v1::DetokenizeRequest detok;
  detok.add_token_ids(-1);
  rwkv::v1::DetokenizeResponse detok_out;
  EXPECT_EQ(stub_->Detokenize(&c2, detok, &detok_out).error_code(), StatusCode::INVALID_ARGUMENT);
  rwkv::v1::ListSessionsRequest list;
  list.set_page_size(5000);
  rwkv::v1::ListSessionsResponse list_out;
  EXPECT_EQ(stub_->ListSessions(&c3, list, &list_out).error_code(),
            StatusCode::INVALID_ARGUMENT);
}

TEST_F(ErrorsE2eTest, SessionOfAnotherModelIsFailedPrecondition) {
  const std::string store = "rocksdb:" + StorePath("other-model");
  Start(TinyModel(), store);
  ASSERT_TRUE(Generate(*stub_, GreedyRequest("hello", 4, "mine")).status.ok());
  EXPECT_EQ(server_->Terminate(absl::Seconds(30)), 0);
  Start(OtherModel(), store);
  rwkv::v1::GenerateRequest resume = GreedyRequest("again", 4, "mine");
  EXPECT_EQ(GenerateCode(resume), StatusCode::FAILED_PRECONDITION);
}

TEST_F(ErrorsE2eTest, CorruptStateIsDataLoss) {
  const std::string dir = StorePath("corrupt");
  Start(TinyModel(), "rocksdb:" + dir);
  ASSERT_TRUE(Generate(*stub_, GreedyRequest("hello", 4, "fragile")).status.ok());
  EXPECT_EQ(server_->Terminate(absl::Seconds(30)), 0);
  {
    // Flip one byte in the middle of the stored state, as disk corruption would.
    auto store = server::OpenStateStore("rocksdb:" + dir);
    ASSERT_TRUE(store.ok()) << store.status();
    auto blob = (*store)->Get("s/fragile");
    ASSERT_TRUE(blob.ok()) << blob.status();
    (*blob)[blob->size() / 2] ^= 0x10;
    server::WriteBatch batch;
    batch.Put("s/fragile", *blob);
    ASSERT_TRUE((*store)->Write(batch).ok());
  }
  Start(TinyModel(), "rocksdb:" + dir);
  EXPECT_EQ(GenerateCode(GreedyRequest("again", 4, "fragile")), StatusCode::DATA_LOSS);
}

}  // namespace
}  // namespace rwkv::testing
