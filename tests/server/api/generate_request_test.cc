// ParseGenerateRequest: every invalid field of a rwkv.v1.GenerateRequest is refused with
// INVALID_ARGUMENT and a message naming it (a repeated or open-ended one past its limit, naming the
// limit too); a valid one maps onto the TurnRequest field by field.
//
// Not covered because the proto cannot express it: both prompt forms at once (text and tokens
// are a oneof, so setting one clears the other).
#include "server/api/generate_request.h"

#include <cmath>
#include <functional>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "engine/tokenizer/byte_tokenizer.h"
#include "engine/tokenizer/tokenizer_factory.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace rwkv::server {
namespace {

using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::StartsWith;

constexpr int32_t kVocab = engine::ByteTokenizer::kVocabSize;

ServerLimits Limits() {
  ServerLimits limits;
  limits.max_prompt_tokens = 8;
  limits.max_new_tokens = 16;
  limits.default_max_tokens = 4;
  return limits;
}

rwkv::v1::GenerateRequest Valid() {
  rwkv::v1::GenerateRequest request;
  request.set_text("hi");
  return request;
}

struct BadField {
  std::string name;   // the test case
  std::string field;  // what the message must name
  std::function<void(rwkv::v1::GenerateRequest&)> edit;
};

std::vector<BadField> BadFields() {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  using R = rwkv::v1::GenerateRequest;
  return {
      {"NoPrompt", "text or tokens", [](R& r) { r.clear_prompt(); }},
      {"EmptyText", "text", [](R& r) { r.set_text(""); }},
      {"EmptyTokens", "tokens.ids", [](R& r) { r.mutable_tokens(); }},
      {"TextTooLong", "text", [](R& r) { r.set_text("123456789"); }},
      {"TokensTooLong", "tokens.ids",
       [](R& r) {
         for (int i = 0; i < 9; ++i) r.mutable_tokens()->add_ids(65);
       }},
      {"TokenAboveVocab", "tokens.ids[1]",
       [](R& r) {
         r.mutable_tokens()->add_ids(1);
         r.mutable_tokens()->add_ids(kVocab);
       }},
      {"NegativeToken", "tokens.ids[0]", [](R& r) { r.mutable_tokens()->add_ids(-1); }},
      {"SessionIdWithSpace", "session_id", [](R& r) { r.set_session_id("bad id"); }},
      {"SessionIdWithLeadingDot", "session_id", [](R& r) { r.set_session_id(".hidden"); }},
      {"SessionIdTooLong", "session_id", [](R& r) { r.set_session_id(std::string(129, 'a')); }},
      {"CreateWithoutSession", "create_session", [](R& r) { r.set_create_session(true); }},
      {"ExpectedVersionWithoutSession", "expected_version",
       [](R& r) { r.set_expected_version(3); }},
      {"NegativeExpectedVersion", "expected_version",
       [](R& r) {
         r.set_session_id("chat-1");
         r.set_expected_version(-1);
       }},
      {"TurnIdWithoutSession", "turn_id", [](R& r) { r.set_turn_id("t-1"); }},
      {"TurnIdWithSpace", "turn_id",
       [](R& r) {
         r.set_session_id("chat-1");
         r.set_turn_id("turn 1");
       }},
      {"TurnIdWithNonAscii", "turn_id",
       [](R& r) {
         r.set_session_id("chat-1");
         r.set_turn_id("t\xc3\xa9");
       }},
      {"TurnIdTooLong", "turn_id",
       [](R& r) {
         r.set_session_id("chat-1");
         r.set_turn_id(std::string(kMaxTurnIdChars + 1, 'a'));
       }},
      {"NegativeTemperature", "sampling.temperature",
       [](R& r) { r.mutable_sampling()->set_temperature(-0.5f); }},
      {"TemperatureTooHigh", "sampling.temperature",
       [](R& r) { r.mutable_sampling()->set_temperature(101); }},
      {"NanTemperature", "sampling.temperature",
       [nan](R& r) { r.mutable_sampling()->set_temperature(nan); }},
      {"ZeroTopP", "sampling.top_p", [](R& r) { r.mutable_sampling()->set_top_p(0); }},
      {"TopPAboveOne", "sampling.top_p", [](R& r) { r.mutable_sampling()->set_top_p(1.5f); }},
      {"NegativeTopK", "sampling.top_k", [](R& r) { r.mutable_sampling()->set_top_k(-1); }},
      {"TopKAboveVocab", "sampling.top_k",
       [](R& r) { r.mutable_sampling()->set_top_k(kVocab + 1); }},
      {"NegativeMinP", "sampling.min_p", [](R& r) { r.mutable_sampling()->set_min_p(-0.1f); }},
      {"MinPAboveOne", "sampling.min_p", [](R& r) { r.mutable_sampling()->set_min_p(1.1f); }},
      {"PresencePenaltyTooHigh", "sampling.presence_penalty",
       [](R& r) { r.mutable_sampling()->set_presence_penalty(2.5f); }},
      {"FrequencyPenaltyTooLow", "sampling.frequency_penalty",
       [](R& r) { r.mutable_sampling()->set_frequency_penalty(-2.5f); }},
      {"ZeroRepetitionPenalty", "sampling.repetition_penalty",
       [](R& r) { r.mutable_sampling()->set_repetition_penalty(0); }},
      {"RepetitionPenaltyTooHigh", "sampling.repetition_penalty",
       [](R& r) { r.mutable_sampling()->set_repetition_penalty(11); }},
      {"NegativePenaltyWindow", "sampling.penalty_window",
       [](R& r) { r.mutable_sampling()->set_penalty_window(-1); }},
      {"LogitBiasTokenAboveVocab", "sampling.logit_bias",
       [](R& r) { (*r.mutable_sampling()->mutable_logit_bias())[kVocab] = 1; }},
      {"LogitBiasNegativeToken", "sampling.logit_bias",
       [](R& r) { (*r.mutable_sampling()->mutable_logit_bias())[-1] = 1; }},
      {"LogitBiasTooHigh", "sampling.logit_bias",
       [](R& r) { (*r.mutable_sampling()->mutable_logit_bias())[5] = 100.5f; }},
      {"LogitBiasTooLow", "sampling.logit_bias",
       [](R& r) { (*r.mutable_sampling()->mutable_logit_bias())[5] = -101; }},
      {"NegativeMaxTokens", "stop.max_tokens", [](R& r) { r.mutable_stop()->set_max_tokens(-1); }},
      {"MaxTokensAboveLimit", "stop.max_tokens",
       [](R& r) { r.mutable_stop()->set_max_tokens(17); }},
      {"TooManyStopStrings", "stop.stop_strings",
       [](R& r) {
         for (int i = 0; i < 17; ++i) r.mutable_stop()->add_stop_strings(std::string("x"));
       }},
      {"EmptyStopString", "stop.stop_strings[1]",
       [](R& r) {
         r.mutable_stop()->add_stop_strings(std::string("x"));
         r.mutable_stop()->add_stop_strings(std::string());
       }},
      {"StopStringTooLong", "stop.stop_strings[0]",
       [](R& r) { r.mutable_stop()->add_stop_strings(std::string(257, 'x')); }},
      {"StopTokenAboveVocab", "stop.stop_tokens[0]",
       [](R& r) { r.mutable_stop()->add_stop_tokens(kVocab); }},
      {"NegativeStopToken", "stop.stop_tokens[1]",
       [](R& r) {
         r.mutable_stop()->add_stop_tokens(3);
         r.mutable_stop()->add_stop_tokens(-1);
       }},
      {"UnknownCancelPolicy", "on_cancel",
       [](R& r) { r.set_on_cancel(static_cast<rwkv::v1::CancelPolicy>(7)); }},
  };
}

class BadFieldTest : public ::testing::TestWithParam<BadField> {};

TEST_P(BadFieldTest, IsInvalidArgumentNamingTheField) {
  rwkv::v1::GenerateRequest request = Valid();
  GetParam().edit(request);
  engine::ByteTokenizer tokenizer;
  absl::StatusOr<TurnRequest> parsed = ParseGenerateRequest(request, tokenizer, kVocab, Limits());
  ASSERT_FALSE(parsed.ok()) << "accepted " << request.ShortDebugString();
  EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument) << parsed.status();
  EXPECT_THAT(std::string(parsed.status().message()), HasSubstr(GetParam().field));
}

