// The scheduler over a scripted FakeEngine and a FakeClock: engine failures mid-batch, stop
// handling, the exact batching order, paused sinks, and timings and deadlines on the injected
// clock. Requests are submitted before Start(), so the first admission sees all of them and
// every Forward is deterministic.
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "engine/tokenizer/byte_tokenizer.h"
#include "server/scheduler/scheduler.h"
#include "tests/fakes/fake_clock.h"
#include "tests/fakes/fake_engine.h"
#include "tests/fakes/test_sink.h"
#include "tests/util/engine_util.h"
#include "tests/util/wait_for.h"

namespace rwkv::server {
namespace {

using testing::ArgMax;
using testing::FakeClock;
using testing::FakeEngine;
using testing::TestSink;
using testing::WaitFor;
using testing::kWaitLimit;

std::vector<int32_t> Bytes(absl::string_view text) { return {text.begin(), text.end()}; }

// One call as "A4L B4N": per sequence, its first token (a letter), the tokens it fed and the
// logits it asked for (None, Last, All).
std::string Describe(const FakeEngine::Call& call) {
  std::vector<std::string> parts;
  for (const FakeEngine::Input& input : call.inputs) {
    const char mode = input.logits == engine::LogitsMode::kNone   ? 'N'
                      : input.logits == engine::LogitsMode::kLast ? 'L'
                                                                  : 'A';
    parts.push_back(absl::StrCat(std::string(1, static_cast<char>(input.first_token)),
                                 input.tokens.size(), std::string(1, mode)));
  }
  return absl::StrJoin(parts, " ");
}

std::vector<std::string> Describe(const std::vector<FakeEngine::Call>& calls) {
  std::vector<std::string> out;
  for (const FakeEngine::Call& call : calls) out.push_back(Describe(call));
  return out;
}

// Records the timings the scheduler reports (on its thread; read from the test's).
class RecordingObserver final : public SchedulerObserver {
 public:
  void OnStep(absl::Duration duration, int64_t rows, int64_t sequences) override {
    absl::MutexLock lock(&mu_);
    steps_.push_back(duration);
  }
  void OnQueueWait(absl::Duration wait) override {
    absl::MutexLock lock(&mu_);
    queue_waits_.push_back(wait);
  }
  std::vector<absl::Duration> steps() const {
    absl::MutexLock lock(&mu_);
    return steps_;
  }
  std::vector<absl::Duration> queue_waits() const {
    absl::MutexLock lock(&mu_);
    return queue_waits_;
  }

