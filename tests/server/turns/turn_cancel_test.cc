// TurnRunner cancellation and retries: a cancel or a deadline before, during and after a turn's
// generation (also while it waits in the scheduler's queue) and what it leaves of the session;
// and the replay of a retried turn_id instead of a second run.
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/cleanup/cleanup.h"
#include "absl/status/status.h"
#include "absl/synchronization/notification.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/turns/turn_runner.h"
#include "tests/fakes/test_turn_sink.h"
#include "tests/server/turns/turn_test_fixture.h"
#include "tests/util/wait_for.h"

namespace rwkv::server {
namespace {

using ::rwkv::testing::kWaitLimit;
using ::rwkv::testing::TestTurnSink;
using ::rwkv::testing::WaitFor;
using ::testing::ElementsAreArray;

class TurnRunnerCancelTest : public TurnTestFixture {
 protected:
  // For the *WhileQueued tests. Reopens with one batch slot, taken by a long turn without a
  // session that the engine holds, and queues `request` (on session "S", created here) behind it.
  void QueueOnSBehindALongTurn(TurnRequest request) {
    Limits limits;
    limits.max_queued_requests = 16;
    limits.max_batch_sequences = 1;
    Open(limits);
    engine_.Hold();
    long_turn_.emplace(services(), &long_sink_);
    long_turn_->Start(Request("L", 1000));
    ASSERT_TRUE(engine_.WaitUntilHeld(kWaitLimit)) << "the first turn never reached the engine";

    Create("S");
    queued_.emplace(services(), &queued_sink_);
    queued_->Start(std::move(request));
    ASSERT_TRUE(WaitFor(kWaitLimit, [&] { return scheduler_->stats().waiting == 1; }))
        << "the turn on S never queued";
  }

  // Once the queued turn has ended: a new turn on S is accepted (queued, not ABORTED as busy);
  // then the long turn is cancelled and the engine let go, so that the new turn runs.
  void QueueAnotherOnSThenFreeTheSlot() {
    next_.emplace(services(), &next_sink_);
    next_->Start(Request("Yo", 2, "S"));
    ASSERT_TRUE(WaitFor(kWaitLimit, [&] { return scheduler_->stats().waiting == 1; }))
        << "the new turn on S never queued: "
        << next_sink_.WaitForResult(absl::ZeroDuration()).status();
    long_turn_->Cancel();
    engine_.Release();
  }

  // Starts `request` with a sink that takes its first token and then has no room (the turn
  // waits), and cancels the turn once that token has come. The result comes to cancelled_sink_.
  void CancelAfterTheFirstToken(TurnRequest request) {
    cancelled_sink_.Pause();  // the first token still arrives; then the turn waits for room
    cancelled_.emplace(services(), &cancelled_sink_);
    cancelled_->Start(std::move(request));
    ASSERT_TRUE(cancelled_sink_.WaitForDeltas(1)) << "the first token never arrived";
    cancelled_->Cancel();
  }

  // Each sink outlives its runner.
  TestTurnSink long_sink_, queued_sink_, next_sink_, cancelled_sink_;
  std::optional<TurnRunner> long_turn_, queued_, next_, cancelled_;
};

TEST_F(TurnRunnerCancelTest, CancelWithDiscardRollsBack) {
  Create("chat-1");
  ASSERT_NO_FATAL_FAILURE(CancelAfterTheFirstToken(Request("Hi", 10, "chat-1")));
  absl::StatusOr<TurnResult> result = cancelled_sink_.WaitForResult();

  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->status.code(), absl::StatusCode::kCancelled) << result->status;
  EXPECT_FALSE(result->session.has_value());
  absl::StatusOr<SessionRecord> after = sessions_->GetSession("chat-1");
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_EQ(after->version, 0);
  EXPECT_EQ(after->token_count, 0);
  EXPECT_THAT(StoredHistory("chat-1"), ::testing::IsEmpty());
}

TEST_F(TurnRunnerCancelTest, CancelWithKeepCommitsWhatWasProcessed) {
  Create("chat-1");
  TurnRequest request = Request("Hi", 10, "chat-1");
  request.generation.keep_on_cancel = true;
  ASSERT_NO_FATAL_FAILURE(CancelAfterTheFirstToken(std::move(request)));
  absl::StatusOr<TurnResult> result = cancelled_sink_.WaitForResult();

  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->status.code(), absl::StatusCode::kCancelled) << result->status;
  // The prompt and the one streamed token are kept as version 1.
  absl::StatusOr<SessionRecord> after = sessions_->GetSession("chat-1");
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_EQ(after->version, 1);
  EXPECT_EQ(after->token_count, 3);
  EXPECT_THAT(StoredHistory("chat-1"), ElementsAreArray(Bytes("Hic")));
}

