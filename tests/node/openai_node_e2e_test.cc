// End to end: the official `openai` npm package (tests/node/openai_client.js) as an outside
// client of the OpenAI-compatible HTTP API: a streamed chat completion whose text equals the gRPC
// stream of the same greedy turn, a non-streaming one, `stop`, a session resumed over HTTP after
// a gRPC turn and the other way round, an unknown session (404) and a bad parameter (400) seen
// through the SDK's APIError with OpenAI's error fields. Skipped, saying why, where node or the
// modules of tests/node/package.json are missing (scripts/test.sh installs them with `npm ci`).
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/server/e2e/rpc_util.h"
#include "tests/server/e2e/server_process.h"
#include "tests/util/run_command.h"

namespace rwkv::testing {
namespace {

using Json = nlohmann::json;

const std::string kNodeDir = absl::StrCat(RWKV_SOURCE_DIR, "/tests/node");

// Why the SDK cannot run here, or "" when it can.
std::string NodeMissing() {
  if (RunCommand("node --version >/dev/null 2>&1").exit_code != 0) {
    return "node is not installed (Debian packages nodejs and npm; scripts/install-deps.sh)";
  }
  if (!std::filesystem::exists(absl::StrCat(kNodeDir, "/node_modules/openai"))) {
    return "the openai package is not installed: run `npm ci` in tests/node (scripts/test.sh does)";
  }
  return "";
}

class OpenAiNodeE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (const std::string missing = NodeMissing(); !missing.empty()) GTEST_SKIP() << missing;
    auto started = ServerProcess::Start(
        {"--model", TinyModel(), "--state-store", "memory:", "--http-address", "127.0.0.1:0"});
    ASSERT_TRUE(started.ok()) << started.status();
    server_ = *std::move(started);
    stub_ = rwkv::v1::Rwkv::NewStub(server_->Channel());
  }

  // The scenario's JSON line.
  Json Sdk(const std::string& args) {
    const CommandResult result = RunCommand(absl::StrCat(
        "node ", kNodeDir, "/openai_client.js --base-url http://127.0.0.1:", server_->http_port(),
        "/v1 ", args, " 2>&1"));
    EXPECT_EQ(result.exit_code, 0) << result.output;
    const Json parsed = Json::parse(result.output, nullptr, /*allow_exceptions=*/false);
    EXPECT_FALSE(parsed.is_discarded()) << result.output;
    return parsed.is_discarded() ? Json::object() : parsed;
  }

  std::unique_ptr<ServerProcess> server_;
  std::unique_ptr<rwkv::v1::Rwkv::Stub> stub_;
};

TEST_F(OpenAiNodeE2eTest, StreamedChatEqualsTheGrpcStream) {
  const Json streamed = Sdk("chat-stream");
  const Json whole = Sdk("chat");
  ASSERT_TRUE(streamed.contains("text")) << streamed;
  EXPECT_GT(streamed["chunks"].get<int>(), 2);
  EXPECT_EQ(streamed["text"], whole["text"]);
  EXPECT_EQ(streamed["finish_reason"], whole["finish_reason"]);
  EXPECT_EQ(whole["usage"]["total_tokens"],
            whole["usage"]["prompt_tokens"].get<int>() + whole["usage"]["completion_tokens"].get<int>());
  // The same turn over gRPC: the chat format's prompt and stop string, greedy, 24 tokens.
  rwkv::v1::GenerateRequest request = GreedyRequest("User: hi\n\nAssistant:", 24);
  request.mutable_stop()->add_stop_strings("\n\nUser:");
  const StreamResult grpc = Generate(*stub_, request);
  ASSERT_TRUE(grpc.status.ok()) << grpc.status.error_message();
  EXPECT_EQ(streamed["text"], grpc.text);
}

TEST_F(OpenAiNodeE2eTest, StopEndsTheCompletion) {
  const Json stopped = Sdk("stop");
  EXPECT_EQ(stopped["finish_reason"], "stop") << stopped;
  EXPECT_EQ(stopped["text"].get<std::string>().find('e'), std::string::npos) << stopped;
}

TEST_F(OpenAiNodeE2eTest, SessionsAcrossProtocolsBothWays) {
  // gRPC first, then the SDK.
  const StreamResult first = Generate(*stub_, GreedyRequest("Hello", 4, "node-a"));
  ASSERT_TRUE(first.status.ok()) << first.status.error_message();
  const Json after_grpc = Sdk("--session node-a --expected-version 1 session");
  EXPECT_EQ(after_grpc["session"]["id"], "node-a") << after_grpc;
  EXPECT_EQ(after_grpc["session"]["version"], 2) << after_grpc;

  // The SDK first, then gRPC.
  const Json created = Sdk("--session node-b --create session");
  EXPECT_EQ(created["session"]["version"], 1) << created;
  rwkv::v1::GenerateRequest next = GreedyRequest(" more", 4, "node-b");
  next.set_create_session(false);
  next.set_expected_version(1);
  const StreamResult after_http = Generate(*stub_, next);
  ASSERT_TRUE(after_http.status.ok()) << after_http.status.error_message();
  EXPECT_EQ(after_http.done.session().version(), 2);
  EXPECT_EQ(after_http.done.session().token_count(),
            created["session"]["token_count"].get<int64_t>() + 5 + 4);
}

TEST_F(OpenAiNodeE2eTest, ErrorsReachTheSdkInOpenAisShape) {
  const Json missing = Sdk("unknown-session");
  EXPECT_EQ(missing["status"], 404) << missing;
  EXPECT_EQ(missing["error"]["code"], "not_found") << missing;
  EXPECT_EQ(missing["error"]["type"], "invalid_request_error") << missing;
  const Json bad = Sdk("bad-parameter");
  EXPECT_EQ(bad["status"], 400) << bad;
  EXPECT_EQ(bad["error"]["param"], "temperature") << bad;
}

}  // namespace
}  // namespace rwkv::testing
