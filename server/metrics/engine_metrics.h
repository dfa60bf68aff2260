// EngineMetrics: what the scheduler reports (engine steps, per-request timings, tokens, finish
// reasons) recorded into Prometheus families of one registry. Handles are created once here;
// the observer calls, on the engine thread, only observe and increment.
//
//   EngineMetrics engine_metrics(registry);
//   Scheduler::Options options;
//   options.observer = &engine_metrics;
#ifndef RWKV_SERVER_METRICS_ENGINE_METRICS_H_
#define RWKV_SERVER_METRICS_ENGINE_METRICS_H_

#include <array>

#include "absl/strings/string_view.h"
#include "prometheus/counter.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"
#include "server/scheduler/scheduler_observer.h"

namespace rwkv::server::metrics {

// How a generation ended, as counted: stop, length, cancelled (client cancel, disconnect or
// deadline) or error (engine failure, or aborted by a shutdown).
enum class FinishOutcome { kStop, kLength, kCancelled, kError };
inline constexpr int kFinishOutcomeCount = 4;
FinishOutcome OutcomeOf(const GenerationResult& result);
// "stop", "length", "cancelled", "error": the `reason` label.
absl::string_view FinishOutcomeLabel(FinishOutcome outcome);

class EngineMetrics final : public SchedulerObserver {
 public:
  explicit EngineMetrics(prometheus::Registry& registry);

  void OnStep(absl::Duration duration, int64_t rows, int64_t sequences) override;
  void OnQueueWait(absl::Duration wait) override;
  void OnPrefill(absl::Duration prefill, int64_t prompt_tokens) override;
  void OnToken(bool first, absl::Duration gap) override;
  void OnFinished(const GenerationResult& result) override;

 private:
  prometheus::Histogram* step_seconds_;
  prometheus::Histogram* batch_rows_;
  prometheus::Histogram* batch_sequences_;
  prometheus::Histogram* queue_seconds_;
  prometheus::Histogram* prefill_seconds_;
  prometheus::Histogram* ttft_seconds_;
  prometheus::Histogram* inter_token_seconds_;
  prometheus::Histogram* prompt_tokens_per_request_;
  prometheus::Histogram* generated_tokens_per_request_;
  prometheus::Counter* prompt_tokens_;
  prometheus::Counter* generated_tokens_;
  std::array<prometheus::Counter*, kFinishOutcomeCount> finished_;  // by FinishOutcome
};

}  // namespace rwkv::server::metrics

#endif  // RWKV_SERVER_METRICS_ENGINE_METRICS_H_
