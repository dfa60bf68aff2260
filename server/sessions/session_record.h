// SessionRecord: what the server knows about one session besides its state, in the server's own
// terms. The sessions layer stores it in its own versioned encoding (never the public API
// message), so rwkv.v1.Session can change without changing what is on disk; front ends convert
// it to their API's message (server/api/session_proto.h for gRPC).
#ifndef RWKV_SERVER_SESSIONS_SESSION_RECORD_H_
#define RWKV_SERVER_SESSIONS_SESSION_RECORD_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace rwkv::server {

// The outcome of a session's last committed turn when that turn carried a turn_id: enough to
// answer a retry of the same turn (a client whose stream broke) with what the first try
// streamed and its final report, instead of running the turn twice (server/turns/turn_replay.h).
struct CommittedTurn {
  struct Delta {
    std::vector<int32_t> token_ids;
    std::string text;
    bool operator==(const Delta&) const = default;
  };

  std::string turn_id;  // empty: the last turn had none, and nothing else is kept
  // What was streamed, in order; consecutive deltas may be merged (the concatenated tokens and
  // text are what matter).
  std::vector<Delta> deltas;
  int32_t finish_reason = 0;  // a FinishReason (server/scheduler/generation.h)
  std::string matched_stop;
  int32_t prompt_tokens = 0;
  int32_t generated_tokens = 0;
  uint64_t seed = 0;
  // The timings the turn reported, in nanoseconds.
  int64_t queue_ns = 0;
  int64_t time_to_first_token_ns = 0;
  int64_t prefill_ns = 0;
  int64_t total_ns = 0;

  bool operator==(const CommittedTurn&) const = default;
};

struct SessionRecord {
  std::string id;                 // the client's ID (see ValidateSessionId), never scoped
  std::string tenant;             // the owner (tenant.h); kDefaultTenant without authentication
  std::string model_fingerprint;  // the model whose state this is
  int64_t version = 0;            // completed turns; each commit adds one
  int64_t token_count = 0;        // tokens the state has seen
  double created_at = 0;          // Unix seconds
  double updated_at = 0;          // Unix seconds
  double expires_at = 0;          // Unix seconds; 0 = never
  int64_t state_bytes = 0;
  std::map<std::string, std::string> metadata;
  // Set by each commit: the committing turn's outcome if it had a turn_id, else empty.
  CommittedTurn last_turn;

  bool operator==(const SessionRecord&) const = default;
};

}  // namespace rwkv::server

#endif  // RWKV_SERVER_SESSIONS_SESSION_RECORD_H_
