// SessionRecord: what the server knows about one session besides its state, in the server's own
// terms. The sessions layer stores it in its own versioned encoding (never the public API
// message), so rwkv.v1.Session can change without changing what is on disk; front ends convert
// it to their API's message (server/api/session_proto.h for gRPC).
#ifndef RWKV_SERVER_SESSIONS_SESSION_RECORD_H_
#define RWKV_SERVER_SESSIONS_SESSION_RECORD_H_

#include <cstdint>
#include <map>
#include <string>

namespace rwkv::server {

struct SessionRecord {
  std::string id;                 // see ValidateSessionId
  std::string model_fingerprint;  // the model whose state this is
  int64_t version = 0;            // completed turns; each commit adds one
  int64_t token_count = 0;        // tokens the state has seen
  double created_at = 0;          // Unix seconds
  double updated_at = 0;          // Unix seconds
  double expires_at = 0;          // Unix seconds; 0 = never
  int64_t state_bytes = 0;
  std::map<std::string, std::string> metadata;

  bool operator==(const SessionRecord&) const = default;
};

}  // namespace rwkv::server

#endif  // RWKV_SERVER_SESSIONS_SESSION_RECORD_H_
