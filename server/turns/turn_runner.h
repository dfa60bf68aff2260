// TurnRunner: one generation turn, from a validated TurnRequest to its final result, for any
// front end (the gRPC Generate reactor today, an HTTP server next). Nothing here knows gRPC.
//
//   TurnRunner turn(services, &sink);   // the sink must outlive OnFinished
//   turn.Start(std::move(request));     // returns at once; the work runs on the I/O pool
//   ...                                 // sink.OnDelta(...) on the engine thread, per token batch
//   turn.Cancel();                      // the client went away (any thread)
//   turn.Wake();                        // the sink has room again after Ready() said no
//   ...                                 // sink.OnFinished(result) exactly once, on an I/O thread
//
// The turn is admitted first, in Start on the caller's thread: it takes a place in the
// scheduler's queue, reserves its bytes in the StateBudget and posts its start to the I/O pool,
// and is refused at once (RESOURCE_EXHAUSTED, through OnFinished before Start returns) when any
// of the three is full, so that a refused turn never costs a store read. The place and the bytes
// are given back exactly once, just before OnFinished, however the turn ends.
//
// The turn: begin the session's turn (loading its state), or take the model's initial state
// without a session; submit to the scheduler; stream its deltas to the sink; when it finishes,
// commit the session's new state or roll it back (the commit rule, ShouldCommit, lives here);
// deliver the result. Store work runs on the I/O executor, never on the engine thread, and the
// time is read from the injected Clock.
//
// A turn whose turn_id is that of its session's last committed turn is not run: its stored
// outcome is replayed to the sink (turn_replay.h), deltas and result on the I/O thread. A
// turn with a turn_id that commits stores its outcome with the session for such a retry.
//
// Cancellation: a turn cancelled before its result is committed is not committed under
// CANCEL_POLICY_DISCARD (keep_on_cancel false), even if its generation had just ended by
// itself: the client, gone, would otherwise see CANCELLED for a committed turn. Under
// keep_on_cancel a turn that ended by itself before the cancel reached it is committed whole
// and reported OK (the client, gone, sees CANCELLED; a retry with its turn_id replays it). A
// cancel after the commit changes nothing.
#ifndef RWKV_SERVER_TURNS_TURN_RUNNER_H_
#define RWKV_SERVER_TURNS_TURN_RUNNER_H_

#include <atomic>
#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "engine/engine.h"
#include "server/scheduler/generation.h"
#include "server/scheduler/scheduler.h"
#include "server/sessions/session_manager.h"
#include "server/sessions/session_record.h"
#include "server/turns/io_executor.h"
#include "server/turns/state_budget.h"
#include "server/turns/turn_replay.h"
#include "server/turns/turn_request.h"
#include "server/turns/turn_sink.h"

namespace rwkv::server {

// Whether a finished turn's state is complete and becomes the session's next version: always
// when generation ended by itself; after a cancel or deadline (the client's, or a stream it
// stopped reading: StreamStalledError) only with keep_on_cancel and something processed. Any
// other error (drain, engine) rolls back.
bool ShouldCommit(const GenerationResult& result, bool keep_on_cancel);

class TurnRunner final : private GenerationSink {
 public:
  // Shared by every turn; each must outlive the turns that use it.
  struct Services {
    const engine::Engine* engine = nullptr;  // the initial state of a turn without a session
    Scheduler* scheduler = nullptr;
    SessionManager* sessions = nullptr;
    IoExecutor* io = nullptr;
    const Clock* clock = &Clock::Real();
    // The bytes in-flight turns may hold (--max-inflight-state-bytes); null: no byte limit.
    StateBudget* budget = nullptr;
  };

  TurnRunner(const Services& services, TurnSink* sink);
  TurnRunner(const TurnRunner&) = delete;
  TurnRunner& operator=(const TurnRunner&) = delete;

  // Runs the turn; call once. `request` is validated (see turn_request.h); its generation's
  // state is filled in here. Every outcome, errors included, reaches the sink's OnFinished: a
  // turn refused at admission before Start returns, on the caller's thread.
  void Start(TurnRequest request);

  // The client is gone: the turn ends at the next engine step (CANCELLED), or before it is
  // submitted. Any thread, any time.
  void Cancel();
  // The sink has room again: a paused turn may run. Any thread, any time.
  void Wake();

 private:
  // GenerationSink, called by the scheduler on the engine thread.
  bool Ready() const override { return sink_->Ready(); }
  bool Cancelled() const override { return cancelled_.load(std::memory_order_relaxed); }
  void OnDelta(GenerationDelta delta) override {
    if (!turn_id_.empty()) recording_.Add(delta);
    sink_->OnDelta(std::move(delta));
  }
  void OnFinished(GenerationResult result) override;

  // Caller's thread: a place in the queue and the turn's bytes, before anything is loaded.
  absl::Status Admit(const TurnRequest& request);
  // Gives back what Admit took (what Submit has not used up). Before the sink's OnFinished.
  void ReleaseAdmission();
  // I/O thread: begin the session's turn and submit.
  void Begin(TurnRequest request);
  // I/O thread: if `request` retries its session's last committed turn, replays it to the sink
  // (the last call) and returns true.
  bool Replayed(const TurnRequest& request);
  // I/O thread: commit or roll back, then report.
  void Complete(GenerationResult result);
  // Commits or aborts turn_; the committed record, nullopt when nothing was committed.
  absl::StatusOr<std::optional<SessionRecord>> EndTurn(const GenerationResult& result,
                                                       CommittedTurn last_turn);
  // Reports a turn that never reached (or was refused by) the scheduler. Last call.
  void Fail(absl::Status status);

  const Services services_;
  TurnSink* const sink_;
  std::atomic<bool> cancelled_{false};

  // Written by Admit, then used by one thread at a time (Start, Begin, Complete or Fail), ordered
  // like the fields below.
  std::optional<Scheduler::QueuePlace> place_;
  StateBudget::Reservation bytes_;

  // I/O threads only, one at a time: Begin writes these before Submit and Complete reads them
  // after the scheduler hands the result over (Submit and IoExecutor::Post order the two).
  std::optional<SessionManager::Turn> turn_;
  bool keep_on_cancel_ = false;
  absl::Time received_;
  uint64_t seed_ = 0;
  int32_t prompt_tokens_ = -1;
  std::string turn_id_;  // with a session only
  // The deltas, for the session's record when turn_id_ is set: written on the engine thread
  // while the turn runs, read by Complete after the scheduler's hand-over.
  TurnRecording recording_;
};

}  // namespace rwkv::server

#endif  // RWKV_SERVER_TURNS_TURN_RUNNER_H_
