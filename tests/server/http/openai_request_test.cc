// ParseOpenAiRequest: an OpenAI body becomes the TurnRequest a gRPC call with the same options
// would; wrong types and refused values are INVALID_ARGUMENT naming the parameter (as `param`
// and in the message); unknown fields are ignored.
#include "server/http/openai_request.h"

#include <string>

#include "common/chat_template.h"
#include "engine/tokenizer/byte_tokenizer.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace rwkv::server::http {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Pair;

constexpr int32_t kVocab = engine::ByteTokenizer::kVocabSize;

ServerLimits Limits() {
  ServerLimits limits;
  limits.max_prompt_tokens = 4096;
  limits.max_new_tokens = 64;
  limits.default_max_tokens = 16;
  return limits;
}

absl::StatusOr<OpenAiRequest> Parse(OpenAiEndpoint endpoint, const std::string& body,
                                    const std::string& header_session = "",
                                    ChatHistory history = ChatHistory::kEmpty) {
  static const engine::ByteTokenizer tokenizer;
  return ParseOpenAiRequest(endpoint, body, header_session, history, tokenizer, kVocab,
                            Limits());
}

absl::StatusOr<OpenAiRequest> Chat(const std::string& body) {
  return Parse(OpenAiEndpoint::kChatCompletions, body);
}

std::string PromptText(const OpenAiRequest& request) {
  const auto& prompt = request.turn.generation.prompt;
  return std::string(prompt.begin(), prompt.end());  // bytes tokenizer: token = byte
}

TEST(OpenAiRequestTest, ChatMessagesUseTheWorldChatFormat) {
  absl::StatusOr<OpenAiRequest> parsed = Chat(R"({"model": "x", "messages": [
      {"role": "system", "content": "Be terse."}, {"role": "user", "content": "hi"}]})");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(PromptText(*parsed), "System: Be terse.\n\nUser: hi\n\nAssistant:");
  EXPECT_THAT(parsed->turn.generation.stop_strings, ElementsAre(std::string(kChatStop)));
  EXPECT_EQ(parsed->turn.generation.max_tokens, 16);  // the server's default
  EXPECT_EQ(parsed->model, "x");
  EXPECT_FALSE(parsed->stream);
}

TEST(OpenAiRequestTest, ContentPartsAreJoined) {
  absl::StatusOr<OpenAiRequest> parsed = Chat(R"({"messages": [{"role": "user", "content":
      [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}]})");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(PromptText(*parsed), "User: ab\n\nAssistant:");
}

TEST(OpenAiRequestTest, EveryOptionMapsOntoTheTurn) {
  absl::StatusOr<OpenAiRequest> parsed = Chat(R"({"messages": [{"role": "user", "content": "q"}],
      "max_tokens": 5, "temperature": 0.5, "top_p": 0.9, "presence_penalty": 0.25,
      "frequency_penalty": 0.125, "stop": ["x", "yz"], "seed": 42, "logit_bias": {"65": -100},
      "n": 1, "stream": true, "stream_options": {"include_usage": true}, "user": "u1",
      "some_future_field": {"ignored": true}})");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  const GenerationRequest& g = parsed->turn.generation;
  EXPECT_EQ(g.max_tokens, 5);
  EXPECT_FLOAT_EQ(g.sampling.temperature, 0.5f);
  EXPECT_FLOAT_EQ(g.sampling.top_p, 0.9f);
  EXPECT_FLOAT_EQ(g.sampling.presence_penalty, 0.25f);
  EXPECT_FLOAT_EQ(g.sampling.frequency_penalty, 0.125f);
  EXPECT_EQ(g.sampling.seed, 42u);
  EXPECT_THAT(g.sampling.logit_bias, ElementsAre(Pair(65, -100.0f)));
  EXPECT_THAT(g.stop_strings, ElementsAre("x", "yz", std::string(kChatStop)));
  EXPECT_TRUE(parsed->stream);
  EXPECT_TRUE(parsed->include_usage);
}

