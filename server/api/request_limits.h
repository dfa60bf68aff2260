// Limits on what one request may carry: every repeated or open-ended field of the rwkv.v1 API has
// one, so that no single call can make the server copy, search or produce an unbounded amount.
// Past a limit a request is refused with INVALID_ARGUMENT naming the field and the limit (past the
// gRPC message size, with RESOURCE_EXHAUSTED by gRPC itself, before any handler runs).
//
//   RWKV_RETURN_IF_ERROR(CheckAtMost("stop.stop_tokens", "entries", n, kMaxStopTokens));
//
// The whole table (README "Limits" lists the same):
//   gRPC request message          --max-request-bytes (ServerLimits::max_request_bytes)
//   gRPC response message         kMaxResponseBytes
//   request metadata (headers)    kMaxRequestMetadataBytes
//   streams per HTTP/2 connection --max-streams-per-connection
//   Generate text / tokens.ids    kMaxTextBytes bytes / --max-prompt-tokens tokens
//   stop.stop_strings             16 strings of 1..256 bytes (engine/sampler/stop_matcher.h)
//   stop.stop_tokens              kMaxStopTokens
//   sampling.logit_bias           kMaxLogitBiasEntries
//   session IDs, page_token       1..128 characters (server/sessions/session_id.h)
//   Generate turn_id              1..kMaxTurnIdChars characters from kTurnIdChars
//   metadata                      16 entries, keys 1..256 bytes, values <= 256 bytes (same file)
//   ListSessions page_size        1000 (server/sessions/session_manager.cc)
//   Tokenize text                 kMaxTextBytes
//   Detokenize token_ids          ServerLimits::max_detokenize_ids(); decoded text kMaxTextOutBytes
//   x-request-id                  1..64 characters, else replaced (server/api/request_id.h)
#ifndef RWKV_SERVER_API_REQUEST_LIMITS_H_
#define RWKV_SERVER_API_REQUEST_LIMITS_H_

#include <cstdint>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace rwkv::server {

// Text a request may carry (Generate's text prompt, Tokenize's text): 1 MiB. Longer prompts can
// still be sent as token IDs, up to --max-prompt-tokens.
inline constexpr int64_t kMaxTextBytes = int64_t{1} << 20;
// Text a response may carry (Detokenize): 8 MiB, which keeps it under kMaxResponseBytes.
inline constexpr int64_t kMaxTextOutBytes = int64_t{8} << 20;
// The stop check runs on the engine thread for every sampled token.
inline constexpr int64_t kMaxStopTokens = 64;
inline constexpr int64_t kMaxLogitBiasEntries = 1024;
// Generate's turn_id (stored with the session's record): a UUID fits.
inline constexpr int64_t kMaxTurnIdChars = 64;
inline constexpr absl::string_view kTurnIdChars =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._:-";

// Above the largest response the limits allow (a ListSessions page of 1000 sessions with full
// metadata is about 8.5 MB; Detokenize text at most kMaxTextOutBytes).
inline constexpr int kMaxResponseBytes = 16 << 20;
// gRPC's own default, set explicitly: the request's headers (x-request-id, deadline, ...).
inline constexpr int kMaxRequestMetadataBytes = 8 << 10;

// The limits an operator sets with flags (see main.cc).
struct ServerLimits {
  int32_t max_prompt_tokens = 65536;
  int32_t max_new_tokens = 4096;
  int32_t default_max_tokens = 256;
  // gRPC refuses a larger request message with RESOURCE_EXHAUSTED.
  int32_t max_request_bytes = 8 << 20;
  // HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS: calls one connection may have open at once.
  int32_t max_streams_per_connection = 256;

  // Detokenize: as many IDs as one turn can hold (the longest prompt and generation).
  int64_t max_detokenize_ids() const { return int64_t{max_prompt_tokens} + max_new_tokens; }
};

// OK when `count` <= `limit`; else INVALID_ARGUMENT "<field> has <count> <unit>, more than the
// limit of <limit><why>", where `why` may name the flag (" (--max-prompt-tokens)").
inline absl::Status CheckAtMost(absl::string_view field, absl::string_view unit, int64_t count,
                                int64_t limit, absl::string_view why = "") {
  if (count <= limit) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat(field, " has ", count, " ", unit, ", more than the limit of ", limit, why));
}

}  // namespace rwkv::server

#endif  // RWKV_SERVER_API_REQUEST_LIMITS_H_
