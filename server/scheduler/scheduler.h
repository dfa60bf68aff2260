// Scheduler: continuous batching of every running request onto one engine (design §3).
//
//   Scheduler scheduler(engine.get(), tokenizer.get(), options);
//   scheduler.Start();
//   RWKV_RETURN_IF_ERROR(scheduler.Submit(std::move(request), sink));  // then sink gets events
//   ...
//   scheduler.Drain(absl::Seconds(30));   // on SIGTERM
//
// One engine thread owns the engine and every sequence. Each step it takes one token from every
// decoding sequence, then fills the rest of the token budget (max_batch_tokens) with prompt
// chunks of sequences still prefilling, up to max_batch_sequences sequences, and runs a single
// engine Forward over all of them. It samples every sequence's next token at once on the
// engine's threads (Engine::ParallelFor; each sequence's sampler is its own), streams each to its
// sink in order on its own thread, and retires sequences that are done. A sequence whose sink is
// full (slow reader) sits out steps until the sink calls Wake; cancelled or expired requests
// leave at the next step. Queued requests are swept every loop too, even when none can be
// admitted: one cancelled or past its deadline leaves the queue at once and is reported
// (CANCELLED / DEADLINE_EXCEEDED, nothing processed), so its caller can release what it holds
// (the session's turn) without waiting for a place. The loop never sleeps longer than a short
// poll while anything runs, and with nothing running the queue is admitted, so no queued
// deadline waits for a step.
//
// Paused sequences do not take batch capacity: requests are admitted while fewer than
// max_batch_sequences running sequences are runnable, and at most max_batch_sequences of them
// take part in one step (in turn, when more are runnable). Paused sequences keep their state in
// memory (nothing is evicted), so all running ones together are capped at max_batch_sequences +
// max_queued_requests. A sequence paused for stall_timeout (its client stopped reading) is
// ended with StreamStalledError and follows its keep_on_cancel policy, like a cancellation.
// Waiting requests and places reserved for requests still being prepared (ReservePlace, taken
// before a session's state is loaded) are together at most max_queued_requests.
//
// Ownership: after Submit succeeds, the scheduler owns the request and calls the sink's OnFinished
// exactly once; the sink must stay alive until then. After Submit fails, the caller keeps the
// sink and nothing is called on it.
//
// Threading: Submit, Wake, Drain and stats may be called from any thread.
#ifndef RWKV_SERVER_SCHEDULER_SCHEDULER_H_
#define RWKV_SERVER_SCHEDULER_SCHEDULER_H_

#include <cstdint>
#include <deque>
#include <memory>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "engine/engine.h"
#include "engine/tokenizer/tokenizer.h"
#include "server/scheduler/generation.h"
#include "server/scheduler/scheduler_observer.h"
#include "server/scheduler/sequence.h"

namespace rwkv::server {

class Scheduler {
 public:
  struct Options {
    int64_t max_batch_tokens = 512;   // rows per engine step
    int max_batch_sequences = 64;     // sequences per engine step (runnable at once)
    int max_queued_requests = 256;    // accepted but not yet running
    // Told about steps and per-request timings on the engine thread; null: nobody. Must outlive
    // the scheduler.
    SchedulerObserver* observer = nullptr;
    // Where step times and request timings are read; requests' `received` should come from the
    // same clock. Waiting (the idle poll, Drain's timeout) stays on real time. Must outlive the
    // scheduler.
    const Clock* clock = &Clock::Real();
    // How long a sequence may stay paused (its sink full) before it is ended with
    // StreamStalledError; zero or infinite: never. Read on `clock`.
    absl::Duration stall_timeout = absl::Seconds(60);
  };

  struct Stats {
    int running = 0;
    int waiting = 0;
  };

  // A place in the queue, taken before the request exists (its state is still to be loaded), so
  // that a full queue refuses a request before it costs a store read. Submit with a place is
  // never refused for a full queue; a place dropped unused is given back. Move-only; the
  // scheduler must outlive it.
  class QueuePlace {
   public:
    QueuePlace() = default;
    QueuePlace(QueuePlace&& other) noexcept
        : scheduler_(std::exchange(other.scheduler_, nullptr)) {}
    QueuePlace& operator=(QueuePlace&& other) noexcept;
    QueuePlace(const QueuePlace&) = delete;
    QueuePlace& operator=(const QueuePlace&) = delete;
    ~QueuePlace();

