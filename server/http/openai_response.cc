#include "server/http/openai_response.h"

#include <algorithm>

#include <nlohmann/json.hpp>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace rwkv::server::http {
namespace {

using Json = nlohmann::json;

// Text the client sent back in a message may not be valid UTF-8: replaced, never thrown on.
std::string Dump(const Json& json) {
  return json.dump(-1, ' ', false, Json::error_handler_t::replace);
}

std::string Event(const Json& json) { return absl::StrCat("data: ", Dump(json), "\n\n"); }

bool IsChat(const ResponseContext& context) {
  return context.endpoint == OpenAiEndpoint::kChatCompletions;
}

Json Envelope(const ResponseContext& context, bool chunk) {
  Json out;
  out["id"] = context.id;
  out["object"] = IsChat(context) ? (chunk ? "chat.completion.chunk" : "chat.completion")
                                  : "text_completion";
  out["created"] = context.created;
  out["model"] = context.model;
  out["system_fingerprint"] = context.fingerprint;
  return out;
}

Json FinishReasonJson(FinishReason reason) {
  if (reason == FinishReason::kNone) return nullptr;
  return FinishReasonName(reason);
}

Json Usage(const TurnResult& result) {
  const int64_t prompt = std::max(result.prompt_tokens, 0);
  const int64_t completion = std::max(result.generated_tokens, 0);
  return {{"prompt_tokens", prompt},
          {"completion_tokens", completion},
          {"total_tokens", prompt + completion}};
}

void AddSession(const TurnResult& result, Json& out) {
  if (!result.session.has_value()) return;
  out["session"] = {{"id", result.session->id},
                    {"version", result.session->version},
                    {"token_count", result.session->token_count}};
}

// One choice: the message (or delta) of a chat, the text of a completion.
Json Choice(const ResponseContext& context, absl::string_view text, bool chunk, bool first,
            Json finish_reason) {
  Json choice = {{"index", 0}};
  const std::string content(text);
  if (!IsChat(context)) {
    choice["text"] = content;
  } else if (!chunk) {
    choice["message"] = {{"role", "assistant"}, {"content", content}};
  } else {
    choice["delta"] = Json::object();
    if (first) choice["delta"]["role"] = "assistant";
    if (!text.empty() || first) choice["delta"]["content"] = content;
  }
  choice["logprobs"] = nullptr;
  choice["finish_reason"] = std::move(finish_reason);
  return choice;
}

absl::string_view ErrorType(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kNotFound:
    case absl::StatusCode::kAlreadyExists:
    case absl::StatusCode::kAborted:
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kOutOfRange:
      return "invalid_request_error";
    case absl::StatusCode::kUnauthenticated:
      return "authentication_error";
    case absl::StatusCode::kPermissionDenied:
      return "permission_error";
    case absl::StatusCode::kResourceExhausted:
      return "rate_limit_error";
    default:
      return "server_error";
  }
}

}  // namespace

std::string CompletionId(OpenAiEndpoint endpoint, absl::string_view request_id) {
  return absl::StrCat(endpoint == OpenAiEndpoint::kChatCompletions ? "chatcmpl-" : "cmpl-",
                      absl::string_view(request_id.data(), request_id.size()));
}

std::string ModelId(absl::string_view model_source) {
  if (model_source.find(':') != absl::string_view::npos) return std::string(model_source);
  const size_t slash = model_source.rfind('/');
  return std::string(slash == absl::string_view::npos ? model_source
                                                      : model_source.substr(slash + 1));
}

std::string FinishReasonName(FinishReason reason) {
  switch (reason) {
    case FinishReason::kStop:
      return "stop";
    case FinishReason::kLength:
      return "length";
    case FinishReason::kNone:
      break;
  }
  return "";
}

std::string CompletionBody(const ResponseContext& context, absl::string_view text,
                           const TurnResult& result) {
  Json out = Envelope(context, /*chunk=*/false);
  out["choices"] = Json::array(
      {Choice(context, text, /*chunk=*/false, false, FinishReasonJson(result.finish_reason))});
  out["usage"] = Usage(result);
  AddSession(result, out);
  return Dump(out);
}

std::string ChunkEvent(const ResponseContext& context, absl::string_view text, bool first) {
  Json out = Envelope(context, /*chunk=*/true);
  out["choices"] = Json::array({Choice(context, text, /*chunk=*/true, first, nullptr)});
  return Event(out);
}

std::string FinalEvents(const ResponseContext& context, const TurnResult& result,
                        bool include_usage) {
  Json last = Envelope(context, /*chunk=*/true);
  last["choices"] = Json::array(
      {Choice(context, "", /*chunk=*/true, false, FinishReasonJson(result.finish_reason))});
  AddSession(result, last);
  std::string events = Event(last);
  if (include_usage) {
    Json usage = Envelope(context, /*chunk=*/true);
    usage["choices"] = Json::array();
    usage["usage"] = Usage(result);
    events += Event(usage);
  }
  return events + "data: [DONE]\n\n";
}

std::string ErrorEvent(const absl::Status& status) {
  return absl::StrCat("data: ", ErrorBody(status), "\n\n");
}

std::string ModelsBody(absl::string_view model_id, absl::string_view fingerprint,
                       int64_t created) {
  Json model = {{"id", std::string(model_id)},
                {"object", "model"},
                {"created", created},
                {"owned_by", "rwkv-serve"},
                {"fingerprint", std::string(fingerprint)}};
  return Dump(Json{{"object", "list"}, {"data", Json::array({std::move(model)})}});
}

int HttpStatus(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kOk:
      return 200;
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kOutOfRange:
      return 400;
    case absl::StatusCode::kUnauthenticated:
      return 401;
    case absl::StatusCode::kPermissionDenied:
      return 403;
    case absl::StatusCode::kNotFound:
      return 404;
    case absl::StatusCode::kAlreadyExists:
    case absl::StatusCode::kAborted:
    case absl::StatusCode::kFailedPrecondition:
      return 409;
    case absl::StatusCode::kResourceExhausted:
      return 429;
    case absl::StatusCode::kCancelled:
      return 499;  // the client closed the request (nginx's code); it never sees it
    case absl::StatusCode::kUnavailable:
      return 503;
    case absl::StatusCode::kDeadlineExceeded:
      return 504;
    default:
      return 500;
  }
}

std::string ErrorBody(const absl::Status& status) {
  const std::string param = ErrorParam(status);
  Json error = {{"message", std::string(status.message())},
                {"type", std::string(ErrorType(status.code()))},
                {"param", param.empty() ? Json(nullptr) : Json(param)},
                {"code", absl::AsciiStrToLower(absl::StatusCodeToString(status.code()))}};
  return Dump(Json{{"error", std::move(error)}});
}

}  // namespace rwkv::server::http
