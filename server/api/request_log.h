// RequestLog: one line per request on stderr, so operators can follow traffic. Every line
// carries the request ID that the client also receives (response metadata `x-request-id`):
//
//   text: 2026-11-27T09:12:01.123Z Generate request_id=3f2a9c0d1e4b5a69 session=chat-1 prompt=12
//         generated=64 status=OK ms=412.0
//   json: {"time":"2026-11-27T09:12:01.123Z","method":"Generate","request_id":"3f2a9c0d1e4b5a69",
//          "session":"chat-1","prompt_tokens":12,"generated_tokens":64,"code":"OK","ms":412.0}
//
// Server events (start-up, drain) are lines too: `<time> <text>`, or {"time":..,"event":..}.
// A failed request adds its message (error="..." / "error":".."). With authentication on, a
// request carries its tenant (tenant=acme / "tenant":"acme"); one refused by authentication
// (status UNAUTHENTICATED, the reason as its error) carries the caller's address instead
// (peer=ipv4:10.0.0.7:51234 / "peer":".."). No token is ever logged. Thread-safe; lines are
// never interleaved.
#ifndef RWKV_SERVER_API_REQUEST_LOG_H_
#define RWKV_SERVER_API_REQUEST_LOG_H_

#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace rwkv::server {

struct RequestRecord {
  absl::string_view method;
  absl::string_view request_id;
  // Empty: none. Logged as it is when it is a valid session ID; anything else (a rejected ID,
  // up to megabytes) is cut to its first 64 bytes and "...(N bytes)", so pass the raw field.
  absl::string_view session;
  int64_t prompt_tokens = -1;  // < 0: not applicable
  int64_t generated_tokens = -1;
  absl::Status status;
  absl::Duration duration;
  // The authenticated tenant ("" = the default tenant, authentication off); unset when the call
  // was refused by authentication. Logged when not empty; counted per tenant in the metrics.
  std::optional<absl::string_view> tenant;
  // The caller's address (gRPC's peer string), logged when not empty: set for a refusal.
  absl::string_view peer;
};

enum class LogFormat { kText, kJson };

// "text" or "json"; INVALID_ARGUMENT otherwise.
absl::StatusOr<LogFormat> ParseLogFormat(absl::string_view name);

// The line (without its newline) written for `record` or for an event, stamped `time`.
std::string FormatRequestLine(const RequestRecord& record, LogFormat format, absl::Time time);
std::string FormatEventLine(absl::string_view text, LogFormat format, absl::Time time);

class RequestLog {
 public:
  // Lines go to `out`, which must stay open while the log is used.
  explicit RequestLog(LogFormat format = LogFormat::kText, std::FILE* out = stderr)
      : format_(format), out_(out) {}

  void Log(const RequestRecord& record);
  // Free-form server events (start-up, drain).
  void Event(absl::string_view text);

 private:
  void Write(std::string line);

  const LogFormat format_;
  std::FILE* const out_;
  absl::Mutex mu_;
};

}  // namespace rwkv::server

#endif  // RWKV_SERVER_API_REQUEST_LOG_H_
