// The scheduler with the real engine (tiny RWKV-7) and in-memory sinks: batching, stop
// conditions, back-pressure, cancellation and drain, without gRPC.
#include "server/scheduler/scheduler.h"

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "absl/status/statusor.h"
#include "engine/tokenizer/byte_tokenizer.h"
#include "tests/fakes/test_sink.h"
#include "tests/util/engine_util.h"
#include "tests/util/shared_data.h"

namespace rwkv::server {
namespace {

using testing::ArgMax;
using testing::TestSink;

class SchedulerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto engine = engine::Engine::Create(
        {rwkv::testing::SharedPath("models/tiny-rwkv-7v0-834K-FP32.bin"), 1});
    ASSERT_TRUE(engine.ok()) << engine.status();
    engine_ = *std::move(engine);
    // The scheduler's engine belongs to its thread; expectations use their own.
    auto reference = engine::Engine::Create(
        {rwkv::testing::SharedPath("models/tiny-rwkv-7v0-834K-FP32.bin"), 1});
    ASSERT_TRUE(reference.ok());
    reference_ = *std::move(reference);
  }

  void StartScheduler(Scheduler::Options options = {}) {
    scheduler_ = std::make_unique<Scheduler>(engine_.get(), &tokenizer_, options);
    scheduler_->Start();
  }

  GenerationRequest Request(const std::string& prompt, int max_tokens) {
    GenerationRequest request;
    request.prompt.assign(prompt.begin(), prompt.end());
    request.state = engine_->InitialState();
    request.sampling.temperature = 0.0f;
    request.max_tokens = max_tokens;
    return request;
  }

  std::vector<int32_t> Greedy(const std::string& prompt, int max_tokens) {
    std::vector<float> state = reference_->InitialState();
    std::vector<int32_t> tokens(prompt.begin(), prompt.end());
    std::vector<int32_t> out;
    auto view = reference_->Forward({{absl::MakeSpan(state), tokens}});
    while (view.ok() && static_cast<int>(out.size()) < max_tokens) {
      const int32_t token = ArgMax(view->Row(0));
      out.push_back(token);
      view = reference_->Forward({{absl::MakeSpan(state), absl::MakeConstSpan(&token, 1)}});
    }
    return out;
  }

  // A sink that outlives the scheduler (so a test that fails early cannot leave the engine thread
  // calling a destroyed sink).
  TestSink& NewSink() {
    sinks_.push_back(std::make_unique<TestSink>(scheduler_.get()));
    return *sinks_.back();
  }

  std::unique_ptr<engine::Engine> engine_;
  std::unique_ptr<engine::Engine> reference_;
  engine::ByteTokenizer tokenizer_;
  std::vector<std::unique_ptr<TestSink>> sinks_;
  std::unique_ptr<Scheduler> scheduler_;
};

TEST_F(SchedulerTest, GreedyMatchesTheEngineAndFeedsTheLastToken) {
  StartScheduler();
  TestSink& sink = NewSink();
  ASSERT_TRUE(scheduler_->Submit(Request("The quick brown fox", 20), &sink).ok());
  absl::StatusOr<GenerationResult> result = sink.WaitForResult();
  ASSERT_TRUE(result.ok()) << result.status();
  ASSERT_TRUE(result->status.ok()) << result->status;
  EXPECT_EQ(sink.tokens(), Greedy("The quick brown fox", 20));
  EXPECT_EQ(result->finish_reason, FinishReason::kLength);
  EXPECT_EQ(result->generated_tokens, 20);
  EXPECT_EQ(result->tokens_in_state, 19 + 20);  // every streamed token is in the state
  EXPECT_EQ(sink.deltas(), 20);
}

TEST_F(SchedulerTest, ManySequencesInSmallBatchesMatchTheirSoloRuns) {
  StartScheduler({/*max_batch_tokens=*/16, /*max_batch_sequences=*/5, 100});
  std::vector<TestSink*> sinks;
  std::vector<std::string> prompts;
  for (int i = 0; i < 12; ++i) {
    prompts.push_back(std::string(3 + 7 * i, 'a' + i) + " and");
    sinks.push_back(&NewSink());
    ASSERT_TRUE(scheduler_->Submit(Request(prompts.back(), 10), sinks.back()).ok());
  }
  for (int i = 0; i < 12; ++i) {
    absl::StatusOr<GenerationResult> result = sinks[i]->WaitForResult();
    ASSERT_TRUE(result.ok()) << i << ": " << result.status();
    ASSERT_TRUE(result->status.ok()) << i << ": " << result->status;
    EXPECT_EQ(sinks[i]->tokens(), Greedy(prompts[i], 10)) << i;
  }
}

TEST_F(SchedulerTest, StopStringIsNeverStreamed) {
  StartScheduler();
  const std::vector<int32_t> greedy = Greedy("The quick brown fox", 30);
  const std::string expected(greedy.begin(), greedy.end());
  // Stop at the second word of the greedy continuation.
  const size_t space = expected.find(' ', 1);
  ASSERT_NE(space, std::string::npos);
  const std::string stop = expected.substr(space, 3);
  GenerationRequest request = Request("The quick brown fox", 30);
  request.stop_strings = {stop};
  TestSink& sink = NewSink();
  ASSERT_TRUE(scheduler_->Submit(std::move(request), &sink).ok());
  absl::StatusOr<GenerationResult> result = sink.WaitForResult();
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->finish_reason, FinishReason::kStop);
  EXPECT_EQ(result->matched_stop, stop);
  EXPECT_EQ(sink.text(), expected.substr(0, expected.find(stop)));
}

