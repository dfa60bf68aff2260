// TurnRunner admission (issue 11): a turn takes its place in the scheduler's queue, its bytes in
// the StateBudget and its start in the I/O queue before anything is loaded, so that a turn
// refused for any of them never costs a store read; the bytes come back however the turn ends;
// and the completion of an accepted turn is never refused by a full I/O queue.
#include <optional>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/synchronization/notification.h"
#include "gtest/gtest.h"
#include "server/turns/state_budget.h"
#include "server/turns/turn_runner.h"
#include "tests/fakes/fault_injecting_store.h"
#include "tests/fakes/test_turn_sink.h"
#include "tests/server/turns/turn_test_fixture.h"
#include "tests/util/wait_for.h"

namespace rwkv::server {
namespace {

using ::rwkv::testing::StoreOp;
using ::rwkv::testing::TestTurnSink;

class TurnAdmissionTest : public TurnTestFixture {
 protected:
  struct Limits : TurnTestFixture::Limits {
    Limits() {
      budget_turns = 1000;
      hot_cache_bytes = 0;  // every state is read from the store, where Gets are counted
    }
  };

  void SetUp() override { Open(Limits()); }

  // A turn on `session` that has streamed its first token and waits for its sink.
  struct HeldTurn {
    TestTurnSink sink;
    std::optional<TurnRunner> runner;
  };
  void Hold(HeldTurn& held, const std::string& session) {
    held.sink.Pause();
    held.runner.emplace(services(), &held.sink);
    held.runner->Start(Request("Hi", 10, session));
    ASSERT_TRUE(held.sink.WaitForDeltas(1)) << session << " never started";
  }
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
  absl::StatusOr<TurnResult> refused = Run(Request("Hi", 3, "c"));
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
  absl::StatusOr<TurnResult> retried = Run(Request("Hi", 3, "c"));
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
  absl::StatusOr<TurnResult> ok = Run(Request("Hi", 3, "chat"));
  ASSERT_TRUE(ok.ok() && ok->status.ok());
  EXPECT_EQ(budget_->used(), 0);
  ok = Run(Request("Hi", 3));
  ASSERT_TRUE(ok.ok() && ok->status.ok());
  EXPECT_EQ(budget_->used(), 0);
  // An engine error.
  engine_.FailNextForward(absl::InternalError("device lost"));
  absl::StatusOr<TurnResult> failed = Run(Request("Hi", 3, "chat"));
  ASSERT_TRUE(failed.ok()) << failed.status();
  EXPECT_EQ(failed->status.code(), absl::StatusCode::kInternal) << failed->status;
  EXPECT_EQ(budget_->used(), 0);
  // A commit error.
  faults_->FailNext(StoreOp::kWrite, 1);
  failed = Run(Request("Hi", 3, "chat"));
  ASSERT_TRUE(failed.ok()) << failed.status();
  EXPECT_EQ(failed->status.code(), absl::StatusCode::kUnavailable) << failed->status;
  EXPECT_EQ(budget_->used(), 0);
  // A session error before the scheduler.
  TurnRequest unknown = Request("Hi", 3, "nobody");
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
    turn.Start(Request("Hi", 3, "chat"));
    absl::StatusOr<TurnResult> cancelled = sink.WaitForResult();
    ASSERT_TRUE(cancelled.ok()) << cancelled.status();
    EXPECT_EQ(cancelled->status.code(), absl::StatusCode::kCancelled) << cancelled->status;
  }
  EXPECT_EQ(budget_->used(), 0);
  // Draining: refused at admission.
  EXPECT_TRUE(scheduler_->Drain(absl::Seconds(10)));
  failed = Run(Request("Hi", 3, "chat"));
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
  absl::StatusOr<TurnResult> refused = Run(Request("Hi", 3, "chat"));
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
  absl::StatusOr<TurnResult> refused = Run(Request("Hi", 3, "other"));
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
