// rwkv-loadgen's HTTP mode: each virtual user runs its turns as streamed POST /v1/completions
// of the OpenAI-compatible API (libcurl, one keep-alive connection per user), so that the same
// load can be compared over gRPC and HTTP with the same measurement code.
//
//   RWKV_ASSIGN_OR_RETURN(LoadgenReport report,
//       RunLoadgen(OpenAiHttpTransports("http://127.0.0.1:8080", token, timeout), nullptr,
//                  options));
//
// A turn's body carries the prompt text, temperature, max_tokens, ignore_eos, the session
// (session_id, create_session) and stream_options.include_usage. Each SSE chunk with text is a
// token arrival; tokens a chunk held back (an unfinished character) are counted from the usage
// chunk, arriving with the last text (as a gRPC delta carrying k tokens counts k at once).
#ifndef RWKV_CLIENT_OPENAI_HTTP_TRANSPORT_H_
#define RWKV_CLIENT_OPENAI_HTTP_TRANSPORT_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "client/loadgen.h"

namespace rwkv::client {

// The request body of one turn. INVALID_ARGUMENT for token-ID prompts (the HTTP API takes text).
absl::StatusOr<std::string> OpenAiCompletionBody(const rwkv::v1::GenerateRequest& request);

// `base_url`: "http://HOST:PORT" or "https://..." (then `ca_file`, PEM, is trusted; "" = the
// system's CAs). `token`: the bearer token, "" for none.
TransportFactory OpenAiHttpTransports(std::string base_url, std::string token,
                                      std::string ca_file, absl::Duration request_timeout);

}  // namespace rwkv::client

#endif  // RWKV_CLIENT_OPENAI_HTTP_TRANSPORT_H_