TEST_F(SchedulerTest, StopTokenEndsGeneration) {
  StartScheduler();
  const std::vector<int32_t> greedy = Greedy("The quick brown fox", 30);
  GenerationRequest request = Request("The quick brown fox", 30);
  request.stop_tokens = {greedy[3]};
  TestSink& sink = NewSink();
  ASSERT_TRUE(scheduler_->Submit(std::move(request), &sink).ok());
  absl::StatusOr<GenerationResult> result = sink.WaitForResult();
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->finish_reason, FinishReason::kStop);
  const auto first = std::find(greedy.begin(), greedy.end(), greedy[3]);
  EXPECT_EQ(sink.tokens(), std::vector<int32_t>(greedy.begin(), first + 1));
}

TEST_F(SchedulerTest, PausedSinkStallsOnlyItsOwnSequence) {
  StartScheduler();
  TestSink& slow = NewSink();
  TestSink& fast = NewSink();
  slow.Pause();
  ASSERT_TRUE(scheduler_->Submit(Request("slow reader", 50), &slow).ok());
  ASSERT_TRUE(scheduler_->Submit(Request("fast reader", 50), &fast).ok());
  absl::StatusOr<GenerationResult> fast_result = fast.WaitForResult();
  ASSERT_TRUE(fast_result.ok()) << fast_result.status();
  ASSERT_TRUE(fast_result->status.ok()) << fast_result->status;
  EXPECT_FALSE(slow.finished());
  EXPECT_LE(slow.deltas(), 1);  // at most the first token, sampled at the end of its prefill
  slow.Resume();
  absl::StatusOr<GenerationResult> slow_result = slow.WaitForResult();
  ASSERT_TRUE(slow_result.ok()) << slow_result.status();
  ASSERT_TRUE(slow_result->status.ok()) << slow_result->status;
  EXPECT_EQ(slow.tokens(), Greedy("slow reader", 50));
}

TEST_F(SchedulerTest, CancelledSequenceLeavesAndReportsIt) {
  StartScheduler();
  TestSink& sink = NewSink();
  sink.Pause();
  GenerationRequest request = Request("cancel me", 1000);
  request.keep_on_cancel = true;
  ASSERT_TRUE(scheduler_->Submit(std::move(request), &sink).ok());
  ASSERT_TRUE(sink.WaitForDeltas(1)) << "the prompt was never done (no first token)";
  sink.Cancel();
  absl::StatusOr<GenerationResult> result = sink.WaitForResult();
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->status.code(), absl::StatusCode::kCancelled);
  // Kept: the prompt and the streamed token (fed before returning) are in the state.
  EXPECT_EQ(result->generated_tokens, 1);
  EXPECT_EQ(result->tokens_in_state, 9 + 1);
}

// Paused sequences take no batch slot, but all running ones are capped at max_batch_sequences +
// max_queued_requests (their states stay in memory): beyond that requests wait in the queue.
TEST_F(SchedulerTest, QueueBoundAndDrain) {
  StartScheduler({512, /*max_batch_sequences=*/1, /*max_queued_requests=*/1});
  ASSERT_EQ(scheduler_->max_running_sequences(), 2);
  TestSink& stuck = NewSink();
  TestSink& stuck2 = NewSink();
  TestSink& queued = NewSink();
  TestSink& rejected = NewSink();
  stuck.Pause();
  stuck2.Pause();
  ASSERT_TRUE(scheduler_->Submit(Request("stuck", 100), &stuck).ok());
  // Wait until it runs (its first token is out): paused, it leaves its batch slot to the next.
  ASSERT_TRUE(stuck.WaitForDeltas(1)) << "the first request never started";
  ASSERT_TRUE(scheduler_->Submit(Request("stuck2", 100), &stuck2).ok());
  ASSERT_TRUE(stuck2.WaitForDeltas(1)) << "a paused sequence held the only batch slot";
  // Two running (both paused) is the cap, so the next one waits in the queue.
  ASSERT_TRUE(scheduler_->Submit(Request("queued", 3), &queued).ok());
  EXPECT_EQ(scheduler_->Submit(Request("rejected", 3), &rejected).code(),
            absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(scheduler_->stats().running, 2);
  EXPECT_EQ(scheduler_->stats().waiting, 1);
  // The paused sequences cannot finish: the drain times out and rolls them back.
  EXPECT_FALSE(scheduler_->Drain(absl::Milliseconds(200)));
  for (TestSink* sink : {&stuck, &stuck2}) {
    absl::StatusOr<GenerationResult> stuck_result = sink->WaitForResult();
    ASSERT_TRUE(stuck_result.ok()) << stuck_result.status();
    EXPECT_EQ(stuck_result->status.code(), absl::StatusCode::kUnavailable);
  }
  absl::StatusOr<GenerationResult> queued_result = queued.WaitForResult();
  ASSERT_TRUE(queued_result.ok()) << queued_result.status();
  EXPECT_TRUE(queued_result->status.code() == absl::StatusCode::kUnavailable ||
              queued_result->status.ok());
  EXPECT_EQ(scheduler_->Submit(Request("late", 3), &rejected).code(),
            absl::StatusCode::kUnavailable);
}

TEST_F(SchedulerTest, PrefillOnlyWhenMaxTokensIsZero) {
  StartScheduler();
  TestSink& sink = NewSink();
  ASSERT_TRUE(scheduler_->Submit(Request("just remember this", 0), &sink).ok());
  absl::StatusOr<GenerationResult> result = sink.WaitForResult();
  ASSERT_TRUE(result.ok()) << result.status();
  ASSERT_TRUE(result->status.ok());
  EXPECT_EQ(result->generated_tokens, 0);
  EXPECT_EQ(result->tokens_in_state, 18);
  EXPECT_EQ(sink.deltas(), 0);
}

}  // namespace
}  // namespace rwkv::server