INSTANTIATE_TEST_SUITE_P(EveryField, BadFieldTest, ::testing::ValuesIn(BadFields()),
                         [](const auto& info) { return info.param.name; });

// Every repeated or open-ended field past its limit (request_limits.h): INVALID_ARGUMENT naming
// the field and the limit, checked before the field is copied or searched.
struct OverLimit {
  std::string name;
  std::string field;
  int64_t limit;
  std::function<void(rwkv::v1::GenerateRequest&)> edit;
};

std::vector<OverLimit> OverLimits() {
  using R = rwkv::v1::GenerateRequest;
  return {
      {"TextOverOneMiB", "text (the prompt)", kMaxTextBytes,
       [](R& r) { r.set_text(std::string(kMaxTextBytes + 1, 'a')); }},
      {"TokensOverMaxPromptTokens", "tokens.ids", 8,
       [](R& r) {
         for (int i = 0; i < 9; ++i) r.mutable_tokens()->add_ids(65);
       }},
      {"StopTokensOver64", "stop.stop_tokens", kMaxStopTokens,
       [](R& r) {
         for (int64_t i = 0; i <= kMaxStopTokens; ++i) r.mutable_stop()->add_stop_tokens(1);
       }},
      {"TenThousandStopTokens", "stop.stop_tokens", kMaxStopTokens,
       [](R& r) {
         for (int i = 0; i < 10'000; ++i) r.mutable_stop()->add_stop_tokens(i % kVocab);
       }},
      {"LogitBiasOver1024", "sampling.logit_bias", kMaxLogitBiasEntries,
       [](R& r) {
         for (int64_t i = 0; i <= kMaxLogitBiasEntries; ++i) {
           (*r.mutable_sampling()->mutable_logit_bias())[static_cast<int32_t>(i)] = 1;
         }
       }},
      {"StopStringsOver16", "stop.stop_strings", 16,
       [](R& r) {
         for (int i = 0; i < 1000; ++i) r.mutable_stop()->add_stop_strings(std::string("x"));
       }},
  };
}

class OverLimitTest : public ::testing::TestWithParam<OverLimit> {};

TEST_P(OverLimitTest, IsInvalidArgumentNamingTheFieldAndTheLimit) {
  rwkv::v1::GenerateRequest request = Valid();
  GetParam().edit(request);
  engine::ByteTokenizer tokenizer;
  absl::StatusOr<TurnRequest> parsed = ParseGenerateRequest(request, tokenizer, kVocab, Limits());
  ASSERT_FALSE(parsed.ok()) << "accepted an over-limit " << GetParam().field;
  EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument) << parsed.status();
  EXPECT_THAT(std::string(parsed.status().message()),
              AllOf(StartsWith(GetParam().field + " has "),
                    HasSubstr(absl::StrCat("more than the limit of ", GetParam().limit))));
}