TEST(OpenAiRequestTest, NeutralValuesOfUnsupportedFeaturesPass) {
  absl::StatusOr<OpenAiRequest> parsed = Chat(R"({"messages": [{"role": "user", "content": "q"}],
      "tools": [], "tool_choice": "none", "response_format": {"type": "text"}, "logprobs": false,
      "echo": false, "best_of": 1, "suffix": "", "parallel_tool_calls": true})");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
}

TEST(OpenAiRequestTest, MaxCompletionTokensWins) {
  absl::StatusOr<OpenAiRequest> parsed = Chat(R"({"messages": [{"role": "user", "content": "q"}],
      "max_tokens": 5, "max_completion_tokens": 7})");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->turn.generation.max_tokens, 7);
}

TEST(OpenAiRequestTest, IgnoreEosIsOurExtension) {
  for (const bool ignore : {false, true}) {
    OpenAiRequest out;
    absl::StatusOr<rwkv::v1::GenerateRequest> request = ToGenerateRequest(
        OpenAiEndpoint::kCompletions,
        absl::StrCat(R"({"prompt": "p", "ignore_eos": )", ignore ? "true" : "false", "}"), "",
        ChatHistory::kEmpty, out);
    ASSERT_TRUE(request.ok()) << request.status();
    EXPECT_EQ(request->stop().ignore_end_of_text(), ignore);
  }
}

TEST(OpenAiRequestTest, CompletionTakesThePromptAsItIs) {
  absl::StatusOr<OpenAiRequest> parsed =
      Parse(OpenAiEndpoint::kCompletions, R"({"prompt": "Once", "stop": "."})");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(PromptText(*parsed), "Once");
  EXPECT_THAT(parsed->turn.generation.stop_strings, ElementsAre("."));
}

TEST(OpenAiRequestTest, SessionFromTheBodyOrTheHeader) {
  absl::StatusOr<OpenAiRequest> body =
      Parse(OpenAiEndpoint::kChatCompletions,
            R"({"messages": [{"role": "user", "content": "q"}], "session_id": "chat-1",
                "create_session": true, "expected_version": 3})",
            "", ChatHistory::kOther);
  ASSERT_TRUE(body.ok()) << body.status();
  EXPECT_EQ(body->turn.session_id, "chat-1");
  EXPECT_TRUE(body->turn.create_session);
  EXPECT_EQ(body->turn.expected_version, 3);
  // The session has seen earlier turns: this one is framed after them.
  EXPECT_EQ(PromptText(*body), "\n\nUser: q\n\nAssistant:");

  absl::StatusOr<OpenAiRequest> header = Parse(
      OpenAiEndpoint::kChatCompletions, R"({"messages": [{"role": "user", "content": "q"}]})",
      "chat-2");
  ASSERT_TRUE(header.ok()) << header.status();
  EXPECT_EQ(header->turn.session_id, "chat-2");
}

struct Bad {
  std::string body;  // a chat body
  std::string param;
};

class OpenAiRequestRefusalTest : public ::testing::TestWithParam<Bad> {};

TEST_P(OpenAiRequestRefusalTest, NamesTheParameter) {
  absl::StatusOr<OpenAiRequest> parsed = Chat(GetParam().body);
  ASSERT_FALSE(parsed.ok());
  EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ErrorParam(parsed.status()), GetParam().param) << parsed.status();
  EXPECT_THAT(parsed.status().message(), HasSubstr(GetParam().param));
}

