// The body rwkv-loadgen --http sends for a turn (the stream itself is checked against the real
// server in client_e2e_test).
#include "client/openai_http_transport.h"

#include <nlohmann/json.hpp>

#include "gtest/gtest.h"

namespace rwkv::client {
namespace {

TEST(OpenAiCompletionBodyTest, CarriesTheTurnAndAsksForTheUsage) {
  LoadgenOptions options;
  options.max_tokens = 7;
  options.temperature = 0.5f;
  options.session_prefix = "bench";
  absl::StatusOr<std::string> body = OpenAiCompletionBody(BuildLoadgenRequest(options, 3));
  ASSERT_TRUE(body.ok()) << body.status();
  const nlohmann::json json = nlohmann::json::parse(*body);
  EXPECT_EQ(json["prompt"], std::string(kDefaultLoadgenPrompt));
  EXPECT_EQ(json["max_tokens"], 7);
  EXPECT_EQ(json["temperature"], 0.5);
  EXPECT_EQ(json["ignore_eos"], true);
  EXPECT_EQ(json["stream"], true);
  EXPECT_EQ(json["stream_options"]["include_usage"], true);
  EXPECT_EQ(json["session_id"], "bench-3");
  EXPECT_EQ(json["create_session"], true);
  EXPECT_FALSE(json.contains("top_p"));  // off unless asked for

  options.top_p = 0.5f;
  body = OpenAiCompletionBody(BuildLoadgenRequest(options, 3));
  ASSERT_TRUE(body.ok()) << body.status();
  EXPECT_EQ(nlohmann::json::parse(*body)["top_p"], 0.5);

  options.use_sessions = false;
  body = OpenAiCompletionBody(BuildLoadgenRequest(options, 0));
  ASSERT_TRUE(body.ok()) << body.status();
  EXPECT_FALSE(nlohmann::json::parse(*body).contains("session_id"));
}

TEST(OpenAiCompletionBodyTest, TokenPromptsAreRefused) {
  LoadgenOptions options;
  options.prompt_tokens = 4;
  EXPECT_EQ(OpenAiCompletionBody(BuildLoadgenRequest(options, 0)).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace rwkv::client
