// TurnRunner admission (issue 11): a turn takes its place in the scheduler's queue, its bytes in
// the StateBudget and its start in the I/O queue before anything is loaded, so that a turn
// refused for any of them never costs a store read; the bytes come back however the turn ends;
// and the completion of an accepted turn is never refused by a full I/O queue.
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/synchronization/notification.h"
#include "engine/tokenizer/byte_tokenizer.h"
#include "gtest/gtest.h"
#include "server/store/state_store.h"
#include "server/turns/state_budget.h"
#include "server/turns/turn_runner.h"
#include "tests/fakes/fake_clock.h"
#include "tests/fakes/fake_engine.h"
#include "tests/fakes/fault_injecting_store.h"
#include "tests/fakes/test_turn_sink.h"
#include "tests/util/wait_for.h"

namespace rwkv::server {
namespace {

using ::rwkv::testing::FakeEngine;
using ::rwkv::testing::StoreOp;
using ::rwkv::testing::TestTurnSink;

class TurnAdmissionTest : public ::testing::Test {
 protected:
  struct Limits {
    int max_queued_requests = 256;
    int io_threads = 2;
    int max_io_queue = IoExecutor::kUnbounded;
    int64_t budget_turns = 1000;  // the budget, in turns with a 2-token prompt
  };

  void SetUp() override { Open({}); }

  void Open(const Limits& limits) {
    io_.reset();
    scheduler_.reset();
    absl::StatusOr<std::unique_ptr<StateStore>> memory = OpenStateStore("memory:");
    ASSERT_TRUE(memory.ok()) << memory.status();
    faults_ = std::make_unique<testing::FaultInjectingStore>(std::move(*memory));
    SessionManager::Options options;
    options.model_fingerprint = engine_.fingerprint();
    options.initial_state = engine_.InitialState();
    options.clock = &clock_;
    options.hot_cache_bytes = 0;  // every state is read from the store, where Gets are counted
    absl::StatusOr<std::unique_ptr<SessionManager>> sessions =
        SessionManager::Create(faults_->Share(), std::move(options));
    ASSERT_TRUE(sessions.ok()) << sessions.status();
    sessions_ = *std::move(sessions);
    budget_ = std::make_unique<StateBudget>(limits.budget_turns * TurnBytes());
    Scheduler::Options scheduler_options;
    scheduler_options.max_queued_requests = limits.max_queued_requests;
    scheduler_options.clock = &clock_;
    scheduler_ = std::make_unique<Scheduler>(&engine_, &tokenizer_, scheduler_options);
    scheduler_->Start();
    io_ = std::make_unique<IoExecutor>(limits.io_threads, limits.max_io_queue);
  }

  // What a turn with a 2-token prompt holds.
  int64_t TurnBytes() const { return StateBudget::TurnBytes(engine_.config(), 2); }

  TurnRunner::Services services() {
    return {&engine_, scheduler_.get(), sessions_.get(), io_.get(), &clock_, budget_.get()};
  }

  // Greedy, on session `session` (created when missing) unless empty.
  TurnRequest Request(int max_tokens, std::string session = "") {
    TurnRequest request;
    request.generation.prompt = {'H', 'i'};
    request.generation.sampling.temperature = 0;
    request.generation.max_tokens = max_tokens;
    request.generation.received = clock_.Now();
    request.create_session = !session.empty();
    request.session_id = std::move(session);
    return request;
  }

  absl::StatusOr<TurnResult> Run(TurnRequest request) {
    TestTurnSink sink;
    TurnRunner turn(services(), &sink);
    turn.Start(std::move(request));
    return sink.WaitForResult();
  }

  void Create(absl::string_view id) {
    absl::StatusOr<SessionRecord> record = sessions_->CreateSession(id, {});
    ASSERT_TRUE(record.ok()) << record.status();
  }

  // A turn on `session` that has streamed its first token and waits for its sink.
  struct HeldTurn {
    TestTurnSink sink;
    std::optional<TurnRunner> runner;
  };
  void Hold(HeldTurn& held, const std::string& session) {
    held.sink.Pause();
    held.runner.emplace(services(), &held.sink);
    held.runner->Start(Request(10, session));
    ASSERT_TRUE(held.sink.WaitForDeltas(1)) << session << " never started";
  }

