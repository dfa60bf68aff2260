// Sequence: one request's progress through the engine, owned by the scheduler's thread.
//
// A sequence moves through explicit phases:
//   kPrefill   feeding prompt chunks (no logits until the last chunk)
//   kDecode    feeding the token sampled last step, then sampling the next one
//   kFinishing feeding the final sampled token without logits, so that the returned state has
//              seen every token the client received (a resumed session continues exactly)
//   kDone      the result is ready
// Text is produced incrementally: token bytes go through a UTF-8 detokenizer (never half a
// character) and a stop-string matcher (never part of a stop string).
#ifndef RWKV_SERVER_SCHEDULER_SEQUENCE_H_
#define RWKV_SERVER_SCHEDULER_SEQUENCE_H_

#include <cstdint>
#include <optional>

#include "absl/types/span.h"
#include "engine/engine.h"
#include "engine/sampler/sampler.h"
#include "engine/sampler/stop_matcher.h"
#include "engine/tokenizer/tokenizer.h"
#include "engine/tokenizer/utf8_detokenizer.h"
#include "server/scheduler/generation.h"
#include "server/scheduler/scheduler_observer.h"

namespace rwkv::server {

class Sequence {
 public:
  enum class Phase { kPrefill, kDecode, kFinishing, kDone };

  // `observer` hears this sequence's timings as they happen; it must outlive the sequence.
  Sequence(GenerationRequest request, GenerationSink* sink, const engine::Tokenizer& tokenizer,
           engine::Sampler sampler, SchedulerObserver& observer);

  Phase phase() const { return phase_; }
  GenerationSink* sink() const { return sink_; }
  const GenerationRequest& request() const { return request_; }
  absl::Span<float> state() { return absl::MakeSpan(request_.state); }

  // Whether this sequence can take part in the next step (a decoding one waits for its sink).
  bool Runnable() const;
  // How long the sequence has been paused for its sink, as of `now` (zero when it is not paused).
  // Call every loop: the pause starts at the first call that finds the sink full.
  absl::Duration PausedFor(absl::Time now);
  // The tokens to feed in the next step, at most `budget` of them, and which logits it needs.
  absl::Span<const int32_t> NextInput(int64_t budget, engine::LogitsMode* mode) const;
  // Draws the token that the next OnStep streams, from the logits NextInput asked for (it asks
  // exactly when OnStep samples). It touches this sequence's sampler alone, so the scheduler
  // draws for every sequence of a step at once on the engine's threads, then calls OnStep for
  // each on its own thread.
  void Draw(absl::Span<const float> logits);
  // After the step that started at `step_start` fed `fed` tokens of NextInput; `logits` is empty
  // when none were asked for. Samples unless Draw already has. May call sink()->OnDelta.
  void OnStep(size_t fed, absl::Span<const float> logits, absl::Time step_start, absl::Time now);
  // Caller gone or server draining: stop generating. With `keep`, a token already streamed but
  // not yet fed is fed first (kFinishing); otherwise the sequence is done at once.
  void Cancel(absl::Status why, bool keep, absl::Time now);
  // kDone only: the result, with the state moved out.
  GenerationResult TakeResult(absl::Time now);

 private:
  void Sample(absl::Span<const float> logits, absl::Time now);
  // No more sampling; the last token still has to be fed (kFinishing).
  void EndGeneration(FinishReason reason, std::string matched);
  // Appends the text the detokenizer and the stop matcher hold back to `delta`.
  void ReleaseHeldText(GenerationDelta& delta);
  bool IsStopToken(int32_t token) const;

  GenerationRequest request_;
  GenerationSink* sink_;
  const engine::Tokenizer& tokenizer_;
  engine::Sampler sampler_;
  engine::StopMatcher stop_matcher_;
  engine::Utf8Detokenizer detokenizer_;
  SchedulerObserver& observer_;

  Phase phase_ = Phase::kPrefill;
  size_t prompt_fed_ = 0;
  std::optional<int32_t> drawn_;    // sampled by Draw, not yet streamed
  std::optional<int32_t> pending_;  // sampled and streamed, not yet fed
  int32_t generated_ = 0;
  int32_t generated_fed_ = 0;
  absl::Status status_;
  FinishReason finish_reason_ = FinishReason::kNone;
  std::string matched_stop_;
  std::optional<absl::Time> paused_since_;
  std::optional<absl::Time> first_step_, prefill_done_, first_token_, last_token_;
};

}  // namespace rwkv::server

#endif  // RWKV_SERVER_SCHEDULER_SEQUENCE_H_
