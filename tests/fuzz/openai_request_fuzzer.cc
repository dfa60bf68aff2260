// Fuzzes the OpenAI-compatible API's request parsing and response writing: the first byte picks
// the endpoint (chat or text completion) and the chat history, the rest is the HTTP body, parsed by
// ParseOpenAiRequest (server/http/openai_request.h) with the byte tokenizer of the tiny models.
//
// A refused body must be INVALID_ARGUMENT with a message. An accepted one must be a valid turn
// (a prompt within the limits, max_tokens within the server's, a chat's stop string present),
// and every response object written for it, with the body's bytes as the generated text, must
// be JSON that parses back.
#include <cstddef>
#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "absl/strings/str_split.h"
#include "common/chat_template.h"
#include "engine/tokenizer/byte_tokenizer.h"
#include "server/http/openai_request.h"
#include "server/http/openai_response.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

using rwkv::server::http::OpenAiEndpoint;
using rwkv::server::http::OpenAiRequest;

const rwkv::server::ServerLimits kLimits{
    .max_prompt_tokens = 512, .max_new_tokens = 256, .default_max_tokens = 16};

bool ParsesBack(const std::string& json) {
  return !nlohmann::json::parse(json, nullptr, /*allow_exceptions=*/false).is_discarded();
}

void CheckResponses(const OpenAiRequest& request, const std::string& text) {
  rwkv::server::http::ResponseContext context{request.endpoint, "id", request.model, 0, "fp"};
  rwkv::server::TurnResult result;
  result.finish_reason = rwkv::server::FinishReason::kStop;
  FUZZ_CHECK(ParsesBack(rwkv::server::http::CompletionBody(context, text, result)), "body");
  const std::string events = rwkv::server::http::ChunkEvent(context, text, true) +
                             rwkv::server::http::FinalEvents(context, result, true);
  for (absl::string_view event : absl::StrSplit(events, "\n\n", absl::SkipEmpty())) {
    FUZZ_CHECK(event.substr(0, 6) == "data: ", "an event without its data: prefix");
    event.remove_prefix(6);
    FUZZ_CHECK(event == "[DONE]" || ParsesBack(std::string(event)), "an event is not JSON");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const OpenAiEndpoint endpoint =
      data[0] % 2 == 0 ? OpenAiEndpoint::kChatCompletions : OpenAiEndpoint::kCompletions;
  const std::string body(reinterpret_cast<const char*>(data) + 1, size - 1);
  static const rwkv::engine::ByteTokenizer bytes;
  const absl::StatusOr<OpenAiRequest> parsed = rwkv::server::http::ParseOpenAiRequest(
      endpoint, body, "", static_cast<rwkv::ChatHistory>(data[0] / 2 % 3), bytes,
      rwkv::engine::ByteTokenizer::kVocabSize, kLimits);
  if (!parsed.ok()) {
    FUZZ_CHECK(parsed.status().code() == absl::StatusCode::kInvalidArgument, parsed.status());
    FUZZ_CHECK(!parsed.status().message().empty(), "an error without a message");
    FUZZ_CHECK(ParsesBack(rwkv::server::http::ErrorBody(parsed.status())), "error body");
    return 0;
  }
  const auto& generation = parsed->turn.generation;
  FUZZ_CHECK(!generation.prompt.empty(), "empty prompt accepted");
  FUZZ_CHECK(generation.prompt.size() <= static_cast<size_t>(kLimits.max_prompt_tokens),
             generation.prompt.size());
  FUZZ_CHECK(generation.max_tokens >= 0 && generation.max_tokens <= kLimits.max_new_tokens,
             generation.max_tokens);
  if (endpoint == OpenAiEndpoint::kChatCompletions) {
    FUZZ_CHECK(!generation.stop_strings.empty() &&
                   generation.stop_strings.back() == rwkv::kChatStop,
               "a chat without the chat stop string");
  }
  CheckResponses(*parsed, body);
  return 0;
}
