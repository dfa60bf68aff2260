// SchedulerObserver: what the engine loop reports as it happens, for metrics, without knowing
// who listens (server/metrics implements it; the scheduler stays free of Prometheus).
//
//   class MyMetrics : public SchedulerObserver {
//     void OnStep(absl::Duration d, int64_t rows, int64_t sequences) override { ... }
//   };
//   Scheduler::Options options;
//   options.observer = &my_metrics;   // must outlive the scheduler
//
// Every method is called on the engine thread: it must be cheap and must never block. The
// defaults do nothing, so an observer overrides only what it needs.
#ifndef RWKV_SERVER_SCHEDULER_SCHEDULER_OBSERVER_H_
#define RWKV_SERVER_SCHEDULER_SCHEDULER_OBSERVER_H_

#include <cstdint>

#include "absl/time/time.h"
#include "server/scheduler/generation.h"

namespace rwkv::server {

class SchedulerObserver {
 public:
  virtual ~SchedulerObserver() = default;

  // One engine step: its wall time, the token rows it ran and the sequences they belong to.
  virtual void OnStep(absl::Duration duration, int64_t rows, int64_t sequences) {}
  // A sequence starts its first step, `wait` after its request was received.
  virtual void OnQueueWait(absl::Duration wait) {}
  // A sequence's whole prompt has been fed, `prefill` after its first step started.
  virtual void OnPrefill(absl::Duration prefill, int64_t prompt_tokens) {}
  // A token was sampled (and is being streamed). For a request's first token `gap` runs from
  // the request's arrival (time to first token), for the others from the previous token.
  virtual void OnToken(bool first, absl::Duration gap) {}
  // A sequence leaves the scheduler with `result` (its sink's OnFinished follows).
  virtual void OnFinished(const GenerationResult& result) {}
};

}  // namespace rwkv::server

#endif  // RWKV_SERVER_SCHEDULER_SCHEDULER_OBSERVER_H_
