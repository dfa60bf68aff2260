// End to end: the server runs a model given as a PyTorch .pth, safetensors or GGUF file, and a
// session saved while serving one format resumes on another holding the same weights (the
// fingerprint is a property of the weights, not of the file), while a GGUF with other values is
// a different model.
#include <filesystem>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/server/e2e/rpc_util.h"
#include "tests/server/e2e/server_process.h"
#include "tests/util/shared_data.h"

namespace rwkv::testing {
namespace {

using grpc::StatusCode;
using rwkv::v1::Rwkv;

std::string Formats(const std::string& name) { return SharedPath("models/formats/" + name); }

class CheckpointFormatsE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_dir_ = UniqueTempPath("formats-store");
    std::filesystem::remove_all(store_dir_);
  }
  void TearDown() override {
    if (server_ != nullptr) server_->Terminate(absl::Seconds(30));
    std::filesystem::remove_all(store_dir_);
  }

  void Start(const std::string& model, const std::string& precision = "f32") {
    if (server_ != nullptr) {
      ASSERT_EQ(server_->Terminate(absl::Seconds(30)), 0);
    }
    auto server = ServerProcess::Start(
        {"--model", model, "--state-store", "rocksdb:" + store_dir_, "--precision", precision});
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    stub_ = Rwkv::NewStub(server_->Channel());
  }

  std::string store_dir_;
  std::unique_ptr<ServerProcess> server_;
  std::unique_ptr<Rwkv::Stub> stub_;
};

TEST_F(CheckpointFormatsE2eTest, SessionsResumeAcrossFormatsOfTheSameWeights) {
  // Two turns of one conversation, all on the .bin: the expected second turn.
  Start(TinyModel());
  const StreamResult first_bin = Generate(*stub_, GreedyRequest("Once upon a time", 12, "bin"));
  const StreamResult second_bin = Generate(*stub_, GreedyRequest(" there was", 12, "bin"));
  ASSERT_TRUE(first_bin.status.ok() && second_bin.status.ok());

  // The first turn on the .pth, the second on the safetensors, a third back on the .bin.
  Start(Formats("tiny-rwkv-7v0-834K.pth"));
  const StreamResult first = Generate(*stub_, GreedyRequest("Once upon a time", 12, "moving"));
  ASSERT_TRUE(first.status.ok()) << first.status.error_message();
  EXPECT_EQ(first.tokens, first_bin.tokens);
  Start(Formats("tiny-rwkv-7v0-834K-hf.safetensors"));
  const StreamResult second = Generate(*stub_, GreedyRequest(" there was", 12, "moving"));
  ASSERT_TRUE(second.status.ok()) << second.status.error_message();
  EXPECT_EQ(second.tokens, second_bin.tokens);
  Start(TinyModel());
  const StreamResult third = Generate(*stub_, GreedyRequest(" and", 4, "moving"));
  EXPECT_TRUE(third.status.ok()) << third.status.error_message();

  // A Q8_0 GGUF holds other values: the session belongs to another model.
  Start(Formats("tiny-rwkv-7v0-834K-Q8_0.gguf"));
  const StreamResult other = Generate(*stub_, GreedyRequest(" and", 4, "moving"));
  EXPECT_EQ(other.status.error_code(), StatusCode::FAILED_PRECONDITION);
  const StreamResult fresh = Generate(*stub_, GreedyRequest("Once upon a time", 12, "gguf"));
  ASSERT_TRUE(fresh.status.ok()) << fresh.status.error_message();
  // Same greedy text as the f32 weights on this short prompt (the logits test bounds the rest).
  EXPECT_EQ(fresh.tokens, first_bin.tokens);
}

// --precision auto (the default) serves a Q8_0 GGUF in q8_0, on the file's own blocks.
TEST_F(CheckpointFormatsE2eTest, AutoPrecisionServesAQ8_0FileInQ8_0) {
  Start(Formats("tiny-rwkv-7v0-834K-Q8_0.gguf"), "auto");
  grpc::ClientContext context;
  rwkv::v1::ModelInfo info;
  ASSERT_TRUE(stub_->GetModelInfo(&context, {}, &info).ok());
  EXPECT_EQ(info.precision(), "q8_0");
  const StreamResult turn = Generate(*stub_, GreedyRequest("Once upon a time", 12, "q8"));
  ASSERT_TRUE(turn.status.ok()) << turn.status.error_message();
  EXPECT_EQ(turn.tokens.size(), 12u);
}

TEST_F(CheckpointFormatsE2eTest, RefusesToStartOnANonRwkvCheckpoint) {
  auto server = ServerProcess::Start({"--model", Formats("blinkdl-rwkv8-rosa-sample.pth"),
                                      "--state-store", "memory:"});
  ASSERT_FALSE(server.ok());
  // The status carries the server's log: the reason it gave.
  EXPECT_THAT(std::string(server.status().message()),
              ::testing::HasSubstr("not an RWKV checkpoint: no emb.weight"));
}

}  // namespace
}  // namespace rwkv::testing
