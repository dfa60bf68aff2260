// RequestLog: one line per request on stderr, so operators can follow traffic:
//
//   2026-11-27T09:12:01.123Z Generate session=chat-1 prompt=12 generated=64 status=OK ms=412
//
// Thread-safe; lines are never interleaved.
#ifndef RWKV_SERVER_API_REQUEST_LOG_H_
#define RWKV_SERVER_API_REQUEST_LOG_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace rwkv::server {

struct RequestRecord {
  absl::string_view method;
  absl::string_view session;  // empty: none
  int64_t prompt_tokens = -1;  // < 0: not applicable
  int64_t generated_tokens = -1;
  absl::Status status;
  absl::Duration duration;
};

class RequestLog {
 public:
  void Log(const RequestRecord& record);
  // Free-form server events (start-up, drain), same format.
  void Event(absl::string_view text);

 private:
  absl::Mutex mu_;
};

}  // namespace rwkv::server

#endif  // RWKV_SERVER_API_REQUEST_LOG_H_
