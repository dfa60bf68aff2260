// What the scheduler is asked to do for one Generate call, and how it reports back.
//
// The API layer builds a GenerationRequest (tokens, the session's state, sampling and stop
// options), hands it to Scheduler::Submit with a GenerationSink, and from then on the engine
// thread calls the sink: OnDelta for every sampled token, then OnFinished exactly once, with the
// state after the turn. Nothing here knows about gRPC.
#ifndef RWKV_SERVER_SCHEDULER_GENERATION_H_
#define RWKV_SERVER_SCHEDULER_GENERATION_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "engine/sampler/sampler.h"

namespace rwkv::server {

enum class FinishReason {
  kNone,
  kStop,    // stop string, stop token or end-of-text
  kLength,  // max_tokens reached (or max_tokens == 0: prompt only)
};

struct GenerationRequest {
  std::vector<int32_t> prompt;     // at least one token, each in the vocabulary
  std::vector<float> state;        // the state to continue from (moved in, returned in the result)
  engine::SamplingParams sampling;  // validated
  int32_t max_tokens = 0;           // >= 0
  std::vector<int32_t> stop_tokens;
  std::vector<std::string> stop_strings;  // validated
  // On cancel or deadline: return the state with every streamed token fed (true) or just report
  // the cancellation (false; the state is returned as it is, mid-turn, and must be discarded).
  bool keep_on_cancel = false;
  // A scheduler given another clock (Scheduler::Options::clock) needs this read from that one.
  absl::Time received = Clock::Real().Now();
  absl::Time deadline = absl::InfiniteFuture();
};

struct GenerationDelta {
  std::string text;                // complete UTF-8, never part of a stop string
  std::vector<int32_t> token_ids;  // every token sampled since the previous delta
};

struct GenerationTimings {
  absl::Duration queue;                // received -> first engine step
  absl::Duration time_to_first_token;  // received -> first token sampled
  absl::Duration prefill;              // first engine step -> prompt done
  absl::Duration total;
};

struct GenerationResult {
  // OK when generation ended by itself; CANCELLED or DEADLINE_EXCEEDED when the caller went
  // away or stopped reading (StreamStalledError); UNAVAILABLE when the server drained before it
  // could finish; INTERNAL on engine errors.
  absl::Status status;
  FinishReason finish_reason = FinishReason::kNone;
  std::string matched_stop;
  int32_t prompt_tokens = 0;
  int32_t generated_tokens = 0;
  // Tokens of this turn that `state` has consumed: prompt_tokens + generated_tokens when the
  // turn is complete (status OK, or cancelled with keep_on_cancel).
  int64_t tokens_in_state = 0;
  std::vector<float> state;
  GenerationTimings timings;
};

// The status of a sequence whose sink stayed full for `timeout` (the client stopped reading):
// DEADLINE_EXCEEDED, so that the turn follows keep_on_cancel as on any deadline.
absl::Status StreamStalledError(absl::Duration timeout);

// Receives a request's output. Called only from the engine thread; must not block.
class GenerationSink {
 public:
  virtual ~GenerationSink() = default;
  // Whether the sink can take one more delta now. When false the sequence pauses (it is left
  // out of engine steps) until the sink calls Scheduler::Wake.
  virtual bool Ready() const = 0;
  // True once the caller has gone away (cancelled, disconnected, deadline).
  virtual bool Cancelled() const = 0;
  virtual void OnDelta(GenerationDelta delta) = 0;
  // Exactly once, last.
  virtual void OnFinished(GenerationResult result) = 0;
};

}  // namespace rwkv::server

#endif  // RWKV_SERVER_SCHEDULER_GENERATION_H_