 private:
  mutable absl::Mutex mu_;
  std::vector<absl::Duration> steps_ ABSL_GUARDED_BY(mu_);
  std::vector<absl::Duration> queue_waits_ ABSL_GUARDED_BY(mu_);
};

// The fakes themselves: what the tests below rely on.
TEST(FakeEngineTest, FollowsItsScriptFeedsTheStateAndFailsWithoutTouchingIt) {
  FakeEngine engine;
  engine.Script(Bytes("hi"), Bytes("!?"));
  std::vector<float> state = engine.InitialState();
  const std::vector<int32_t> prompt = Bytes("hi");
  absl::StatusOr<engine::LogitsView> view =
      engine.Forward({{absl::MakeSpan(state), prompt, engine::LogitsMode::kAll}});
  ASSERT_TRUE(view.ok()) << view.status();
  EXPECT_EQ(view->RowCount(0), 2);
  EXPECT_EQ(ArgMax(view->Row(0, 1)), '!');
  EXPECT_EQ(FakeEngine::History(state), prompt);

  const int32_t next = '!';
  engine.FailNextForward(absl::UnavailableError("injected"));
  EXPECT_EQ(engine.Forward({{absl::MakeSpan(state), absl::MakeConstSpan(&next, 1)}}).status(),
            absl::UnavailableError("injected"));
  EXPECT_EQ(FakeEngine::History(state), prompt);
  view = engine.Forward({{absl::MakeSpan(state), absl::MakeConstSpan(&next, 1)}});
  ASSERT_TRUE(view.ok()) << view.status();
  EXPECT_EQ(ArgMax(view->Row(0)), '?');
  EXPECT_EQ(FakeEngine::History(state), Bytes("hi!"));
  EXPECT_EQ(engine.call_count(), 3);
  EXPECT_EQ(engine.calls()[1].status.code(), absl::StatusCode::kUnavailable);
}

TEST(TestSinkTest, WaitsFailWithAMessageInsteadOfHanging) {
  TestSink sink;
  absl::StatusOr<GenerationResult> result = sink.WaitForResult(absl::Milliseconds(10));
  EXPECT_EQ(result.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_TRUE(absl::StrContains(result.status().message(), "no OnFinished")) << result.status();
  EXPECT_FALSE(sink.WaitForDeltas(1, absl::Milliseconds(10)));
}

class SchedulerFakeEngineTest : public ::testing::Test {
 protected:
  // A failed test must not leave the engine thread parked at a hold (the scheduler joins it).
  void TearDown() override { engine_.Release(); }

  // The scheduler is started by the test, once its requests are in.
  void Create(Scheduler::Options options = {}) {
    options.clock = &clock_;
    options.observer = &observer_;
    scheduler_ = std::make_unique<Scheduler>(&engine_, &tokenizer_, options);
  }

  GenerationRequest Request(absl::string_view prompt, int max_tokens) {
    GenerationRequest request;
    request.prompt = Bytes(prompt);
    request.state = engine_.InitialState();
    request.sampling.temperature = 0.0f;
    request.max_tokens = max_tokens;
    request.received = clock_.Now();
    return request;
  }

  // A sink that outlives the scheduler, so that a failed test cannot leave it dangling.
  TestSink& NewSink() {
    sinks_.push_back(std::make_unique<TestSink>(scheduler_.get()));
    return *sinks_.back();
  }

  // The sink's result; a failure naming the wait (and a DEADLINE_EXCEEDED result) if none came.
  static GenerationResult AwaitResult(const TestSink& sink) {
    absl::StatusOr<GenerationResult> result = sink.WaitForResult();
    if (result.ok()) return *std::move(result);
    ADD_FAILURE() << result.status();
    GenerationResult none;
    none.status = result.status();
    return none;
  }

  FakeEngine engine_;
  FakeClock clock_;
  RecordingObserver observer_;
  engine::ByteTokenizer tokenizer_;
  std::vector<std::unique_ptr<TestSink>> sinks_;
  std::unique_ptr<Scheduler> scheduler_;
};

TEST_F(SchedulerFakeEngineTest, EngineFailureEndsItsBatchAndTheSchedulerKeepsServing) {
  Create({/*max_batch_tokens=*/512, /*max_batch_sequences=*/2, /*max_queued_requests=*/16});
  engine_.Script(Bytes("A"), Bytes("xyzzy"));
  engine_.Script(Bytes("B"), Bytes("pqrst"));
  engine_.Script(Bytes("C"), Bytes("123"));
  engine_.FailForwardAt(2, absl::UnavailableError("device lost"));
  TestSink& a = NewSink();
  TestSink& b = NewSink();
  TestSink& c = NewSink();
  ASSERT_TRUE(scheduler_->Submit(Request("A", 5), &a).ok());
  ASSERT_TRUE(scheduler_->Submit(Request("B", 5), &b).ok());
  ASSERT_TRUE(scheduler_->Submit(Request("C", 3), &c).ok());  // waits: two run at a time
  scheduler_->Start();

  // A and B were in the failed step: both end with INTERNAL, their states as the last good step
  // left them (the engine modifies no state on error).
  for (auto [sink, prompt] : {std::pair{&a, "A"}, std::pair{&b, "B"}}) {
    const GenerationResult result = AwaitResult(*sink);
    EXPECT_EQ(result.status.code(), absl::StatusCode::kInternal) << prompt << result.status;
    EXPECT_TRUE(absl::StrContains(result.status.message(), "device lost")) << result.status;
    EXPECT_EQ(result.finish_reason, FinishReason::kNone);
    EXPECT_EQ(result.generated_tokens, 2) << prompt;
    EXPECT_EQ(result.tokens_in_state, 2) << prompt;
    ASSERT_EQ(sink->tokens().size(), 2u) << prompt;
    EXPECT_EQ(FakeEngine::History(result.state),
              (std::vector<int32_t>{prompt[0], sink->tokens()[0]}));
  }
  // C was queued, not in that step: it runs to the end afterwards.
  const GenerationResult c_result = AwaitResult(c);
  ASSERT_TRUE(c_result.status.ok()) << c_result.status;
  EXPECT_EQ(c.text(), "123");
  EXPECT_EQ(FakeEngine::History(c_result.state), Bytes("C123"));

  // And a request submitted after the failure is served normally.
  engine_.Script(Bytes("D"), Bytes("ok"));
  TestSink& d = NewSink();
  ASSERT_TRUE(scheduler_->Submit(Request("D", 2), &d).ok());
  const GenerationResult d_result = AwaitResult(d);
  ASSERT_TRUE(d_result.status.ok()) << d_result.status;
  EXPECT_EQ(d.text(), "ok");

  const std::vector<FakeEngine::Call> calls = engine_.calls();
  ASSERT_GE(calls.size(), 4u);
  EXPECT_EQ(calls[2].status.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(Describe(calls[2]), "A1L B1L");
  for (size_t i = 3; i < calls.size(); ++i) {
    for (const FakeEngine::Input& input : calls[i].inputs) {
      EXPECT_TRUE(input.first_token == 'C' || input.first_token == 'D') << Describe(calls[i]);
    }
  }
  ASSERT_TRUE(scheduler_->Drain(testing::kWaitLimit)) << "the scheduler did not go idle";
  for (const TestSink* sink : {&a, &b, &c, &d}) EXPECT_EQ(sink->finished_calls(), 1);
}

TEST_F(SchedulerFakeEngineTest, StopTokenEndsWithStopAndIsFedIntoTheState) {
  Create();
  engine_.Script(Bytes("P"), Bytes("xyz!"));
  GenerationRequest request = Request("P", 10);
  request.stop_tokens = {'z'};
  TestSink& sink = NewSink();
  ASSERT_TRUE(scheduler_->Submit(std::move(request), &sink).ok());
  scheduler_->Start();
  const GenerationResult result = AwaitResult(sink);
  ASSERT_TRUE(result.status.ok()) << result.status;
  EXPECT_EQ(result.finish_reason, FinishReason::kStop);
  EXPECT_EQ(result.matched_stop, "token 122");
  EXPECT_EQ(sink.tokens(), Bytes("xyz"));  // the stop token is streamed as an id, not as text
  EXPECT_EQ(sink.text(), "xy");
  EXPECT_EQ(result.generated_tokens, 3);
  // Documented in sequence.h (kFinishing): the state has seen every token the client received.
  EXPECT_EQ(result.tokens_in_state, 1 + 3);
  EXPECT_EQ(FakeEngine::History(result.state), Bytes("Pxyz"));
}

TEST_F(SchedulerFakeEngineTest, StopStringAcrossTokensIsNeverStreamed) {
  Create();
  engine_.Script(Bytes("Q"), Bytes("ab<END>cd"));
  GenerationRequest request = Request("Q", 20);
  request.stop_strings = {"<END>"};
  TestSink& sink = NewSink();
  ASSERT_TRUE(scheduler_->Submit(std::move(request), &sink).ok());
  scheduler_->Start();
  const GenerationResult result = AwaitResult(sink);
  ASSERT_TRUE(result.status.ok()) << result.status;
  EXPECT_EQ(result.finish_reason, FinishReason::kStop);
  EXPECT_EQ(result.matched_stop, "<END>");
  EXPECT_EQ(sink.text(), "ab");
  for (const std::string& text : sink.delta_texts()) {
    EXPECT_FALSE(absl::StrContains(text, "<")) << "part of the stop string streamed: " << text;
  }
  EXPECT_EQ(sink.tokens(), Bytes("ab<END>"));
  EXPECT_EQ(result.generated_tokens, 7);
  EXPECT_EQ(result.tokens_in_state, 1 + 7);
  EXPECT_EQ(FakeEngine::History(result.state), Bytes("Qab<END>"));
}

TEST_F(SchedulerFakeEngineTest, MaxTokensEndsWithLength) {
  Create();
  engine_.Script(Bytes("L"), Bytes("123456"));
  TestSink& sink = NewSink();
  ASSERT_TRUE(scheduler_->Submit(Request("L", 4), &sink).ok());
  scheduler_->Start();
  const GenerationResult result = AwaitResult(sink);
  ASSERT_TRUE(result.status.ok()) << result.status;
  EXPECT_EQ(result.finish_reason, FinishReason::kLength);
  EXPECT_EQ(result.matched_stop, "");
  EXPECT_EQ(sink.text(), "1234");
  EXPECT_EQ(result.generated_tokens, 4);
  EXPECT_EQ(result.tokens_in_state, 1 + 4);
  EXPECT_EQ(FakeEngine::History(result.state), Bytes("L1234"));
}

TEST_F(SchedulerFakeEngineTest, DecodeRowsFirstThenPromptChunksAndFifoAdmission) {
  Create({/*max_batch_tokens=*/8, /*max_batch_sequences=*/2, /*max_queued_requests=*/16});
  TestSink& a = NewSink();
  TestSink& b = NewSink();
  TestSink& c = NewSink();
  TestSink& d = NewSink();
  ASSERT_TRUE(scheduler_->Submit(Request("Aaaa", 3), &a).ok());
  ASSERT_TRUE(scheduler_->Submit(Request("B" + std::string(19, 'b'), 2), &b).ok());
  ASSERT_TRUE(scheduler_->Submit(Request("Cc", 1), &c).ok());
  ASSERT_TRUE(scheduler_->Submit(Request("Dd", 1), &d).ok());
  scheduler_->Start();
  for (const TestSink* sink : {&a, &b, &c, &d}) {
    const GenerationResult result = AwaitResult(*sink);
    EXPECT_TRUE(result.status.ok()) << result.status;
  }
  // Budget 8 rows, 2 sequences: one token per decoding (or finishing) sequence first, then the
  // prompts in order, B's 20 tokens in chunks of what is left; C only once A has left, D once B
  // has.
  EXPECT_EQ(Describe(engine_.calls()), (std::vector<std::string>{
                                           "A4L B4N",  // both prompts, B's first chunk
                                           "A1L B7N",  // A decodes, B gets the other 7 rows
                                           "A1L B7N",
                                           "A1N B2L",  // A feeds its last token; B's prompt ends
                                           "B1L C2L",  // A left: C is admitted
                                           "B1N C1N",
                                           "D2L",  // B and C left: D is admitted
                                           "D1N",
                                       }));
}

TEST_F(SchedulerFakeEngineTest, PausedSinkSitsOutStepsUntilWoken) {
  Create();
  TestSink& slow = NewSink();
  TestSink& fast = NewSink();
  slow.Pause();
  ASSERT_TRUE(scheduler_->Submit(Request("S", 3), &slow).ok());
  ASSERT_TRUE(scheduler_->Submit(Request("F", 3), &fast).ok());
  scheduler_->Start();
  const GenerationResult fast_result = AwaitResult(fast);
  ASSERT_TRUE(fast_result.status.ok()) << fast_result.status;
  // The prefill runs regardless (nothing is streamed before it); after its first token the
  // paused sequence is left out.
  EXPECT_EQ(Describe(engine_.calls()), (std::vector<std::string>{"S1L F1L", "F1L", "F1L", "F1N"}));
  EXPECT_EQ(slow.deltas(), 1);
  EXPECT_FALSE(slow.finished());

  slow.Resume();
  const GenerationResult slow_result = AwaitResult(slow);
  ASSERT_TRUE(slow_result.status.ok()) << slow_result.status;
  EXPECT_EQ(Describe(engine_.calls()),
            (std::vector<std::string>{"S1L F1L", "F1L", "F1L", "F1N", "S1L", "S1L", "S1N"}));
}

// Paused sequences (clients not reading) take no batch capacity: with two slots and two paused
// streams, a third request still runs to the end.
TEST_F(SchedulerFakeEngineTest, PausedSequencesDoNotHoldBatchCapacity) {
  Create({/*max_batch_tokens=*/512, /*max_batch_sequences=*/2, /*max_queued_requests=*/16});
  TestSink& slow1 = NewSink();
  TestSink& slow2 = NewSink();
  TestSink& normal = NewSink();
  slow1.Pause();
  slow2.Pause();
  ASSERT_TRUE(scheduler_->Submit(Request("P", 3), &slow1).ok());
  ASSERT_TRUE(scheduler_->Submit(Request("Q", 3), &slow2).ok());
  ASSERT_TRUE(scheduler_->Submit(Request("N", 3), &normal).ok());
  scheduler_->Start();
  const GenerationResult result = AwaitResult(normal);
  ASSERT_TRUE(result.status.ok()) << result.status;
  EXPECT_EQ(normal.deltas(), 3);
  EXPECT_FALSE(slow1.finished());
  EXPECT_FALSE(slow2.finished());

  // The paused ones kept their state and continue where they stopped.
  slow1.Resume();
  slow2.Resume();
  for (TestSink* sink : {&slow1, &slow2}) {
    const GenerationResult slow = AwaitResult(*sink);
    ASSERT_TRUE(slow.status.ok()) << slow.status;
    EXPECT_EQ(slow.generated_tokens, 3);
    EXPECT_EQ(slow.tokens_in_state, 4);
  }
}

// A sink paused for stall_timeout (on the injected clock) ends the sequence once, with the stall
// status; keep_on_cancel decides whether the streamed token is fed, as on a deadline.
TEST_F(SchedulerFakeEngineTest, StalledSinkEndsWithTheStallStatusOnce) {
  Scheduler::Options options;
  options.stall_timeout = absl::Seconds(10);
  Create(options);
  scheduler_->Start();
  for (const bool keep : {true, false}) {
    GenerationRequest request = Request("S", 1000);
    request.keep_on_cancel = keep;
    TestSink& sink = NewSink();
    sink.Pause();
    ASSERT_TRUE(scheduler_->Submit(std::move(request), &sink).ok());
    ASSERT_TRUE(sink.WaitForDeltas(1)) << "the prompt never ran";
    // The scheduler notes the pause at some loop after the delta; advance until it has waited.
    ASSERT_TRUE(WaitFor(kWaitLimit, [&] {
      clock_.Advance(absl::Seconds(1));
      return sink.finished();
    })) << "the stalled stream was never ended";
    const GenerationResult result = AwaitResult(sink);
    EXPECT_EQ(result.status, StreamStalledError(absl::Seconds(10))) << result.status;
    EXPECT_TRUE(absl::StrContains(result.status.message(), "did not read")) << result.status;
    EXPECT_EQ(result.generated_tokens, 1);
    EXPECT_EQ(result.tokens_in_state, keep ? 2 : 1) << keep;
    EXPECT_EQ(sink.finished_calls(), 1);
    EXPECT_EQ(sink.deltas(), 1);
  }
}

TEST_F(SchedulerFakeEngineTest, TimingsAreReadFromTheInjectedClock) {
  Create();
  engine_.OnForward([this](int64_t) { clock_.Advance(absl::Seconds(1)); });  // each step: 1 s
  TestSink& sink = NewSink();
  ASSERT_TRUE(scheduler_->Submit(Request("T", 3), &sink).ok());  // received at t = 0
  clock_.Advance(absl::Seconds(5));
  scheduler_->Start();
  const GenerationResult result = AwaitResult(sink);
  ASSERT_TRUE(result.status.ok()) << result.status;
  // Steps at 5-6 (prompt, 1st token), 6-7 (2nd), 7-8 (3rd), 8-9 (the last token fed).
  EXPECT_EQ(result.timings.queue, absl::Seconds(5));
  EXPECT_EQ(result.timings.time_to_first_token, absl::Seconds(6));
  EXPECT_EQ(result.timings.prefill, absl::Seconds(1));
  EXPECT_EQ(result.timings.total, absl::Seconds(9));
  EXPECT_EQ(observer_.queue_waits(), std::vector<absl::Duration>{absl::Seconds(5)});
  EXPECT_EQ(observer_.steps(), std::vector<absl::Duration>(4, absl::Seconds(1)));
}

TEST_F(SchedulerFakeEngineTest, DeadlineIsCheckedOnTheInjectedClock) {
  Create();
  engine_.OnForward([this](int64_t) { clock_.Advance(absl::Seconds(1)); });
  GenerationRequest request = Request("X", 1000);
  request.deadline = clock_.Now() + absl::Seconds(10);
  request.keep_on_cancel = true;
  TestSink& sink = NewSink();
  ASSERT_TRUE(scheduler_->Submit(std::move(request), &sink).ok());
  scheduler_->Start();
  const GenerationResult result = AwaitResult(sink);
  EXPECT_EQ(result.status.code(), absl::StatusCode::kDeadlineExceeded) << result.status;
  // Checked before each step: at t = 11 (after 11 steps, 11 tokens sampled) the deadline has
  // passed; with keep_on_cancel one more step feeds the token already streamed.
  EXPECT_EQ(result.generated_tokens, 11);
  EXPECT_EQ(result.tokens_in_state, 1 + 11);
  EXPECT_EQ(engine_.call_count(), 12);
  std::vector<int32_t> history = Bytes("X");
  for (int32_t token : sink.tokens()) history.push_back(token);
  EXPECT_EQ(FakeEngine::History(result.state), history);
  EXPECT_EQ(result.timings.total, absl::Seconds(12));
}

// A request cancelled while it waits in the queue (every slot taken) leaves it at the next loop
// and is reported at once, while the request holding the slot still runs: its caller need not
// wait for a place to learn it is over (and to release its session).
TEST_F(SchedulerFakeEngineTest, QueuedRequestCancelledLeavesAtOnceWhileTheSlotIsHeld) {
  Create({/*max_batch_tokens=*/512, /*max_batch_sequences=*/1, /*max_queued_requests=*/16});
  engine_.Hold();
  TestSink& running = NewSink();
  ASSERT_TRUE(scheduler_->Submit(Request("R", 1000), &running).ok());
  scheduler_->Start();
  ASSERT_TRUE(engine_.WaitUntilHeld(kWaitLimit)) << "the running request never stepped";
  TestSink& queued = NewSink();
  ASSERT_TRUE(scheduler_->Submit(Request("Q", 10), &queued).ok());
  queued.Cancel();
  scheduler_->Wake();
  engine_.AllowCalls(1);  // one loop: the step in progress ends, the next one waits again

  const GenerationResult result = AwaitResult(queued);
  EXPECT_EQ(result.status.code(), absl::StatusCode::kCancelled) << result.status;
  EXPECT_EQ(result.generated_tokens, 0);
  EXPECT_EQ(result.tokens_in_state, 0);
  EXPECT_EQ(queued.deltas(), 0);
  EXPECT_FALSE(running.finished());
  EXPECT_EQ(scheduler_->stats().waiting, 0);
  for (const FakeEngine::Call& call : engine_.calls()) {
    EXPECT_EQ(Describe(call).find('Q'), std::string::npos) << "the cancelled request ran";
  }

  running.Cancel();
  engine_.Release();
  EXPECT_EQ(AwaitResult(running).status.code(), absl::StatusCode::kCancelled);
}

// The same for a queued request whose deadline passes (on the injected clock).
TEST_F(SchedulerFakeEngineTest, QueuedRequestPastItsDeadlineLeavesAtOnce) {
  Create({/*max_batch_tokens=*/512, /*max_batch_sequences=*/1, /*max_queued_requests=*/16});
  engine_.Hold();
  TestSink& running = NewSink();
  ASSERT_TRUE(scheduler_->Submit(Request("R", 1000), &running).ok());
  scheduler_->Start();
  ASSERT_TRUE(engine_.WaitUntilHeld(kWaitLimit)) << "the running request never stepped";
  TestSink& queued = NewSink();
  GenerationRequest request = Request("Q", 10);
  request.deadline = clock_.Now() + absl::Seconds(10);
  request.keep_on_cancel = true;  // nothing was processed: nothing to keep
  ASSERT_TRUE(scheduler_->Submit(std::move(request), &queued).ok());
  clock_.Advance(absl::Seconds(11));
  engine_.AllowCalls(1);

  const GenerationResult result = AwaitResult(queued);
  EXPECT_EQ(result.status.code(), absl::StatusCode::kDeadlineExceeded) << result.status;
  EXPECT_EQ(result.tokens_in_state, 0);
  EXPECT_EQ(result.timings.queue, absl::Seconds(11));
  EXPECT_FALSE(running.finished());

  running.Cancel();
  engine_.Release();
  EXPECT_EQ(AwaitResult(running).status.code(), absl::StatusCode::kCancelled);
}

// Behind paused streams that fill every running place the loop only polls; a queued request
// whose deadline passes there is still ended without any step.
TEST_F(SchedulerFakeEngineTest, QueuedRequestBehindPausedStreamsEndsOnItsDeadline) {
  Scheduler::Options options;
  options.max_batch_sequences = 1;
  options.max_queued_requests = 1;  // two running places in all
  options.stall_timeout = absl::InfiniteDuration();
  Create(options);
  TestSink& slow1 = NewSink();
  TestSink& slow2 = NewSink();
  slow1.Pause();
  slow2.Pause();
  scheduler_->Start();
  ASSERT_TRUE(scheduler_->Submit(Request("P", 1000), &slow1).ok());
  ASSERT_TRUE(slow1.WaitForDeltas(1)) << "the first prompt never ran";
  ASSERT_TRUE(scheduler_->Submit(Request("S", 1000), &slow2).ok());
  ASSERT_TRUE(slow2.WaitForDeltas(1)) << "the second prompt never ran";
  const int64_t steps = engine_.call_count();
  TestSink& queued = NewSink();
  GenerationRequest request = Request("Q", 10);
  request.deadline = clock_.Now() + absl::Seconds(10);
  ASSERT_TRUE(scheduler_->Submit(std::move(request), &queued).ok());
  clock_.Advance(absl::Seconds(11));

  const GenerationResult result = AwaitResult(queued);
  EXPECT_EQ(result.status.code(), absl::StatusCode::kDeadlineExceeded) << result.status;
  EXPECT_EQ(engine_.call_count(), steps);
  EXPECT_FALSE(slow1.finished());
  EXPECT_FALSE(slow2.finished());
  slow1.Cancel();
  slow2.Cancel();
  EXPECT_TRUE(scheduler_->Drain(kWaitLimit));
}

TEST_F(SchedulerFakeEngineTest, CuttingADrainShortEndsWhatRunsAtOnce) {
  Create();
  TestSink& sink = NewSink();
  ASSERT_TRUE(scheduler_->Submit(Request("L", 1'000'000), &sink).ok());  // never ends by itself
  scheduler_->Start();
  ASSERT_TRUE(sink.WaitForDeltas(2, testing::kWaitLimit)) << "the long request never ran";
  // A drain far longer than the test's own wait bound: only CutDrainShort can end it in time.
  bool finished = true;
  std::thread drain([&] { finished = scheduler_->Drain(absl::Hours(1)); });
  scheduler_->CutDrainShort();
  drain.join();
  EXPECT_FALSE(finished);
  const GenerationResult result = AwaitResult(sink);
  EXPECT_EQ(result.status.code(), absl::StatusCode::kUnavailable) << result.status;
  EXPECT_EQ(sink.finished_calls(), 1);
}

TEST_F(SchedulerFakeEngineTest, InvalidRequestsAreRejectedWithoutTouchingTheSink) {
  Create();
  TestSink& sink = NewSink();
  GenerationRequest short_state = Request("x", 1);
  short_state.state.pop_back();
  EXPECT_EQ(scheduler_->Submit(std::move(short_state), &sink).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(scheduler_->Submit(Request("", 1), &sink).code(), absl::StatusCode::kInvalidArgument);
  GenerationRequest bad_sampling = Request("x", 1);
  bad_sampling.sampling.top_p = 1.5f;
  EXPECT_EQ(scheduler_->Submit(std::move(bad_sampling), &sink).code(),
            absl::StatusCode::kInvalidArgument);
  scheduler_->Start();
  EXPECT_TRUE(scheduler_->Drain(testing::kWaitLimit));
  EXPECT_EQ(sink.finished_calls(), 0);
  EXPECT_EQ(sink.deltas(), 0);
  EXPECT_EQ(engine_.call_count(), 0);
}

}  // namespace
}  // namespace rwkv::server
