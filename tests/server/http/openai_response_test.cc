// The OpenAI response objects: exact SSE framing, usage and finish_reason as OpenAI defines
// them, the session extension, and errors in OpenAI's shape with the HTTP status per code.
#include "server/http/openai_response.h"

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "server/http/openai_request.h"

namespace rwkv::server::http {
namespace {

using Json = nlohmann::json;

ResponseContext Chat() {
  return {OpenAiEndpoint::kChatCompletions, "chatcmpl-abc", "tiny.bin", 1700000000, "fp1"};
}

TurnResult Finished() {
  TurnResult result;
  result.finish_reason = FinishReason::kLength;
  result.prompt_tokens = 7;
  result.generated_tokens = 3;
  return result;
}

// The JSON of each "data: " event, in order; [DONE] as the string "[DONE]".
std::vector<Json> Events(const std::string& stream) {
  std::vector<Json> out;
  EXPECT_TRUE(absl::EndsWith(stream, "\n\n")) << stream;
  for (absl::string_view event : absl::StrSplit(stream, "\n\n", absl::SkipEmpty())) {
    EXPECT_TRUE(absl::StartsWith(event, "data: ")) << event;
    event.remove_prefix(6);
    out.push_back(event == "[DONE]" ? Json("[DONE]") : Json::parse(event));
  }
  return out;
}

TEST(OpenAiResponseTest, ChatCompletionBody) {
  TurnResult result = Finished();
  result.session = SessionRecord{};
  result.session->id = "chat-1";
  result.session->version = 2;
  result.session->token_count = 40;
  const Json body = Json::parse(CompletionBody(Chat(), "Hello.", result));
  EXPECT_EQ(body["id"], "chatcmpl-abc");
  EXPECT_EQ(body["object"], "chat.completion");
  EXPECT_EQ(body["created"], 1700000000);
  EXPECT_EQ(body["model"], "tiny.bin");
  EXPECT_EQ(body["system_fingerprint"], "fp1");
  ASSERT_EQ(body["choices"].size(), 1u);
  EXPECT_EQ(body["choices"][0]["message"], Json({{"role", "assistant"}, {"content", "Hello."}}));
  EXPECT_EQ(body["choices"][0]["finish_reason"], "length");
  EXPECT_EQ(body["usage"],
            Json({{"prompt_tokens", 7}, {"completion_tokens", 3}, {"total_tokens", 10}}));
  EXPECT_EQ(body["session"], Json({{"id", "chat-1"}, {"version", 2}, {"token_count", 40}}));
}

TEST(OpenAiResponseTest, TextCompletionBody) {
  ResponseContext context = Chat();
  context.endpoint = OpenAiEndpoint::kCompletions;
  TurnResult result = Finished();
  result.finish_reason = FinishReason::kStop;
  const Json body = Json::parse(CompletionBody(context, "upon", result));
  EXPECT_EQ(body["object"], "text_completion");
  EXPECT_EQ(body["choices"][0]["text"], "upon");
  EXPECT_EQ(body["choices"][0]["finish_reason"], "stop");
  EXPECT_FALSE(body.contains("session"));
}

TEST(OpenAiResponseTest, StreamFramingIsExact) {
  const std::string first = ChunkEvent(Chat(), "Hi", /*first=*/true);
  EXPECT_EQ(first,
            "data: {\"choices\":[{\"delta\":{\"content\":\"Hi\",\"role\":\"assistant\"},"
            "\"finish_reason\":null,\"index\":0,\"logprobs\":null}],\"created\":1700000000,"
            "\"id\":\"chatcmpl-abc\",\"model\":\"tiny.bin\",\"object\":\"chat.completion.chunk\","
            "\"system_fingerprint\":\"fp1\"}\n\n");
  const std::vector<Json> next = Events(ChunkEvent(Chat(), " there", false));
  ASSERT_EQ(next.size(), 1u);
  EXPECT_EQ(next[0]["choices"][0]["delta"], Json({{"content", " there"}}));
}

TEST(OpenAiResponseTest, FinalEventsEndWithDone) {
  const std::vector<Json> plain = Events(FinalEvents(Chat(), Finished(), false));
  ASSERT_EQ(plain.size(), 2u);
  EXPECT_EQ(plain[0]["choices"][0]["delta"], Json::object());
  EXPECT_EQ(plain[0]["choices"][0]["finish_reason"], "length");
  EXPECT_EQ(plain[1], "[DONE]");

  const std::vector<Json> usage = Events(FinalEvents(Chat(), Finished(), true));
  ASSERT_EQ(usage.size(), 3u);
  EXPECT_EQ(usage[1]["choices"], Json::array());
  EXPECT_EQ(usage[1]["usage"]["total_tokens"], 10);
  EXPECT_EQ(usage[2], "[DONE]");
}

TEST(OpenAiResponseTest, ErrorsHaveOpenAisShape) {
  const Json body = Json::parse(ErrorBody(WithParam(absl::InvalidArgumentError("n must be 1"), "n")));
  EXPECT_EQ(body, Json({{"error",
                         {{"message", "n must be 1"},
                          {"type", "invalid_request_error"},
                          {"param", "n"},
                          {"code", "invalid_argument"}}}}));
  const Json missing = Json::parse(ErrorBody(absl::NotFoundError("session x not found")));
  EXPECT_EQ(missing["error"]["param"], nullptr);
  EXPECT_EQ(missing["error"]["code"], "not_found");
  EXPECT_EQ(Events(ErrorEvent(absl::UnavailableError("drain")))[0]["error"]["code"],
            "unavailable");
}

TEST(OpenAiResponseTest, HttpStatusPerCode) {
  using C = absl::StatusCode;
  EXPECT_EQ(HttpStatus(C::kOk), 200);
  EXPECT_EQ(HttpStatus(C::kInvalidArgument), 400);
  EXPECT_EQ(HttpStatus(C::kUnauthenticated), 401);
  EXPECT_EQ(HttpStatus(C::kPermissionDenied), 403);
  EXPECT_EQ(HttpStatus(C::kNotFound), 404);
  EXPECT_EQ(HttpStatus(C::kAborted), 409);
  EXPECT_EQ(HttpStatus(C::kFailedPrecondition), 409);
  EXPECT_EQ(HttpStatus(C::kResourceExhausted), 429);
  EXPECT_EQ(HttpStatus(C::kUnavailable), 503);
  EXPECT_EQ(HttpStatus(C::kDeadlineExceeded), 504);
  EXPECT_EQ(HttpStatus(C::kInternal), 500);
  EXPECT_EQ(HttpStatus(C::kDataLoss), 500);
}

TEST(OpenAiResponseTest, ModelsListTheLoadedModel) {
  const Json body = Json::parse(ModelsBody(ModelId("/models/tiny.bin"), "fp1", 5));
  EXPECT_EQ(body["object"], "list");
  ASSERT_EQ(body["data"].size(), 1u);
  EXPECT_EQ(body["data"][0]["id"], "tiny.bin");
  EXPECT_EQ(body["data"][0]["object"], "model");
  EXPECT_EQ(body["data"][0]["fingerprint"], "fp1");
  EXPECT_EQ(ModelId("synthetic:tiny"), "synthetic:tiny");
}

}  // namespace
}  // namespace rwkv::server::http
