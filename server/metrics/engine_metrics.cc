#include "server/metrics/engine_metrics.h"

#include <string>

#include "server/metrics/buckets.h"

namespace rwkv::server::metrics {
namespace {

using prometheus::BuildCounter;
using prometheus::BuildHistogram;
using prometheus::Histogram;

Histogram* NewHistogram(prometheus::Registry& registry, const std::string& name,
                        const std::string& help, const Histogram::BucketBoundaries& buckets) {
  return &BuildHistogram().Name(name).Help(help).Register(registry).Add({}, buckets);
}

}  // namespace

FinishOutcome OutcomeOf(const GenerationResult& result) {
  switch (result.status.code()) {
    case absl::StatusCode::kOk:
      return result.finish_reason == FinishReason::kStop ? FinishOutcome::kStop
                                                         : FinishOutcome::kLength;
    case absl::StatusCode::kCancelled:
    case absl::StatusCode::kDeadlineExceeded:
      return FinishOutcome::kCancelled;
    default:
      return FinishOutcome::kError;
  }
}

absl::string_view FinishOutcomeLabel(FinishOutcome outcome) {
  switch (outcome) {
    case FinishOutcome::kStop:
      return "stop";
    case FinishOutcome::kLength:
      return "length";
    case FinishOutcome::kCancelled:
      return "cancelled";
    case FinishOutcome::kError:
      return "error";
  }
  return "error";
}

EngineMetrics::EngineMetrics(prometheus::Registry& registry) {
  step_seconds_ = NewHistogram(registry, "rwkv_engine_step_duration_seconds",
                               "Wall time of one engine step (one batched forward pass).",
                               FineSecondsBuckets());
  batch_rows_ = NewHistogram(registry, "rwkv_batch_rows",
                             "Token rows per engine step (decode tokens plus prompt chunks).",
                             BatchBuckets());
  batch_sequences_ = NewHistogram(registry, "rwkv_batch_sequences",
                                  "Sequences per engine step.", BatchBuckets());
  queue_seconds_ = NewHistogram(registry, "rwkv_queue_wait_seconds",
                                "Time from a Generate call's arrival to its first engine step.",
                                RequestSecondsBuckets());
  prefill_seconds_ = NewHistogram(
      registry, "rwkv_prefill_duration_seconds",
      "Time from a request's first engine step to the end of its prompt.", RequestSecondsBuckets());
  ttft_seconds_ = NewHistogram(registry, "rwkv_time_to_first_token_seconds",
                               "Time from a Generate call's arrival to its first sampled token.",
                               RequestSecondsBuckets());
  inter_token_seconds_ = NewHistogram(
      registry, "rwkv_inter_token_latency_seconds",
      "Time between consecutive sampled tokens of one request.", RequestSecondsBuckets());
  prompt_tokens_per_request_ = NewHistogram(registry, "rwkv_request_prompt_tokens",
                                            "Prompt tokens per generation.", TokenCountBuckets());
  generated_tokens_per_request_ = NewHistogram(
      registry, "rwkv_request_generated_tokens", "Generated tokens per generation.",
      TokenCountBuckets());
  prompt_tokens_ = &BuildCounter()
                        .Name("rwkv_prompt_tokens_total")
                        .Help("Prompt tokens fed to the engine (counted when a prompt completes).")
                        .Register(registry)
                        .Add({});
  generated_tokens_ = &BuildCounter()
                           .Name("rwkv_generated_tokens_total")
                           .Help("Tokens sampled and streamed to clients.")
                           .Register(registry)
                           .Add({});
  auto& finished = BuildCounter()
                       .Name("rwkv_finished_generations_total")
                       .Help("Generations that left the scheduler, by finish reason.")
                       .Register(registry);
  for (int i = 0; i < kFinishOutcomeCount; ++i) {
    const std::string label(FinishOutcomeLabel(static_cast<FinishOutcome>(i)));
    finished_[i] = &finished.Add({{"reason", label}});
  }
}

void EngineMetrics::OnStep(absl::Duration duration, int64_t rows, int64_t sequences) {
  step_seconds_->Observe(absl::ToDoubleSeconds(duration));
  batch_rows_->Observe(static_cast<double>(rows));
  batch_sequences_->Observe(static_cast<double>(sequences));
}

void EngineMetrics::OnQueueWait(absl::Duration wait) {
  queue_seconds_->Observe(absl::ToDoubleSeconds(wait));
}

void EngineMetrics::OnPrefill(absl::Duration prefill, int64_t prompt_tokens) {
  prefill_seconds_->Observe(absl::ToDoubleSeconds(prefill));
  prompt_tokens_->Increment(static_cast<double>(prompt_tokens));
}

void EngineMetrics::OnToken(bool first, absl::Duration gap) {
  (first ? ttft_seconds_ : inter_token_seconds_)->Observe(absl::ToDoubleSeconds(gap));
  generated_tokens_->Increment();
}

void EngineMetrics::OnFinished(const GenerationResult& result) {
  prompt_tokens_per_request_->Observe(result.prompt_tokens);
  generated_tokens_per_request_->Observe(result.generated_tokens);
  finished_[static_cast<int>(OutcomeOf(result))]->Increment();
}

}  // namespace rwkv::server::metrics
