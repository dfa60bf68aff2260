// The scheduler samples every sequence of a step through Engine::ParallelFor, so that the
// engine's threads share the draws. Each sequence's sampler is its own: drawn on several threads,
// out of order, a seeded request gets exactly the tokens it gets when they are drawn one by one,
// and the state holds them. Under TSan (label `concurrency`) this also checks that concurrent
// draws touch nothing shared.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/tokenizer/byte_tokenizer.h"
#include "gtest/gtest.h"
#include "server/scheduler/scheduler.h"
#include "tests/fakes/fake_engine.h"
#include "tests/fakes/test_sink.h"
#include "tests/util/wait_for.h"

namespace rwkv::server {
namespace {

using testing::FakeEngine;
using testing::TestSink;

constexpr int kSequences = 12;
constexpr int kMaxTokens = 24;

struct Outcome {
  std::vector<std::vector<int32_t>> tokens;   // per request, as streamed
  std::vector<std::vector<int32_t>> history;  // per request, what its state was fed
  int64_t most_parallel_tasks = 0;
};

// kSequences seeded requests, sampled at temperature 1 with penalties (so that each sampler's
// Accept matters), through a scheduler whose engine runs ParallelFor on `task_threads` threads.
Outcome Generate(int task_threads) {
  FakeEngine engine;
  engine.RunTasksOnThreads(task_threads);
  engine::ByteTokenizer tokenizer;
  std::vector<std::unique_ptr<TestSink>> sinks;  // outlive the scheduler
  Scheduler scheduler(&engine, &tokenizer, {});
  for (int i = 0; i < kSequences; ++i) {
    GenerationRequest request;
    request.prompt = {'A' + i, 'x'};
    request.state = engine.InitialState();
    request.sampling.temperature = 1.0f;
    request.sampling.top_p = i % 2 == 0 ? 0.9f : 1.0f;
    request.sampling.presence_penalty = 0.5f;
    request.sampling.seed = 1000 + static_cast<uint64_t>(i);
    request.max_tokens = kMaxTokens;
    request.received = absl::Now();
    sinks.push_back(std::make_unique<TestSink>(&scheduler));
    EXPECT_TRUE(scheduler.Submit(std::move(request), sinks.back().get()).ok());
  }
  scheduler.Start();
  Outcome outcome;
  for (const auto& sink : sinks) {
    absl::StatusOr<GenerationResult> result = sink->WaitForResult();
    if (!result.ok() || !result->status.ok()) {
      ADD_FAILURE() << (result.ok() ? result->status : result.status());
      continue;
    }
    outcome.tokens.push_back(sink->tokens());
    outcome.history.push_back(FakeEngine::History(result->state));
  }
  EXPECT_TRUE(scheduler.Drain(testing::kWaitLimit));
  outcome.most_parallel_tasks = engine.most_parallel_tasks();
  return outcome;
}

TEST(SchedulerSamplingTest, DrawsOnManyThreadsAreTheDrawsOnOne) {
  const Outcome serial = Generate(1);
  const Outcome parallel = Generate(4);
  ASSERT_EQ(serial.tokens.size(), static_cast<size_t>(kSequences));
  ASSERT_EQ(parallel.tokens.size(), static_cast<size_t>(kSequences));
  // All the sequences sampled in the same steps: each step's draws were handed out together.
  EXPECT_EQ(parallel.most_parallel_tasks, kSequences);
  for (int i = 0; i < kSequences; ++i) {
    ASSERT_EQ(serial.tokens[i].size(), static_cast<size_t>(kMaxTokens)) << i;
    EXPECT_EQ(parallel.tokens[i], serial.tokens[i]) << "request " << i;
    // The state was fed the prompt and every streamed token, in order.
    std::vector<int32_t> fed = {'A' + i, 'x'};
    fed.insert(fed.end(), parallel.tokens[i].begin(), parallel.tokens[i].end());
    EXPECT_EQ(parallel.history[i], fed) << "request " << i;
  }
  // Seeds differ, so the requests' draws do too (the test would prove little otherwise).
  EXPECT_NE(serial.tokens[0], serial.tokens[2]);
}

}  // namespace
}  // namespace rwkv::server
