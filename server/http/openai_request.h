// OpenAiRequest: the body of an OpenAI-style POST /v1/chat/completions or /v1/completions,
// turned into the TurnRequest every front end gives the TurnRunner.
//
//   absl::StatusOr<OpenAiRequest> parsed = ParseOpenAiRequest(
//       OpenAiEndpoint::kChatCompletions, body, header_session_id, tokenizer, vocab, limits);
//   if (!parsed.ok()) ... ErrorBody(parsed.status())   // 400 naming the parameter
//
// The JSON is checked here for its shape (types, n = 1, the chat messages) and translated into
// a rwkv.v1.GenerateRequest, which ParseGenerateRequest (server/api/generate_request.h), the one
// validation of a turn, checks and turns into the TurnRequest: an HTTP turn and a gRPC turn are
// validated alike. Every refusal is INVALID_ARGUMENT whose OpenAI `param` (ErrorParam) names the
// parameter. Unknown fields are ignored, as OpenAI does; `null` is the same as absent. Features
// this server cannot honour (tools, JSON response formats, logprobs, echo, best_of, suffix) are
// refused unless they have their neutral value.
//
// Chat messages are rendered with the RWKV World chat format (common/chat_template.h), and
// kChatStop is always a stop string of a chat completion. Our extensions: `session_id` (or the
// x-session-id header, for balancers that route on headers), `create_session`,
// `expected_version`, as in rwkv.v1.GenerateRequest.
#ifndef RWKV_SERVER_HTTP_OPENAI_REQUEST_H_
#define RWKV_SERVER_HTTP_OPENAI_REQUEST_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "engine/tokenizer/tokenizer.h"
#include "rwkv/v1/rwkv.pb.h"
#include "common/chat_template.h"
#include "server/api/request_limits.h"
#include "server/sessions/session_record.h"
#include "server/turns/turn_request.h"

namespace rwkv::server::http {

enum class OpenAiEndpoint { kChatCompletions, kCompletions };

struct OpenAiRequest {
  OpenAiEndpoint endpoint = OpenAiEndpoint::kChatCompletions;
  TurnRequest turn;  // validated; `received`, `deadline` and `tenant` left to the caller
  std::string model;  // as the client named it ("" when absent), echoed in the response
  bool stream = false;
  bool include_usage = false;  // stream_options.include_usage: a last chunk with the usage
};

// The body translated, unvalidated, to the gRPC request (exposed for tests). `header_session`
// is the x-session-id header ("" when absent); it must agree with a body session_id. `history`:
// what the state the chat continues has seen (ChatHistoryOf its session; kEmpty without one),
// which frames the first message (common/chat_template.h).
absl::StatusOr<rwkv::v1::GenerateRequest> ToGenerateRequest(OpenAiEndpoint endpoint,
                                                            absl::string_view body,
                                                            absl::string_view header_session,
                                                            ChatHistory history,
                                                            OpenAiRequest& out);

// The whole parse: ToGenerateRequest, then ParseGenerateRequest.
absl::StatusOr<OpenAiRequest> ParseOpenAiRequest(OpenAiEndpoint endpoint, absl::string_view body,
                                                 absl::string_view header_session,
                                                 ChatHistory history,
                                                 const engine::Tokenizer& tokenizer,
                                                 int32_t vocab_size, const ServerLimits& limits);

// How a chat session's state ends, from GetSession's answer: kEmpty for a session that is new
// (no tokens) or missing (create_session makes it new; else the turn fails NOT_FOUND anyway);
// kUserTagSeen when its last turn stopped at kChatStop (known for turns that carried a turn_id,
// as every HTTP chat turn on a session does); kOther otherwise, and on any other error.
ChatHistory ChatHistoryOf(const absl::StatusOr<SessionRecord>& session);

// `status` with the OpenAI parameter it is about (the `param` of the error body).
absl::Status WithParam(absl::Status status, absl::string_view param);
// The parameter a status is about; "" when none.
std::string ErrorParam(const absl::Status& status);

}  // namespace rwkv::server::http

#endif  // RWKV_SERVER_HTTP_OPENAI_REQUEST_H_