TEST_F(TurnRunnerCancelTest, CancelBeforeSubmitRollsBackWithoutRunning) {
  TestTurnSink sink;
  TurnRunner turn(services(), &sink);
  turn.Cancel();
  turn.Start(Request("Hi", 3, "chat-1"));
  absl::StatusOr<TurnResult> result = sink.WaitForResult();

  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->status.code(), absl::StatusCode::kCancelled) << result->status;
  EXPECT_EQ(result->prompt_tokens, -1);  // never reached the scheduler
  EXPECT_EQ(engine_.call_count(), 0);
  EXPECT_EQ(sessions_->GetSession("chat-1").status().code(), absl::StatusCode::kNotFound);
}

// A turn cancelled while its request waits in the scheduler's queue (the one slot is taken)
// ends at once, CANCELLED, and its session is free for a new turn while the other still runs.
TEST_F(TurnRunnerCancelTest, CancelWhileQueuedEndsAtOnceAndFreesTheSession) {
  ASSERT_NO_FATAL_FAILURE(QueueOnSBehindALongTurn(Request("Hi", 5, "S")));
  queued_->Cancel();
  engine_.AllowCalls(1);  // one loop: the step in progress ends, the next one waits again
  absl::StatusOr<TurnResult> result = queued_sink_.WaitForResult();
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->status.code(), absl::StatusCode::kCancelled) << result->status;
  EXPECT_FALSE(result->session.has_value());
  EXPECT_FALSE(long_sink_.WaitForResult(absl::ZeroDuration()).ok()) << "the first turn ended";

  // S is free at once: a new turn on it is accepted (queued, not ABORTED as busy) and commits
  // once the slot is free.
  ASSERT_NO_FATAL_FAILURE(QueueAnotherOnSThenFreeTheSlot());
  absl::StatusOr<TurnResult> next_result = next_sink_.WaitForResult();
  ASSERT_TRUE(next_result.ok()) << next_result.status();
  ASSERT_TRUE(next_result->status.ok()) << next_result->status;
  EXPECT_EQ(next_result->session->version, 1);
  EXPECT_THAT(StoredHistory("S"), ElementsAreArray(Bytes("Yocd")));
  ASSERT_TRUE(long_sink_.WaitForResult().ok());
}

TEST_F(TurnRunnerCancelTest, DeadlineWhileQueuedEndsAtOnceAndFreesTheSession) {
  TurnRequest request = Request("Hi", 5, "S");
  request.generation.deadline = clock_.Now() + absl::Seconds(10);
  request.generation.keep_on_cancel = true;  // nothing processed: nothing to keep
  ASSERT_NO_FATAL_FAILURE(QueueOnSBehindALongTurn(std::move(request)));
  clock_.Advance(absl::Seconds(11));
  engine_.AllowCalls(1);
  absl::StatusOr<TurnResult> result = queued_sink_.WaitForResult();
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->status.code(), absl::StatusCode::kDeadlineExceeded) << result->status;
  EXPECT_FALSE(long_sink_.WaitForResult(absl::ZeroDuration()).ok()) << "the first turn ended";
  absl::StatusOr<SessionRecord> after = sessions_->GetSession("S");
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_EQ(after->version, 0);

  ASSERT_NO_FATAL_FAILURE(QueueAnotherOnSThenFreeTheSlot());
  absl::StatusOr<TurnResult> next_result = next_sink_.WaitForResult();
  ASSERT_TRUE(next_result.ok() && next_result->status.ok());
  EXPECT_EQ(next_result->session->version, 1);
  ASSERT_TRUE(long_sink_.WaitForResult().ok());
}