INSTANTIATE_TEST_SUITE_P(EveryLimit, OverLimitTest, ::testing::ValuesIn(OverLimits()),
                         [](const auto& info) { return info.param.name; });

TEST(ParseGenerateRequestTest, FieldsAtTheirLimitsAreAccepted) {
  constexpr int32_t kWideVocab = 4096;  // room for kMaxLogitBiasEntries distinct tokens
  rwkv::v1::GenerateRequest request;
  request.set_text(std::string(8, 'a'));
  for (int64_t i = 0; i < kMaxStopTokens; ++i) {
    request.mutable_stop()->add_stop_tokens(static_cast<int32_t>(i));
  }
  for (int64_t i = 0; i < kMaxLogitBiasEntries; ++i) {
    (*request.mutable_sampling()->mutable_logit_bias())[static_cast<int32_t>(i)] = 1;
  }
  engine::ByteTokenizer tokenizer;
  absl::StatusOr<TurnRequest> parsed =
      ParseGenerateRequest(request, tokenizer, kWideVocab, Limits());
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(static_cast<int64_t>(parsed->generation.stop_tokens.size()), kMaxStopTokens);
  EXPECT_EQ(static_cast<int64_t>(parsed->generation.sampling.logit_bias.size()),
            kMaxLogitBiasEntries);
}