  testing::FakeClock clock_;
  FakeEngine engine_;
  engine::ByteTokenizer tokenizer_;
  std::unique_ptr<testing::FaultInjectingStore> faults_;
  std::unique_ptr<SessionManager> sessions_;
  std::unique_ptr<StateBudget> budget_;
  std::unique_ptr<Scheduler> scheduler_;
  std::unique_ptr<IoExecutor> io_;  // destroyed first: every posted task runs before the rest go
};

TEST_F(TurnAdmissionTest, PastTheBudgetATurnIsRefusedBeforeItsStateIsLoaded) {
  Limits limits;
  limits.budget_turns = 2;
  Open(limits);
  for (const char* id : {"a", "b", "c"}) Create(id);
  HeldTurn a, b;
  Hold(a, "a");
  Hold(b, "b");
  EXPECT_EQ(budget_->used(), 2 * TurnBytes());

  const int64_t gets = faults_->calls(StoreOp::kGet);
  absl::StatusOr<TurnResult> refused = Run(Request(3, "c"));
  ASSERT_TRUE(refused.ok()) << refused.status();
  EXPECT_EQ(refused->status.code(), absl::StatusCode::kResourceExhausted) << refused->status;
  EXPECT_TRUE(absl::StrContains(refused->status.message(), "--max-inflight-state-bytes="))
      << refused->status;
  EXPECT_EQ(refused->prompt_tokens, -1);  // it never reached the scheduler
  EXPECT_EQ(faults_->calls(StoreOp::kGet), gets) << "the refused turn read the store";
  EXPECT_EQ(budget_->used(), 2 * TurnBytes());

  // A cancelled turn gives its bytes back before its sink hears of the end...
  a.runner->Cancel();
  absl::StatusOr<TurnResult> cancelled = a.sink.WaitForResult();
  ASSERT_TRUE(cancelled.ok()) << cancelled.status();
  EXPECT_EQ(cancelled->status.code(), absl::StatusCode::kCancelled) << cancelled->status;
  EXPECT_EQ(budget_->used(), TurnBytes());
  // ... so the refused turn now fits, runs and commits.
  absl::StatusOr<TurnResult> retried = Run(Request(3, "c"));
  ASSERT_TRUE(retried.ok()) << retried.status();
  ASSERT_TRUE(retried->status.ok()) << retried->status;
  EXPECT_GT(faults_->calls(StoreOp::kGet), gets);  // this one did load its state
  EXPECT_EQ(retried->session->version, 1);
  EXPECT_EQ(budget_->used(), TurnBytes());

  b.sink.Resume();
  b.runner->Wake();
  absl::StatusOr<TurnResult> finished = b.sink.WaitForResult();
  ASSERT_TRUE(finished.ok()) << finished.status();
  EXPECT_TRUE(finished->status.ok()) << finished->status;
  EXPECT_EQ(budget_->used(), 0);
}

TEST_F(TurnAdmissionTest, TheBytesComeBackHoweverTheTurnEnds) {
  Create("chat");
  // Success, with and without a session.
  absl::StatusOr<TurnResult> ok = Run(Request(3, "chat"));
  ASSERT_TRUE(ok.ok() && ok->status.ok());
  EXPECT_EQ(budget_->used(), 0);
  ok = Run(Request(3));
  ASSERT_TRUE(ok.ok() && ok->status.ok());
  EXPECT_EQ(budget_->used(), 0);
  // An engine error.
  engine_.FailNextForward(absl::InternalError("device lost"));
  absl::StatusOr<TurnResult> failed = Run(Request(3, "chat"));
  ASSERT_TRUE(failed.ok()) << failed.status();
  EXPECT_EQ(failed->status.code(), absl::StatusCode::kInternal) << failed->status;
  EXPECT_EQ(budget_->used(), 0);
  // A commit error.
  faults_->FailNext(StoreOp::kWrite, 1);
  failed = Run(Request(3, "chat"));
  ASSERT_TRUE(failed.ok()) << failed.status();
  EXPECT_EQ(failed->status.code(), absl::StatusCode::kUnavailable) << failed->status;
  EXPECT_EQ(budget_->used(), 0);
  // A session error before the scheduler.
  TurnRequest unknown = Request(3, "nobody");
  unknown.create_session = false;
  failed = Run(std::move(unknown));
  ASSERT_TRUE(failed.ok()) << failed.status();
  EXPECT_EQ(failed->status.code(), absl::StatusCode::kNotFound) << failed->status;
  EXPECT_EQ(budget_->used(), 0);
  // A cancel before the turn was submitted.
  {
    TestTurnSink sink;
    TurnRunner turn(services(), &sink);
    turn.Cancel();
    turn.Start(Request(3, "chat"));
    absl::StatusOr<TurnResult> cancelled = sink.WaitForResult();
    ASSERT_TRUE(cancelled.ok()) << cancelled.status();
    EXPECT_EQ(cancelled->status.code(), absl::StatusCode::kCancelled) << cancelled->status;
  }
  EXPECT_EQ(budget_->used(), 0);
  // Draining: refused at admission.
  EXPECT_TRUE(scheduler_->Drain(absl::Seconds(10)));
  failed = Run(Request(3, "chat"));
  ASSERT_TRUE(failed.ok()) << failed.status();
  EXPECT_EQ(failed->status.code(), absl::StatusCode::kUnavailable) << failed->status;
  EXPECT_EQ(budget_->used(), 0);
}

TEST_F(TurnAdmissionTest, AFullQueueIsRefusedBeforeTheStateIsLoaded) {
  Limits limits;
  limits.max_queued_requests = 0;  // no place in the queue, ever
  Open(limits);
  Create("chat");
  const int64_t gets = faults_->calls(StoreOp::kGet);
  absl::StatusOr<TurnResult> refused = Run(Request(3, "chat"));
  ASSERT_TRUE(refused.ok()) << refused.status();
  EXPECT_EQ(refused->status.code(), absl::StatusCode::kResourceExhausted) << refused->status;
  EXPECT_TRUE(absl::StrContains(refused->status.message(), "queue is full")) << refused->status;
  EXPECT_EQ(refused->prompt_tokens, -1);
  EXPECT_EQ(faults_->calls(StoreOp::kGet), gets) << "the refused turn read the store";
  EXPECT_EQ(budget_->used(), 0);
  EXPECT_EQ(engine_.call_count(), 0);
}

TEST_F(TurnAdmissionTest, AFullIoQueueRefusesNewTurnsButNeverACompletion) {
  Limits limits;
  limits.io_threads = 1;
  limits.max_io_queue = 1;
  Open(limits);
  Create("chat");
  HeldTurn held;
  Hold(held, "chat");  // running: its completion is still to be posted

  // The only I/O thread is busy and one task of new work waits: the I/O queue is full.
  absl::Notification busy, gate;
  ASSERT_TRUE(io_->TryPost([&] {
                  busy.Notify();
                  gate.WaitForNotification();
                }).ok());
  busy.WaitForNotification();
  ASSERT_TRUE(io_->TryPost([] {}).ok());

  const int64_t gets = faults_->calls(StoreOp::kGet);
  absl::StatusOr<TurnResult> refused = Run(Request(3, "other"));
  ASSERT_TRUE(refused.ok()) << refused.status();
  EXPECT_EQ(refused->status.code(), absl::StatusCode::kResourceExhausted) << refused->status;
  EXPECT_TRUE(absl::StrContains(refused->status.message(), "--max-io-queue=1"))
      << refused->status;
  EXPECT_EQ(faults_->calls(StoreOp::kGet), gets);
  EXPECT_EQ(budget_->used(), TurnBytes());  // the refused turn gave its bytes back

  // The held turn leaves the scheduler now, and its completion is queued although the queue is
  // full (the busy thread cannot have run it yet).
  held.sink.Resume();
  held.runner->Wake();
  ASSERT_TRUE(testing::WaitFor(testing::kWaitLimit, [&] {
    return scheduler_->stats().running == 0;
  })) << "the held turn never finished";
  EXPECT_EQ(io_->queued_new_work(), 1);
  EXPECT_EQ(io_->TryPost([] {}).code(), absl::StatusCode::kResourceExhausted);
  gate.Notify();
  absl::StatusOr<TurnResult> finished = held.sink.WaitForResult();
  ASSERT_TRUE(finished.ok()) << finished.status();
  ASSERT_TRUE(finished->status.ok()) << finished->status;
  EXPECT_EQ(finished->session->version, 1);
  EXPECT_EQ(budget_->used(), 0);
}

}  // namespace
}  // namespace rwkv::server