// The race of a cancel with the end of generation: the turn finished by itself, but the cancel
// came before its result was committed. The client sees CANCELLED, so a discard-policy turn is
// rolled back; a keep-policy turn is committed whole (and its retry with a turn_id replays it).
TEST_F(TurnRunnerCancelTest, CancelAfterGenerationEndedBeforeTheCommit) {
  for (const bool keep : {false, true}) {
    SCOPED_TRACE(keep ? "keep" : "discard");
    const std::string id = keep ? "keep" : "discard";
    Create(id);
    absl::Notification unblock;
    IoExecutor io(1);  // one thread, held below while the result waits to be committed
    // Whatever happens, the blocked thread is let go before `io` joins it.
    absl::Cleanup let_go = [&] {
      if (!unblock.HasBeenNotified()) unblock.Notify();
    };
    TurnRunner::Services turn_services = services();
    turn_services.io = &io;
    TestTurnSink sink;
    TurnRunner turn(turn_services, &sink);
    TurnRequest request = Request("Hi", 3, id);
    request.generation.keep_on_cancel = keep;
    turn.Start(std::move(request));                   // Begin runs first on the one thread ...
    io.Post([&] { unblock.WaitForNotification(); });  // ... then this holds it
    ASSERT_TRUE(sink.WaitForDeltas(3)) << "the turn never generated";
    // Retired by the scheduler (counted down after OnFinished posted the commit).
    ASSERT_TRUE(WaitFor(kWaitLimit, [&] { return scheduler_->stats().running == 0; }));
    turn.Cancel();
    unblock.Notify();
    absl::StatusOr<TurnResult> result = sink.WaitForResult();
    ASSERT_TRUE(result.ok()) << result.status();

    absl::StatusOr<SessionRecord> after = sessions_->GetSession(id);
    ASSERT_TRUE(after.ok()) << after.status();
    if (keep) {
      EXPECT_TRUE(result->status.ok()) << result->status;
      EXPECT_EQ(after->version, 1);
      EXPECT_THAT(StoredHistory(id), ElementsAreArray(Bytes("Hicde")));
    } else {
      EXPECT_EQ(result->status.code(), absl::StatusCode::kCancelled) << result->status;
      EXPECT_FALSE(result->session.has_value());
      EXPECT_EQ(after->version, 0);
      EXPECT_THAT(StoredHistory(id), ::testing::IsEmpty());
    }
  }
}