TEST(ParseGenerateRequestTest, TurnIdAtItsLimitIsAcceptedAndAHugeOneQuotedShort) {
  rwkv::v1::GenerateRequest request = Valid();
  request.set_session_id("chat-1");
  request.set_turn_id(std::string(kMaxTurnIdChars, 'a'));
  engine::ByteTokenizer tokenizer;
  absl::StatusOr<TurnRequest> parsed = ParseGenerateRequest(request, tokenizer, kVocab, Limits());
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->turn_id, std::string(kMaxTurnIdChars, 'a'));

  request.set_turn_id(std::string(1 << 20, 'b'));
  parsed = ParseGenerateRequest(request, tokenizer, kVocab, Limits());
  ASSERT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_LT(parsed.status().message().size(), 300u) << "the whole ID went into the message";
}

TEST(ServerLimitsTest, DetokenizeTakesOneTurnOfIds) {
  ServerLimits limits;
  EXPECT_EQ(limits.max_detokenize_ids(), 65536 + 4096);
  EXPECT_EQ(limits.max_request_bytes, 8 << 20);
  EXPECT_EQ(limits.max_streams_per_connection, 256);
  EXPECT_TRUE(CheckAtMost("token_ids", "IDs", 69632, limits.max_detokenize_ids()).ok());
  const absl::Status over = CheckAtMost("token_ids", "IDs", 69633, limits.max_detokenize_ids(),
                                        " (--max-prompt-tokens + --max-new-tokens)");
  EXPECT_EQ(over.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(over.message(),
            "token_ids has 69633 IDs, more than the limit of 69632 (--max-prompt-tokens + "
            "--max-new-tokens)");
}

TEST(ParseGenerateRequestTest, ValidRequestMapsEveryField) {
  rwkv::v1::GenerateRequest request;
  request.mutable_tokens()->add_ids(7);
  request.mutable_tokens()->add_ids(255);
  request.set_session_id("chat-1");
  request.set_create_session(true);
  request.set_expected_version(4);
  request.set_turn_id("3f2b8c1e-7d4a-4e59-9a61-0c2d5e8f9b17");
  auto* sampling = request.mutable_sampling();
  sampling->set_temperature(0.5f);
  sampling->set_top_k(10);
  sampling->set_top_p(0.9f);
  sampling->set_min_p(0.05f);
  sampling->set_presence_penalty(0.1f);
  sampling->set_frequency_penalty(0.2f);
  sampling->set_repetition_penalty(1.1f);
  sampling->set_penalty_window(32);
  (*sampling->mutable_logit_bias())[9] = -100;
  (*sampling->mutable_logit_bias())[3] = 2;
  sampling->set_seed(42);
  request.mutable_stop()->set_max_tokens(16);
  request.mutable_stop()->add_stop_strings(std::string("\n\n"));
  request.mutable_stop()->add_stop_tokens(5);
  request.set_on_cancel(rwkv::v1::CANCEL_POLICY_KEEP);
  engine::ByteTokenizer tokenizer;

  absl::StatusOr<TurnRequest> parsed = ParseGenerateRequest(request, tokenizer, kVocab, Limits());

  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->session_id, "chat-1");
  EXPECT_TRUE(parsed->create_session);
  EXPECT_EQ(parsed->expected_version, 4);
  EXPECT_EQ(parsed->turn_id, "3f2b8c1e-7d4a-4e59-9a61-0c2d5e8f9b17");
  const GenerationRequest& generation = parsed->generation;
  EXPECT_THAT(generation.prompt, ElementsAre(7, 255));
  EXPECT_TRUE(generation.state.empty());  // the turn runner's to fill
  EXPECT_EQ(generation.sampling.temperature, 0.5f);
  EXPECT_EQ(generation.sampling.top_k, 10);
  EXPECT_EQ(generation.sampling.top_p, 0.9f);
  EXPECT_EQ(generation.sampling.min_p, 0.05f);
  EXPECT_EQ(generation.sampling.presence_penalty, 0.1f);
  EXPECT_EQ(generation.sampling.frequency_penalty, 0.2f);
  EXPECT_EQ(generation.sampling.repetition_penalty, 1.1f);
  EXPECT_EQ(generation.sampling.penalty_window, 32);
  EXPECT_THAT(generation.sampling.logit_bias,
              ElementsAre(std::pair<int32_t, float>(3, 2), std::pair<int32_t, float>(9, -100)));
  EXPECT_EQ(generation.sampling.seed, 42u);
  EXPECT_EQ(generation.max_tokens, 16);
  EXPECT_THAT(generation.stop_strings, ElementsAre("\n\n"));
  EXPECT_THAT(generation.stop_tokens, ElementsAre(5));  // bytes have no end-of-text
  EXPECT_TRUE(generation.keep_on_cancel);
}

