// TurnSink: what a front end gives the TurnRunner to receive one turn's output, and TurnResult,
// the turn's final report. Nothing here knows about gRPC or HTTP.
//
// Calls, in order: OnDelta for each batch of sampled tokens (engine thread), then OnFinished
// exactly once (an I/O thread; or, for a turn refused at admission, inside TurnRunner::Start on
// its caller's thread). Ready may be called at any time from the engine thread. A replayed turn
// (turn_replay.h) calls OnDelta from the I/O thread instead, without asking Ready: a few merged
// deltas, then OnFinished.
#ifndef RWKV_SERVER_TURNS_TURN_SINK_H_
#define RWKV_SERVER_TURNS_TURN_SINK_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "server/scheduler/generation.h"
#include "server/sessions/session_record.h"

namespace rwkv::server {

struct TurnResult {
  // OK when generation ended by itself and the session (if any) was committed. Otherwise why
  // the turn failed: a session error (NOT_FOUND, ABORTED, ...), the scheduler refusing it,
  // CANCELLED / DEADLINE_EXCEEDED, UNAVAILABLE on drain, or the commit's store error.
  absl::Status status;
  FinishReason finish_reason = FinishReason::kNone;
  std::string matched_stop;
  int32_t prompt_tokens = -1;     // -1: the turn never reached the scheduler
  int32_t generated_tokens = -1;  // -1: the scheduler never reported
  // Tokens the session has seen after this turn (0 without a session, or when not committed).
  int64_t session_tokens = 0;
  // Scheduler timings; `total` runs from GenerationRequest::received to this result.
  GenerationTimings timings;
  // The session as committed by this turn; absent without a session or when nothing was kept.
  std::optional<SessionRecord> session;
  uint64_t seed = 0;  // the sampler seed that was used
};

class TurnSink {
 public:
  virtual ~TurnSink() = default;
  // Whether the sink can take one more delta now. When false the turn pauses (its sequence sits
  // out engine steps) until the front end calls TurnRunner::Wake. Engine thread; must not block.
  virtual bool Ready() const = 0;
  // New text and tokens. Engine thread (I/O thread for a replay); must not block.
  virtual void OnDelta(GenerationDelta delta) = 0;
  // Exactly once, last, on an I/O thread (or inside Start when refused at once). The runner
  // touches nothing of its own after this call, so the sink may destroy the runner from inside
  // it.
  virtual void OnFinished(TurnResult result) = 0;
};

}  // namespace rwkv::server

#endif  // RWKV_SERVER_TURNS_TURN_SINK_H_