// A retry of the session's last committed turn (same turn_id) replays it: the same tokens, text
// and report, the session as it is, without running the engine or committing again; it wins
// over an expected_version that the commit has made stale.
TEST_F(TurnRunnerCancelTest, RetryOfTheLastCommittedTurnIdReplaysIt) {
  Create("chat-1");
  ASSERT_TRUE(Run(Request("A", 2, "chat-1"))->status.ok());  // version 1
  TurnRequest first = Request("Hi", 30, "chat-1");
  first.turn_id = "turn-2";
  first.expected_version = 1;
  first.generation.stop_strings = {"hij"};  // held-back text and a matched stop, replayed too
  TestTurnSink first_sink;
  TurnRunner first_turn(services(), &first_sink);
  first_turn.Start(first);
  absl::StatusOr<TurnResult> original = first_sink.WaitForResult();
  ASSERT_TRUE(original.ok() && original->status.ok());
  EXPECT_EQ(original->finish_reason, FinishReason::kStop);
  EXPECT_EQ(original->matched_stop, "hij");
  EXPECT_EQ(first_sink.text(), "fg");
  EXPECT_EQ(original->session->version, 2);
  const int64_t calls = engine_.call_count();
  const std::vector<int32_t> history = StoredHistory("chat-1");

  clock_.Advance(absl::Seconds(3));
  TestTurnSink retry_sink;
  TurnRunner retry_turn(services(), &retry_sink);
  retry_turn.Start(first);  // the same request: expected_version 1, now stale
  absl::StatusOr<TurnResult> replay = retry_sink.WaitForResult();
  ASSERT_TRUE(replay.ok()) << replay.status();
  ASSERT_TRUE(replay->status.ok()) << replay->status;
  EXPECT_EQ(retry_sink.tokens(), first_sink.tokens());
  EXPECT_EQ(retry_sink.text(), first_sink.text());
  EXPECT_EQ(replay->finish_reason, original->finish_reason);
  EXPECT_EQ(replay->matched_stop, original->matched_stop);
  EXPECT_EQ(replay->prompt_tokens, original->prompt_tokens);
  EXPECT_EQ(replay->generated_tokens, original->generated_tokens);
  EXPECT_EQ(replay->session_tokens, original->session_tokens);
  EXPECT_EQ(replay->seed, original->seed);
  EXPECT_EQ(replay->timings.queue, original->timings.queue);
  EXPECT_EQ(replay->timings.time_to_first_token, original->timings.time_to_first_token);
  EXPECT_EQ(replay->timings.prefill, original->timings.prefill);
  EXPECT_EQ(replay->timings.total, original->timings.total);  // the clock did not move then
  ASSERT_TRUE(replay->session.has_value());
  EXPECT_EQ(*replay->session, *original->session);
  EXPECT_EQ(engine_.call_count(), calls);
  EXPECT_EQ(StoredHistory("chat-1"), history);
  absl::StatusOr<SessionRecord> after = sessions_->GetSession("chat-1");
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->version, 2);

  // Another turn_id runs (and is recorded); then "turn-2" is no longer the last one, so its
  // retry runs again, here refused by its stale expected_version.
  TurnRequest third = Request("!", 2, "chat-1");
  third.turn_id = "turn-3";
  absl::StatusOr<TurnResult> ran = Run(third);
  ASSERT_TRUE(ran.ok() && ran->status.ok());
  EXPECT_EQ(ran->session->version, 3);
  EXPECT_EQ(ran->session->last_turn.turn_id, "turn-3");
  absl::StatusOr<TurnResult> stale = Run(first);
  ASSERT_TRUE(stale.ok());
  EXPECT_EQ(stale->status.code(), absl::StatusCode::kAborted) << stale->status;

  // A turn without a turn_id clears the record: "turn-3" runs again.
  ASSERT_TRUE(Run(Request("?", 1, "chat-1"))->status.ok());  // version 4
  absl::StatusOr<TurnResult> again = Run(third);
  ASSERT_TRUE(again.ok() && again->status.ok());
  EXPECT_EQ(again->session->version, 5);
}

// A fork does not take over its source's last turn: the retry belongs to the source.
TEST_F(TurnRunnerCancelTest, ForkDoesNotReplayItsSourcesLastTurn) {
  TurnRequest request = Request("Hi", 2, "chat-1");
  request.turn_id = "t";
  ASSERT_TRUE(Run(request)->status.ok());
  ASSERT_TRUE(sessions_->ForkSession("chat-1", "fork-1", {}).ok());
  request.session_id = "fork-1";
  request.create_session = false;
  absl::StatusOr<TurnResult> result = Run(request);
  ASSERT_TRUE(result.ok() && result->status.ok());
  EXPECT_EQ(result->session->version, 2);  // it ran
  EXPECT_EQ(sessions_->GetSession("chat-1")->version, 1);
}

// A keep-policy turn cut short by its client is committed with what it processed; its retry
// replays that, ending with a report of no finish reason.
TEST_F(TurnRunnerCancelTest, RetryOfACancelledKeptTurnReplaysWhatWasKept) {
  Create("chat-1");
  TurnRequest request = Request("Hi", 10, "chat-1");
  request.generation.keep_on_cancel = true;
  request.turn_id = "kept";
  ASSERT_NO_FATAL_FAILURE(CancelAfterTheFirstToken(request));  // a copy: retried below
  absl::StatusOr<TurnResult> result = cancelled_sink_.WaitForResult();
  ASSERT_TRUE(result.ok());
  EXPECT_EQ(result->status.code(), absl::StatusCode::kCancelled) << result->status;

  TestTurnSink retry_sink;
  TurnRunner retry(services(), &retry_sink);
  retry.Start(request);
  absl::StatusOr<TurnResult> replay = retry_sink.WaitForResult();
  ASSERT_TRUE(replay.ok() && replay->status.ok()) << replay->status;
  EXPECT_EQ(retry_sink.text(), "c");
  EXPECT_EQ(replay->finish_reason, FinishReason::kNone);
  EXPECT_EQ(replay->generated_tokens, 1);
  EXPECT_EQ(replay->session->version, 1);
  EXPECT_EQ(replay->session_tokens, 3);
}

}  // namespace
}  // namespace rwkv::server