TEST(ParseGenerateRequestTest, DefaultsFollowTheProto) {
  engine::ByteTokenizer tokenizer;
  absl::StatusOr<TurnRequest> parsed = ParseGenerateRequest(Valid(), tokenizer, kVocab, Limits());

  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_TRUE(parsed->session_id.empty());
  EXPECT_FALSE(parsed->create_session);
  EXPECT_THAT(parsed->generation.prompt, ElementsAre('h', 'i'));
  EXPECT_EQ(parsed->generation.sampling.temperature, 1.0f);
  EXPECT_EQ(parsed->generation.sampling.top_p, 1.0f);
  EXPECT_EQ(parsed->generation.sampling.repetition_penalty, 1.0f);
  EXPECT_EQ(parsed->generation.max_tokens, 4);  // the server's default
  EXPECT_FALSE(parsed->generation.keep_on_cancel);
}

TEST(ParseGenerateRequestTest, DefaultMaxTokensNeverExceedsTheLimit) {
  ServerLimits limits = Limits();
  limits.default_max_tokens = 100;
  engine::ByteTokenizer tokenizer;
  absl::StatusOr<TurnRequest> parsed = ParseGenerateRequest(Valid(), tokenizer, kVocab, limits);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->generation.max_tokens, limits.max_new_tokens);
}

TEST(ParseGenerateRequestTest, PromptAtTheLimitAndZeroMaxTokensAreAccepted) {
  rwkv::v1::GenerateRequest request;
  request.set_text("12345678");
  request.mutable_stop()->set_max_tokens(0);
  engine::ByteTokenizer tokenizer;
  absl::StatusOr<TurnRequest> parsed = ParseGenerateRequest(request, tokenizer, kVocab, Limits());
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->generation.prompt.size(), 8u);
  EXPECT_EQ(parsed->generation.max_tokens, 0);
}

TEST(ParseGenerateRequestTest, EndOfTextStopsUnlessIgnored) {
  absl::StatusOr<std::unique_ptr<engine::Tokenizer>> world =
      engine::CreateTokenizer("world", 65536);
  ASSERT_TRUE(world.ok()) << world.status();
  ASSERT_EQ((*world)->EndOfTextToken(), 0);
  rwkv::v1::GenerateRequest request = Valid();
  request.mutable_stop()->add_stop_tokens(11);

  absl::StatusOr<TurnRequest> stops = ParseGenerateRequest(request, **world, 65536, Limits());
  request.mutable_stop()->set_ignore_end_of_text(true);
  absl::StatusOr<TurnRequest> ignores = ParseGenerateRequest(request, **world, 65536, Limits());

  ASSERT_TRUE(stops.ok()) << stops.status();
  ASSERT_TRUE(ignores.ok()) << ignores.status();
  EXPECT_THAT(stops->generation.stop_tokens, ElementsAre(11, 0));
  EXPECT_THAT(ignores->generation.stop_tokens, ElementsAre(11));
}

TEST(ParseGenerateRequestTest, MissingSeedIsDrawnAndReported) {
  engine::ByteTokenizer tokenizer;
  // Two random 64-bit seeds are equal with probability 2^-64.
  absl::StatusOr<TurnRequest> a = ParseGenerateRequest(Valid(), tokenizer, kVocab, Limits());
  absl::StatusOr<TurnRequest> b = ParseGenerateRequest(Valid(), tokenizer, kVocab, Limits());
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_NE(a->generation.sampling.seed, b->generation.sampling.seed);
}

}  // namespace
}  // namespace rwkv::server
