// The scheduler's reports turned into metrics: after known work (the real engine, tiny RWKV-7)
// every counter and histogram count reads exactly what was done.
#include "server/metrics/engine_metrics.h"

#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "absl/synchronization/notification.h"
#include "engine/tokenizer/byte_tokenizer.h"
#include "prometheus/registry.h"
#include "server/scheduler/scheduler.h"
#include "tests/server/metrics/metric_values.h"
#include "tests/util/shared_data.h"

namespace rwkv::server::metrics {
namespace {

using rwkv::testing::HistogramCount;
using rwkv::testing::HistogramSum;
using rwkv::testing::MetricValue;

class Sink final : public GenerationSink {
 public:
  explicit Sink(bool cancelled = false) : cancelled_(cancelled) {}
  bool Ready() const override { return true; }
  bool Cancelled() const override { return cancelled_; }
  void OnDelta(GenerationDelta delta) override {}
  void OnFinished(GenerationResult result) override {
    result_ = std::move(result);
    done_.Notify();
  }
  const GenerationResult& Wait() {
    done_.WaitForNotification();
    return result_;
  }

 private:
  const bool cancelled_;
  GenerationResult result_;
  absl::Notification done_;
};

class EngineMetricsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto engine = engine::Engine::Create(
        {rwkv::testing::SharedPath("models/tiny-rwkv-7v0-834K-FP32.bin"), 1});
    ASSERT_TRUE(engine.ok()) << engine.status();
    engine_ = *std::move(engine);
    // Small batches, so that prompts are split into chunks and sequences wait for slots.
    scheduler_ = std::make_unique<Scheduler>(
        engine_.get(), &tokenizer_, Scheduler::Options{16, 3, 100, &metrics_});
    scheduler_->Start();
  }

  GenerationRequest Request(int prompt_tokens, int max_tokens) {
    GenerationRequest request;
    request.prompt.assign(prompt_tokens, 'a');
    request.state = engine_->InitialState();
    request.sampling.temperature = 0.0f;
    request.max_tokens = max_tokens;
    return request;
  }

  prometheus::Registry registry_;
  EngineMetrics metrics_{registry_};
  std::unique_ptr<engine::Engine> engine_;
  engine::ByteTokenizer tokenizer_;
  std::unique_ptr<Scheduler> scheduler_;
};

TEST_F(EngineMetricsTest, CountsAfterKnownWorkAreExact) {
  constexpr int kRequests = 7;
  std::vector<std::unique_ptr<Sink>> sinks;
  int64_t prompt_total = 0, generated_total = 0;
  for (int i = 0; i < kRequests; ++i) {
    const int prompt = 3 + 5 * i, generated = 2 + i;  // no stop tokens: exactly max_tokens
    prompt_total += prompt;
    generated_total += generated;
    sinks.push_back(std::make_unique<Sink>());
    ASSERT_TRUE(scheduler_->Submit(Request(prompt, generated), sinks.back().get()).ok());
  }
  for (auto& sink : sinks) ASSERT_TRUE(sink->Wait().status.ok());
  scheduler_.reset();  // the last OnFinished has returned

  EXPECT_EQ(MetricValue(registry_, "rwkv_prompt_tokens_total"), prompt_total);
  EXPECT_EQ(MetricValue(registry_, "rwkv_generated_tokens_total"), generated_total);
  EXPECT_EQ(HistogramCount(registry_, "rwkv_time_to_first_token_seconds"), kRequests);
  EXPECT_EQ(HistogramCount(registry_, "rwkv_inter_token_latency_seconds"),
            generated_total - kRequests);
  EXPECT_EQ(HistogramCount(registry_, "rwkv_queue_wait_seconds"), kRequests);
  EXPECT_EQ(HistogramCount(registry_, "rwkv_prefill_duration_seconds"), kRequests);
  EXPECT_EQ(HistogramCount(registry_, "rwkv_request_prompt_tokens"), kRequests);
  EXPECT_EQ(HistogramSum(registry_, "rwkv_request_prompt_tokens"), prompt_total);
  EXPECT_EQ(HistogramSum(registry_, "rwkv_request_generated_tokens"), generated_total);
  EXPECT_EQ(MetricValue(registry_, "rwkv_finished_generations_total", {{"reason", "length"}}),
            kRequests);
  for (const char* reason : {"stop", "cancelled", "error"}) {
    EXPECT_EQ(MetricValue(registry_, "rwkv_finished_generations_total", {{"reason", reason}}), 0)
        << reason;
  }
  // Every prompt token and every generated token (the last one too) is one row of some step.
  EXPECT_EQ(HistogramSum(registry_, "rwkv_batch_rows"), prompt_total + generated_total);
  const int64_t steps = HistogramCount(registry_, "rwkv_engine_step_duration_seconds");
  EXPECT_GE(steps, (prompt_total + generated_total + 15) / 16);
  EXPECT_EQ(HistogramCount(registry_, "rwkv_batch_rows"), steps);
  EXPECT_EQ(HistogramCount(registry_, "rwkv_batch_sequences"), steps);
  EXPECT_GT(HistogramSum(registry_, "rwkv_engine_step_duration_seconds"), 0);
  EXPECT_GT(HistogramSum(registry_, "rwkv_time_to_first_token_seconds"), 0);
}

TEST_F(EngineMetricsTest, FinishReasonsStopAndCancelled) {
  Sink stopped, cancelled(/*cancelled=*/true);
  GenerationRequest stop = Request(4, 50);
  for (int32_t token = 0; token < 256; ++token) stop.stop_tokens.push_back(token);
  ASSERT_TRUE(scheduler_->Submit(std::move(stop), &stopped).ok());
  ASSERT_TRUE(scheduler_->Submit(Request(4, 50), &cancelled).ok());
  EXPECT_EQ(stopped.Wait().finish_reason, FinishReason::kStop);
  EXPECT_EQ(cancelled.Wait().status.code(), absl::StatusCode::kCancelled);
  scheduler_.reset();

  EXPECT_EQ(MetricValue(registry_, "rwkv_finished_generations_total", {{"reason", "stop"}}), 1);
  EXPECT_EQ(MetricValue(registry_, "rwkv_finished_generations_total", {{"reason", "cancelled"}}),
            1);
  EXPECT_EQ(MetricValue(registry_, "rwkv_generated_tokens_total"), 1);  // the stop token
  EXPECT_EQ(HistogramCount(registry_, "rwkv_time_to_first_token_seconds"), 1);
  EXPECT_EQ(HistogramCount(registry_, "rwkv_request_generated_tokens"), 2);
}

TEST(FinishOutcomeTest, StatusesMapToTheFourReasons) {
  GenerationResult result;
  result.finish_reason = FinishReason::kStop;
  EXPECT_EQ(OutcomeOf(result), FinishOutcome::kStop);
  result.finish_reason = FinishReason::kLength;
  EXPECT_EQ(OutcomeOf(result), FinishOutcome::kLength);
  result.status = absl::DeadlineExceededError("late");
  EXPECT_EQ(OutcomeOf(result), FinishOutcome::kCancelled);
  result.status = absl::CancelledError("gone");
  EXPECT_EQ(OutcomeOf(result), FinishOutcome::kCancelled);
  result.status = absl::UnavailableError("shut down");
  EXPECT_EQ(OutcomeOf(result), FinishOutcome::kError);
  result.status = absl::InternalError("engine");
  EXPECT_EQ(FinishOutcomeLabel(OutcomeOf(result)), "error");
}

}  // namespace
}  // namespace rwkv::server::metrics