   private:
    friend class Scheduler;
    explicit QueuePlace(Scheduler* scheduler) : scheduler_(scheduler) {}
    Scheduler* scheduler_ = nullptr;
  };

  Scheduler(engine::Engine* engine, const engine::Tokenizer* tokenizer, Options options);
  ~Scheduler();  // ends anything still running with UNAVAILABLE, then stops the thread

  void Start();

  // RESOURCE_EXHAUSTED when max_queued_requests are already waiting (or hold places, see
  // ReservePlace); UNAVAILABLE while draining;
  // INVALID_ARGUMENT when the state does not fit the model or the sampling options are invalid.
  absl::Status Submit(GenerationRequest request, GenerationSink* sink);
  // The same in a place taken by ReservePlace: never RESOURCE_EXHAUSTED; the place is used up
  // (on success) or given back (on any error).
  absl::Status Submit(GenerationRequest request, GenerationSink* sink, QueuePlace place);
  // A place in the queue: RESOURCE_EXHAUSTED when max_queued_requests requests are waiting or
  // hold places, UNAVAILABLE while draining.
  absl::StatusOr<QueuePlace> ReservePlace();

  // A paused sequence's sink has room again.
  void Wake();

  // Stops admitting new requests and waits up to `timeout` for every accepted one to finish;
  // the rest are ended with UNAVAILABLE (nothing kept). True if everything finished in time.
  bool Drain(absl::Duration timeout);
  // Ends a Drain's wait now, as if its timeout had passed (a second SIGTERM). Any thread; also
  // before Drain, which then does not wait.
  void CutDrainShort();

  Stats stats() const;

  // All running sequences, paused ones included, are capped at this.
  int max_running_sequences() const {
    return options_.max_batch_sequences + options_.max_queued_requests;
  }

 private:
  struct Step;

  void Loop();
  // Moves queued requests into the running set; false when the loop should exit.
  bool AdmitOrWait();
  // Ends queued requests that were cancelled, are past their deadline or must be aborted, and
  // reports them at once (moved to running_ as done, then retired).
  void SweepQueue(absl::Time now);
  void CheckCancellations(absl::Time now);
  bool RunStep();
  // Samples the next token of every sequence of the step just run that wants one.
  void DrawTokens(const engine::LogitsView& logits);
  void Retire(absl::Time now);
  // RESOURCE_EXHAUSTED when no place is left in the queue.
  absl::Status CheckQueueRoom() const ABSL_SHARED_LOCKS_REQUIRED(mu_);
  void GiveBackPlace() ABSL_LOCKS_EXCLUDED(mu_);

  engine::Engine* const engine_;
  const engine::Tokenizer* const tokenizer_;
  const Options options_;
  const Clock& clock_;
  SchedulerObserver& observer_;  // options_.observer, or one that ignores everything

  mutable absl::Mutex mu_;
  std::deque<std::unique_ptr<Sequence>> queue_ ABSL_GUARDED_BY(mu_);
  int running_count_ ABSL_GUARDED_BY(mu_) = 0;
  bool woken_ ABSL_GUARDED_BY(mu_) = false;
  bool draining_ ABSL_GUARDED_BY(mu_) = false;
  bool drain_cut_short_ ABSL_GUARDED_BY(mu_) = false;
  bool abort_all_ ABSL_GUARDED_BY(mu_) = false;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  int reserved_places_ ABSL_GUARDED_BY(mu_) = 0;  // QueuePlaces not yet used or given back

  // Engine thread only.
  std::vector<std::unique_ptr<Sequence>> running_;
  std::vector<engine::SequenceInput> inputs_;
  std::vector<Sequence*> stepped_;
  std::vector<size_t> drawing_;  // indices into stepped_ that sample this step
  std::vector<Sequence*> queued_;  // SweepQueue's snapshot of queue_
  size_t rotation_ = 0;  // where RunStep starts in running_, so that no runnable one starves
  std::thread thread_;
};

}  // namespace rwkv::server

#endif  // RWKV_SERVER_SCHEDULER_SCHEDULER_H_
