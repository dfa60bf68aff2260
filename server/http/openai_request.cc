#include "server/http/openai_request.h"

#include <limits>
#include <optional>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/strings/cord.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/chat_template.h"
#include "common/status_macros.h"
#include "server/api/generate_request.h"

namespace rwkv::server::http {
namespace {

using Json = nlohmann::json;

constexpr absl::string_view kParamPayload = "rwkv.openai.param";

absl::Status Invalid(absl::string_view param, absl::string_view message) {
  return WithParam(absl::InvalidArgumentError(message), param);
}

absl::Status WrongType(absl::string_view param, absl::string_view expected) {
  return Invalid(param, absl::StrCat(param, " must be ", expected));
}

// The field `name` of `body`, or null when absent or null (OpenAI treats both alike).
const Json* Field(const Json& body, const char* name) {
  auto it = body.find(name);
  if (it == body.end() || it->is_null()) return nullptr;
  return &*it;
}

absl::StatusOr<std::optional<std::string>> OptionalString(const Json& body, const char* name) {
  const Json* value = Field(body, name);
  if (value == nullptr) return std::nullopt;
  if (!value->is_string()) return WrongType(name, "a string");
  return value->get<std::string>();
}

absl::StatusOr<std::optional<bool>> OptionalBool(const Json& body, const char* name) {
  const Json* value = Field(body, name);
  if (value == nullptr) return std::nullopt;
  if (!value->is_boolean()) return WrongType(name, "a boolean");
  return value->get<bool>();
}

absl::StatusOr<std::optional<double>> OptionalNumber(const Json& body, const char* name) {
  const Json* value = Field(body, name);
  if (value == nullptr) return std::nullopt;
  if (!value->is_number()) return WrongType(name, "a number");
  return value->get<double>();
}

// An integer in [lo, hi]; a float with an integral value is not one (OpenAI refuses it too).
absl::StatusOr<std::optional<int64_t>> OptionalInteger(const Json& body, const char* name,
                                                       int64_t lo, int64_t hi) {
  const Json* value = Field(body, name);
  if (value == nullptr) return std::nullopt;
  if (!value->is_number_integer()) return WrongType(name, "an integer");
  const bool in_range = value->is_number_unsigned()
                            ? value->get<uint64_t>() <= static_cast<uint64_t>(hi)
                            : value->get<int64_t>() >= lo && value->get<int64_t>() <= hi;
  if (!in_range) {
    return Invalid(name, absl::StrCat(name, " must be an integer in [", lo, ", ", hi, "]"));
  }
  return value->get<int64_t>();
}

// A message's content: a string, or a list of {"type": "text", "text": ...} parts.
absl::StatusOr<std::string> MessageContent(const Json& content, size_t index) {
  const std::string param = absl::StrCat("messages[", index, "].content");
  if (content.is_string()) return content.get<std::string>();
  if (!content.is_array()) return WrongType(param, "a string or a list of text parts");
  std::string text;
  for (size_t i = 0; i < content.size(); ++i) {
    const Json& part = content[i];
    const Json* type = part.is_object() ? Field(part, "type") : nullptr;
    const Json* part_text = part.is_object() ? Field(part, "text") : nullptr;
    if (type == nullptr || *type != "text" || part_text == nullptr || !part_text->is_string()) {
      return Invalid(param, absl::StrCat(param, "[", i,
                                         "] must be {\"type\": \"text\", \"text\": <string>}: "
                                         "this model reads text only"));
    }
    text += part_text->get<std::string>();
  }
  return text;
}

absl::StatusOr<std::vector<ChatMessage>> Messages(const Json& body) {
  const Json* messages = Field(body, "messages");
  if (messages == nullptr) return Invalid("messages", "messages is required");
  if (!messages->is_array()) return WrongType("messages", "a list of messages");
  if (messages->empty()) return Invalid("messages", "messages is empty");
  std::vector<ChatMessage> out;
  for (size_t i = 0; i < messages->size(); ++i) {
    const Json& message = (*messages)[i];
    const std::string param = absl::StrCat("messages[", i, "]");
    if (!message.is_object()) return WrongType(param, "an object");
    const Json* role = Field(message, "role");
    if (role == nullptr || !role->is_string()) {
      return WrongType(absl::StrCat(param, ".role"), "a string");
    }
    const Json* content = Field(message, "content");
    if (content == nullptr) {
      return Invalid(absl::StrCat(param, ".content"), absl::StrCat(param, ".content is required"));
    }
    RWKV_ASSIGN_OR_RETURN(std::string text, MessageContent(*content, i));
    std::string role_name = role->get<std::string>();
    // OpenAI's newer name for the system message.
    if (role_name == "developer") role_name = "system";
    if (role_name != "system" && role_name != "user" && role_name != "assistant") {
      return Invalid(absl::StrCat(param, ".role"),
                     absl::StrCat(param, ".role must be \"system\", \"developer\", \"user\" or "
                                  "\"assistant\" (tool messages are not supported)"));
    }
    out.push_back({std::move(role_name), std::move(text)});
  }
  return out;
}

absl::Status Prompt(OpenAiEndpoint endpoint, const Json& body, ChatHistory history,
                    rwkv::v1::GenerateRequest& request) {
  if (endpoint == OpenAiEndpoint::kChatCompletions) {
    RWKV_ASSIGN_OR_RETURN(std::vector<ChatMessage> messages, Messages(body));
    // A session's state may have seen earlier turns: frame this one after them.
    absl::StatusOr<std::string> prompt = RenderChat(messages, history);
    if (!prompt.ok()) return WithParam(prompt.status(), "messages");
    request.set_text(*std::move(prompt));
    return absl::OkStatus();
  }
  const Json* prompt = Field(body, "prompt");
  if (prompt == nullptr) return Invalid("prompt", "prompt is required");
  // A list of one string is the same prompt; several would be several completions (n > 1).
  if (prompt->is_array() && prompt->size() == 1 && (*prompt)[0].is_string()) prompt = &(*prompt)[0];
  if (!prompt->is_string()) {
    return WrongType("prompt", "a string (lists of prompts and token lists are not supported)");
  }
  request.set_text(prompt->get<std::string>());
  return absl::OkStatus();
}

absl::Status Sampling(const Json& body, rwkv::v1::SamplingOptions& sampling) {
  RWKV_ASSIGN_OR_RETURN(std::optional<double> temperature, OptionalNumber(body, "temperature"));
  if (temperature.has_value()) sampling.set_temperature(static_cast<float>(*temperature));
  RWKV_ASSIGN_OR_RETURN(std::optional<double> top_p, OptionalNumber(body, "top_p"));
  if (top_p.has_value()) sampling.set_top_p(static_cast<float>(*top_p));
  RWKV_ASSIGN_OR_RETURN(std::optional<double> presence, OptionalNumber(body, "presence_penalty"));
  if (presence.has_value()) sampling.set_presence_penalty(static_cast<float>(*presence));
  RWKV_ASSIGN_OR_RETURN(std::optional<double> frequency,
                        OptionalNumber(body, "frequency_penalty"));
  if (frequency.has_value()) sampling.set_frequency_penalty(static_cast<float>(*frequency));
  RWKV_ASSIGN_OR_RETURN(std::optional<int64_t> seed,
                        OptionalInteger(body, "seed", std::numeric_limits<int64_t>::min(),
                                        std::numeric_limits<int64_t>::max()));
  if (seed.has_value()) sampling.set_seed(static_cast<uint64_t>(*seed));
  const Json* bias = Field(body, "logit_bias");
  if (bias == nullptr) return absl::OkStatus();
  if (!bias->is_object()) return WrongType("logit_bias", "an object of token ID -> bias");
  RWKV_RETURN_IF_ERROR(WithParam(
      CheckAtMost("logit_bias", "entries", bias->size(), kMaxLogitBiasEntries), "logit_bias"));
  for (const auto& [key, value] : bias->items()) {
    int32_t token = 0;
    if (!absl::SimpleAtoi(key, &token) || !value.is_number()) {
      return Invalid("logit_bias",
                     "logit_bias must map token IDs (as strings of digits) to numbers");
    }
    (*sampling.mutable_logit_bias())[token] = value.get<float>();
  }
  return absl::OkStatus();
}

absl::Status Stops(const Json& body, rwkv::v1::StopOptions& stop) {
  // max_completion_tokens is OpenAI's newer name; it wins when both are given.
  RWKV_ASSIGN_OR_RETURN(std::optional<int64_t> max_tokens,
                        OptionalInteger(body, "max_tokens", 0, std::numeric_limits<int32_t>::max()));
  RWKV_ASSIGN_OR_RETURN(std::optional<int64_t> max_completion,
                        OptionalInteger(body, "max_completion_tokens", 0,
                                        std::numeric_limits<int32_t>::max()));
  if (max_completion.has_value()) max_tokens = max_completion;
  if (max_tokens.has_value()) stop.set_max_tokens(static_cast<int32_t>(*max_tokens));
  // Our extension, under vLLM's name: generate past end-of-text (benchmarks).
  RWKV_ASSIGN_OR_RETURN(std::optional<bool> ignore_eos, OptionalBool(body, "ignore_eos"));
  stop.set_ignore_end_of_text(ignore_eos.value_or(false));
  const Json* strings = Field(body, "stop");
  if (strings == nullptr) return absl::OkStatus();
  if (strings->is_string()) {
    stop.add_stop_strings(strings->get<std::string>());
    return absl::OkStatus();
  }
  if (!strings->is_array()) return WrongType("stop", "a string or a list of strings");
  for (const Json& s : *strings) {
    if (!s.is_string()) return WrongType("stop", "a string or a list of strings");
    stop.add_stop_strings(s.get<std::string>());
  }
  return absl::OkStatus();
}

absl::Status Session(const Json& body, absl::string_view header_session,
                     rwkv::v1::GenerateRequest& request) {
  RWKV_ASSIGN_OR_RETURN(std::optional<std::string> session, OptionalString(body, "session_id"));
  if (session.has_value() && !header_session.empty() && *session != header_session) {
    return Invalid("session_id", "session_id and the x-session-id header name different sessions");
  }
  if (!session.has_value() && !header_session.empty()) session = std::string(header_session);
  if (session.has_value()) request.set_session_id(*session);
  RWKV_ASSIGN_OR_RETURN(std::optional<bool> create, OptionalBool(body, "create_session"));
  request.set_create_session(create.value_or(false));
  if (request.create_session() && !session.has_value()) {
    return Invalid("session_id", "create_session needs a session_id");
  }
  RWKV_ASSIGN_OR_RETURN(std::optional<int64_t> expected,
                        OptionalInteger(body, "expected_version", 0,
                                        std::numeric_limits<int64_t>::max()));
  request.set_expected_version(expected.value_or(0));
  return absl::OkStatus();
}

absl::Status Options(const Json& body, OpenAiRequest& out) {
  RWKV_ASSIGN_OR_RETURN(std::optional<int64_t> n,
                        OptionalInteger(body, "n", std::numeric_limits<int64_t>::min(),
                                        std::numeric_limits<int64_t>::max()));
  if (n.has_value() && *n != 1) {
    return Invalid("n", absl::StrCat("n must be 1 (one completion per request), got ", *n));
  }
  RWKV_ASSIGN_OR_RETURN(std::optional<std::string> model, OptionalString(body, "model"));
  out.model = model.value_or("");
  RWKV_ASSIGN_OR_RETURN(std::optional<bool> stream, OptionalBool(body, "stream"));
  out.stream = stream.value_or(false);
  const Json* options = Field(body, "stream_options");
  if (options == nullptr) return absl::OkStatus();
  if (!options->is_object()) return WrongType("stream_options", "an object");
  if (!out.stream) return Invalid("stream_options", "stream_options needs stream: true");
  const Json* usage = Field(*options, "include_usage");
  if (usage != nullptr && !usage->is_boolean()) {
    return WrongType("stream_options.include_usage", "a boolean");
  }
  out.include_usage = usage != nullptr && usage->get<bool>();
  return absl::OkStatus();
}

// OpenAI features this server cannot honour, refused rather than ignored: a client that asks for
// tool calls, a JSON schema or log probabilities would otherwise get an answer without them.
// Their neutral values (as SDKs send by default) pass.
absl::Status Unsupported(const Json& body) {
  const Json* tools = Field(body, "tools");
  if (tools != nullptr && !(tools->is_array() && tools->empty())) {
    return Invalid("tools", "tools (function calling) are not supported");
  }
  const Json* format = Field(body, "response_format");
  if (format != nullptr) {
    const Json* type = format->is_object() ? Field(*format, "type") : nullptr;
    if (type == nullptr || *type != "text") {
      return Invalid("response_format", "response_format must be {\"type\": \"text\"}: "
                                        "JSON modes are not supported");
    }
  }
  // Chat: a boolean; completions: how many log probabilities per token.
  const Json* logprobs = Field(body, "logprobs");
  if (logprobs != nullptr && *logprobs != false && *logprobs != 0) {
    return Invalid("logprobs", "logprobs are not supported");
  }
  const Json* echo = Field(body, "echo");
  if (echo != nullptr && *echo != false) return Invalid("echo", "echo is not supported");
  const Json* best_of = Field(body, "best_of");
  if (best_of != nullptr && *best_of != 1) return Invalid("best_of", "best_of must be 1");
  const Json* suffix = Field(body, "suffix");
  if (suffix != nullptr && *suffix != "") return Invalid("suffix", "suffix is not supported");
  return absl::OkStatus();
}

// A ParseGenerateRequest error in OpenAI's terms: the gRPC field path that starts its message
// becomes the OpenAI parameter, in the message and as its `param`.
absl::Status InOpenAiTerms(const absl::Status& status, OpenAiEndpoint endpoint,
                           bool max_completion) {
  struct Prefix {
    absl::string_view field;
    absl::string_view param;
  };
  const absl::string_view max_tokens = max_completion ? "max_completion_tokens" : "max_tokens";
  const absl::string_view prompt =
      endpoint == OpenAiEndpoint::kChatCompletions ? "messages" : "prompt";
  const Prefix prefixes[] = {
      {"sampling.temperature", "temperature"}, {"sampling.top_p", "top_p"},
      {"sampling.presence_penalty", "presence_penalty"},
      {"sampling.frequency_penalty", "frequency_penalty"},
      {"sampling.logit_bias", "logit_bias"},   {"sampling.seed", "seed"},
      {"stop.max_tokens", max_tokens},         {"stop.stop_strings", "stop"},
      {"text", prompt},                        {"session_id", "session_id"},
      {"expected_version", "expected_version"},
  };
  const absl::string_view message = status.message();
  for (const Prefix& p : prefixes) {
    if (!absl::StartsWith(message, p.field)) continue;
    return WithParam(absl::Status(status.code(), absl::StrCat(p.param,
                                                              message.substr(p.field.size()))),
                     p.param);
  }
  return status;
}

}  // namespace

absl::Status WithParam(absl::Status status, absl::string_view param) {
  if (!status.ok() && !param.empty()) status.SetPayload(kParamPayload, absl::Cord(param));
  return status;
}

std::string ErrorParam(const absl::Status& status) {
  const auto param = status.GetPayload(kParamPayload);
  return param.has_value() ? std::string(*param) : std::string();
}

absl::StatusOr<rwkv::v1::GenerateRequest> ToGenerateRequest(OpenAiEndpoint endpoint,
                                                            absl::string_view body,
                                                            absl::string_view header_session,
                                                            ChatHistory history,
                                                            OpenAiRequest& out) {
  out.endpoint = endpoint;
  const Json json = Json::parse(body.begin(), body.end(), nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded()) return absl::InvalidArgumentError("the body is not valid JSON");
  if (!json.is_object()) return absl::InvalidArgumentError("the body must be a JSON object");
  rwkv::v1::GenerateRequest request;
  RWKV_RETURN_IF_ERROR(Options(json, out));
  RWKV_RETURN_IF_ERROR(Unsupported(json));
  RWKV_RETURN_IF_ERROR(Session(json, header_session, request));
  RWKV_RETURN_IF_ERROR(Prompt(endpoint, json, history, request));
  RWKV_RETURN_IF_ERROR(Sampling(json, *request.mutable_sampling()));
  RWKV_RETURN_IF_ERROR(Stops(json, *request.mutable_stop()));
  // After the client's, so that an error about stop[i] is about its i-th string.
  if (endpoint == OpenAiEndpoint::kChatCompletions) {
    request.mutable_stop()->add_stop_strings(std::string(kChatStop));
  }
  return request;
}

absl::StatusOr<OpenAiRequest> ParseOpenAiRequest(OpenAiEndpoint endpoint, absl::string_view body,
                                                 absl::string_view header_session,
                                                 ChatHistory history,
                                                 const engine::Tokenizer& tokenizer,
                                                 int32_t vocab_size, const ServerLimits& limits) {
  OpenAiRequest out;
  RWKV_ASSIGN_OR_RETURN(rwkv::v1::GenerateRequest request,
                        ToGenerateRequest(endpoint, body, header_session, history, out));
  absl::StatusOr<TurnRequest> turn = ParseGenerateRequest(request, tokenizer, vocab_size, limits);
  if (!turn.ok()) {
    const bool max_completion = body.find("\"max_completion_tokens\"") != absl::string_view::npos;
    return InOpenAiTerms(turn.status(), endpoint, max_completion);
  }
  out.turn = *std::move(turn);
  return out;
}

ChatHistory ChatHistoryOf(const absl::StatusOr<SessionRecord>& session) {
  if (!session.ok()) {
    return session.status().code() == absl::StatusCode::kNotFound ? ChatHistory::kEmpty
                                                                   : ChatHistory::kOther;
  }
  if (session->token_count == 0) return ChatHistory::kEmpty;
  return session->last_turn.matched_stop == kChatStop ? ChatHistory::kUserTagSeen
                                                      : ChatHistory::kOther;
}

}  // namespace rwkv::server::http