#define MSG R"("messages": [{"role": "user", "content": "q"}])"
INSTANTIATE_TEST_SUITE_P(
    Refusals, OpenAiRequestRefusalTest,
    ::testing::Values(Bad{R"({})", "messages"}, Bad{R"({"messages": "hi"})", "messages"},
                      Bad{R"({"messages": []})", "messages"},
                      Bad{R"({"messages": [{"role": "robot", "content": "q"}]})",
                          "messages[0].role"},
                      Bad{R"({"messages": [{"role": "user"}]})", "messages[0].content"},
                      Bad{R"({"messages": [{"role": "user", "content": [{"type": "image_url"}]}]})",
                          "messages[0].content"},
                      Bad{"{" MSG R"(, "n": 2})", "n"},
                      Bad{"{" MSG R"(, "temperature": "hot"})", "temperature"},
                      Bad{"{" MSG R"(, "temperature": -1})", "temperature"},
                      Bad{"{" MSG R"(, "top_p": 2})", "top_p"},
                      Bad{"{" MSG R"(, "max_tokens": 1.5})", "max_tokens"},
                      Bad{"{" MSG R"(, "max_tokens": 100000})", "max_tokens"},
                      Bad{"{" MSG R"(, "max_completion_tokens": 100000})",
                          "max_completion_tokens"},
                      Bad{"{" MSG R"(, "stop": 7})", "stop"},
                      Bad{"{" MSG R"(, "stop": [""]})", "stop"},
                      Bad{"{" MSG R"(, "seed": "x"})", "seed"},
                      Bad{"{" MSG R"(, "logit_bias": {"a": 1}})", "logit_bias"},
                      Bad{"{" MSG R"(, "logit_bias": {"999999": 1}})", "logit_bias"},
                      Bad{"{" MSG R"(, "stream": "yes"})", "stream"},
                      Bad{"{" MSG R"(, "ignore_eos": 1})", "ignore_eos"},
                      Bad{"{" MSG R"(, "stream_options": {"include_usage": true}})",
                          "stream_options"},
                      Bad{"{" MSG R"(, "session_id": 5})", "session_id"},
                      Bad{"{" MSG R"(, "session_id": "bad id!"})", "session_id"},
                      Bad{"{" MSG R"(, "expected_version": -1})", "expected_version"},
                      Bad{"{" MSG R"(, "create_session": true})", "session_id"},
                      Bad{"{" MSG R"(, "tools": [{"type": "function"}]})", "tools"},
                      Bad{"{" MSG R"(, "response_format": {"type": "json_object"}})",
                          "response_format"},
                      Bad{"{" MSG R"(, "logprobs": true})", "logprobs"},
                      Bad{"{" MSG R"(, "echo": true})", "echo"},
                      Bad{"{" MSG R"(, "best_of": 3})", "best_of"},
                      Bad{"{" MSG R"(, "suffix": "x"})", "suffix"}));
#undef MSG

TEST(OpenAiRequestTest, BodyMustBeAJsonObject) {
  for (const std::string body : {"", "{", "[1]", "\"x\"", "{\"messages\": [}"}) {
    absl::StatusOr<OpenAiRequest> parsed = Chat(body);
    ASSERT_FALSE(parsed.ok()) << body;
    EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument) << body;
  }
}

TEST(OpenAiRequestTest, HeaderAndBodyMustAgree) {
  absl::StatusOr<OpenAiRequest> parsed =
      Parse(OpenAiEndpoint::kChatCompletions,
            R"({"messages": [{"role": "user", "content": "q"}], "session_id": "a"})", "b");
  ASSERT_FALSE(parsed.ok());
  EXPECT_EQ(ErrorParam(parsed.status()), "session_id");
}

TEST(OpenAiRequestTest, ChatHistoryOfASession) {
  EXPECT_EQ(ChatHistoryOf(absl::NotFoundError("no such session")), ChatHistory::kEmpty);
  EXPECT_EQ(ChatHistoryOf(absl::UnavailableError("store down")), ChatHistory::kOther);
  SessionRecord record;
  EXPECT_EQ(ChatHistoryOf(record), ChatHistory::kEmpty);
  record.token_count = 40;
  EXPECT_EQ(ChatHistoryOf(record), ChatHistory::kOther);
  record.last_turn.turn_id = "chat-1";
  record.last_turn.matched_stop = std::string(kChatStop);
  EXPECT_EQ(ChatHistoryOf(record), ChatHistory::kUserTagSeen);
  absl::StatusOr<OpenAiRequest> next =
      Parse(OpenAiEndpoint::kChatCompletions,
            R"({"messages": [{"role": "user", "content": "and you?"}], "session_id": "s"})", "",
            ChatHistoryOf(record));
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_EQ(PromptText(*next), " and you?\n\nAssistant:");
}

}  // namespace
}  // namespace rwkv::server::http
