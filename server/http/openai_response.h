// What the OpenAI-compatible front end sends back, as pure functions of a turn's output: the
// non-streaming completion objects, the server-sent events of a stream, the model list and the
// errors in OpenAI's shape with their HTTP status.
//
//   ResponseContext context{OpenAiEndpoint::kChatCompletions, "chatcmpl-3f2a", "rwkv", now, fp};
//   std::string first = ChunkEvent(context, "Hel", /*first=*/true);   // "data: {...}\n\n"
//   std::string last = FinalEvents(context, result, /*include_usage=*/true);  // ... "[DONE]"
//   std::string body = CompletionBody(context, "Hello.", result);
//   int status = HttpStatus(error.code());  std::string body = ErrorBody(error);
//
// Our extension: a turn on a session adds "session": {"id", "version", "token_count"} to the
// completion object (to the last chunk of a stream), so that a client can send the next turn
// with expected_version.
#ifndef RWKV_SERVER_HTTP_OPENAI_RESPONSE_H_
#define RWKV_SERVER_HTTP_OPENAI_RESPONSE_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "server/http/openai_request.h"
#include "server/turns/turn_sink.h"

namespace rwkv::server::http {

// What every object of one response repeats.
struct ResponseContext {
  OpenAiEndpoint endpoint = OpenAiEndpoint::kChatCompletions;
  std::string id;       // "chatcmpl-<request id>" / "cmpl-<request id>" (CompletionId)
  std::string model;    // the loaded model's ID
  int64_t created = 0;  // Unix seconds
  std::string fingerprint;  // the model's fingerprint, as system_fingerprint
};

std::string CompletionId(OpenAiEndpoint endpoint, absl::string_view request_id);

// The model's ID in /v1/models and the responses: the file name of --model, without its
// directory ("synthetic:..." as it is).
std::string ModelId(absl::string_view model_source);

// "stop" or "length"; null (as JSON) for a turn that reported neither.
std::string FinishReasonName(FinishReason reason);

// A whole non-streaming response: the text generated, finish_reason, usage, the session.
std::string CompletionBody(const ResponseContext& context, absl::string_view text,
                           const TurnResult& result);

// One SSE event carrying `text`; the first chunk of a chat stream also carries the role.
std::string ChunkEvent(const ResponseContext& context, absl::string_view text, bool first);
// The end of a successful stream: a chunk with the finish_reason (and the session), with
// include_usage one more chunk with no choices and the usage, then "data: [DONE]\n\n".
std::string FinalEvents(const ResponseContext& context, const TurnResult& result,
                        bool include_usage);
// A stream that fails after its 200 was sent: one event with the error object, no [DONE].
std::string ErrorEvent(const absl::Status& status);

// GET /v1/models: the loaded model, with its fingerprint.
std::string ModelsBody(absl::string_view model_id, absl::string_view fingerprint,
                       int64_t created);

// The HTTP status for a turn's (or a request's) error: INVALID_ARGUMENT 400, UNAUTHENTICATED
// 401, PERMISSION_DENIED 403, NOT_FOUND 404, ALREADY_EXISTS / ABORTED / FAILED_PRECONDITION 409,
// RESOURCE_EXHAUSTED 429, CANCELLED 499, UNAVAILABLE 503, DEADLINE_EXCEEDED 504, else 500.
int HttpStatus(absl::StatusCode code);
// {"error": {"message", "type", "param", "code"}}: type is OpenAI's for the status
// ("invalid_request_error", "authentication_error", ...), code the gRPC code's name in lower
// case ("not_found"), param the parameter (ErrorParam) or null.
std::string ErrorBody(const absl::Status& status);

}  // namespace rwkv::server::http

#endif  // RWKV_SERVER_HTTP_OPENAI_RESPONSE_H_
