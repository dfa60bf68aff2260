// TurnRunner with the real Scheduler over a FakeEngine and a SessionManager over the memory
// store: what each way a turn can end does to its session (commit, roll back, keep on cancel),
// and what the sink is told.
#include "server/turns/turn_runner.h"

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/cleanup/cleanup.h"
#include "absl/status/status.h"
#include "absl/synchronization/notification.h"
#include "engine/tokenizer/byte_tokenizer.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/store/state_store.h"
#include "tests/fakes/fake_clock.h"
#include "tests/fakes/fake_engine.h"
#include "tests/fakes/fault_injecting_store.h"
#include "tests/fakes/test_turn_sink.h"
#include "tests/util/wait_for.h"

namespace rwkv::server {
namespace {

using ::rwkv::testing::FakeEngine;
using ::rwkv::testing::kWaitLimit;
using ::rwkv::testing::TestTurnSink;
using ::rwkv::testing::WaitFor;
using ::testing::ElementsAreArray;

std::vector<int32_t> Bytes(absl::string_view text) { return {text.begin(), text.end()}; }

TEST(ShouldCommitTest, OnlyCompleteTurnsCommit) {
  struct Case {
    absl::Status status;
    bool keep_on_cancel;
    int64_t tokens_in_state;
    bool commits;
  };
  const Case cases[] = {
      {absl::OkStatus(), false, 5, true},
      {absl::OkStatus(), true, 5, true},
      {absl::CancelledError("cancelled"), false, 5, false},
      {absl::CancelledError("cancelled"), true, 5, true},
      {absl::CancelledError("cancelled"), true, 0, false},  // nothing processed: nothing to keep
      {absl::DeadlineExceededError("deadline"), true, 5, true},
      {absl::DeadlineExceededError("deadline"), false, 5, false},
      // A stream its client stopped reading follows on_cancel too.
      {StreamStalledError(absl::Seconds(60)), true, 5, true},
      {StreamStalledError(absl::Seconds(60)), false, 5, false},
      {absl::UnavailableError("drain"), true, 5, false},
      {absl::InternalError("engine"), true, 5, false},
  };
  for (const Case& c : cases) {
    GenerationResult result;
    result.status = c.status;
    result.tokens_in_state = c.tokens_in_state;
    EXPECT_EQ(ShouldCommit(result, c.keep_on_cancel), c.commits)
        << c.status << " keep=" << c.keep_on_cancel << " tokens=" << c.tokens_in_state;
  }
}

class TurnRunnerTest : public ::testing::Test {
 protected:
  void SetUp() override { Open(/*max_queued_requests=*/256); }
  // A failed test must not leave the engine thread parked at a hold (the scheduler joins it).
  void TearDown() override { engine_.Release(); }

  void Open(int max_queued_requests, int max_batch_sequences = 64) {
    absl::StatusOr<std::unique_ptr<StateStore>> memory = OpenStateStore("memory:");
    ASSERT_TRUE(memory.ok()) << memory.status();
    faults_ = std::make_unique<testing::FaultInjectingStore>(std::move(*memory));
    SessionManager::Options options;
    options.model_fingerprint = engine_.fingerprint();
    options.initial_state = engine_.InitialState();
    options.clock = &clock_;
    absl::StatusOr<std::unique_ptr<SessionManager>> sessions =
        SessionManager::Create(faults_->Share(), std::move(options));
    ASSERT_TRUE(sessions.ok()) << sessions.status();
    sessions_ = *std::move(sessions);
    Scheduler::Options scheduler_options;
    scheduler_options.max_queued_requests = max_queued_requests;
    scheduler_options.max_batch_sequences = max_batch_sequences;
    scheduler_options.clock = &clock_;
    scheduler_ = std::make_unique<Scheduler>(&engine_, &tokenizer_, scheduler_options);
    scheduler_->Start();
    io_ = std::make_unique<IoExecutor>(2);
  }

  TurnRunner::Services services() {
    return {&engine_, scheduler_.get(), sessions_.get(), io_.get(), &clock_};
  }

  // Greedy: the fake engine's default policy continues any history of n tokens with
  // 'a' + n % 26, so "Hi" goes on "cde...".
  // Reopens with one batch slot: a second turn waits in the queue while the first runs.
  void OpenWithOneSlot() {
    io_.reset();
    scheduler_.reset();
    Open(/*max_queued_requests=*/16, /*max_batch_sequences=*/1);
  }

  TurnRequest Request(absl::string_view prompt, int max_tokens, std::string session = "") {
    TurnRequest request;
    request.generation.prompt = Bytes(prompt);
    request.generation.sampling.temperature = 0;
    request.generation.sampling.seed = 7;
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

  // The tokens the stored state of `id` has been fed (via a turn that is then aborted).
  std::vector<int32_t> StoredHistory(absl::string_view id) {
    absl::StatusOr<SessionManager::Turn> turn = sessions_->BeginTurn(id, {});
    if (!turn.ok()) {
      ADD_FAILURE() << turn.status();
      return {};
    }
    std::vector<int32_t> history = FakeEngine::History(turn->TakeState());
    sessions_->Abort(*std::move(turn));
    return history;
  }

  SessionRecord Create(absl::string_view id) {
    absl::StatusOr<SessionRecord> record = sessions_->CreateSession(id, {});
    EXPECT_TRUE(record.ok()) << record.status();
    return record.ok() ? *record : SessionRecord();
  }

  testing::FakeClock clock_;
  FakeEngine engine_;
  engine::ByteTokenizer tokenizer_;
  std::unique_ptr<testing::FaultInjectingStore> faults_;
  std::unique_ptr<SessionManager> sessions_;
  std::unique_ptr<Scheduler> scheduler_;
  std::unique_ptr<IoExecutor> io_;  // destroyed first: every posted task runs before the rest go
};

TEST_F(TurnRunnerTest, SuccessCommitsTheTurnAndReportsIt) {
  TestTurnSink sink;
  TurnRunner turn(services(), &sink);
  TurnRequest request = Request("Hi", 3, "chat-1");
  request.generation.received = clock_.Now() - absl::Seconds(5);
  turn.Start(std::move(request));
  absl::StatusOr<TurnResult> result = sink.WaitForResult();

  ASSERT_TRUE(result.ok()) << result.status();
  ASSERT_TRUE(result->status.ok()) << result->status;
  EXPECT_EQ(sink.text(), "cde");
  EXPECT_EQ(result->finish_reason, FinishReason::kLength);
  EXPECT_EQ(result->prompt_tokens, 2);
  EXPECT_EQ(result->generated_tokens, 3);
  EXPECT_EQ(result->session_tokens, 5);
  EXPECT_EQ(result->seed, 7u);
  EXPECT_EQ(result->timings.total, absl::Seconds(5));  // read from the injected clock
  ASSERT_TRUE(result->session.has_value());
  EXPECT_EQ(result->session->id, "chat-1");
  EXPECT_EQ(result->session->version, 1);
  EXPECT_EQ(result->session->token_count, 5);
  EXPECT_THAT(StoredHistory("chat-1"), ElementsAreArray(Bytes("Hicde")));

  // The next turn continues from the committed state.
  absl::StatusOr<TurnResult> next = Run(Request("!", 2, "chat-1"));
  ASSERT_TRUE(next.ok() && next->status.ok());
  EXPECT_EQ(next->session->version, 2);
  EXPECT_EQ(next->session_tokens, 8);
  EXPECT_THAT(StoredHistory("chat-1"), ElementsAreArray(Bytes("Hicde!gh")));
}

TEST_F(TurnRunnerTest, WithoutASessionRunsFromTheInitialStateAndStoresNothing) {
  absl::StatusOr<TurnResult> result = Run(Request("Hi", 2));
  ASSERT_TRUE(result.ok()) << result.status();
  ASSERT_TRUE(result->status.ok()) << result->status;
  EXPECT_EQ(result->generated_tokens, 2);
  EXPECT_EQ(result->session_tokens, 0);
  EXPECT_FALSE(result->session.has_value());
  EXPECT_EQ(sessions_->live_sessions(), 0);
}

TEST_F(TurnRunnerTest, CancelWithDiscardRollsBack) {
  Create("chat-1");
  TestTurnSink sink;
  sink.Pause();  // the first token still arrives; then the turn waits for room
  TurnRunner turn(services(), &sink);
  turn.Start(Request("Hi", 10, "chat-1"));
  ASSERT_TRUE(sink.WaitForDeltas(1)) << "the first token never arrived";
  turn.Cancel();
  absl::StatusOr<TurnResult> result = sink.WaitForResult();

  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->status.code(), absl::StatusCode::kCancelled) << result->status;
  EXPECT_FALSE(result->session.has_value());
  absl::StatusOr<SessionRecord> after = sessions_->GetSession("chat-1");
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_EQ(after->version, 0);
  EXPECT_EQ(after->token_count, 0);
  EXPECT_THAT(StoredHistory("chat-1"), ::testing::IsEmpty());
}

TEST_F(TurnRunnerTest, CancelWithKeepCommitsWhatWasProcessed) {
  Create("chat-1");
  TestTurnSink sink;
  sink.Pause();
  TurnRunner turn(services(), &sink);
  TurnRequest request = Request("Hi", 10, "chat-1");
  request.generation.keep_on_cancel = true;
  turn.Start(std::move(request));
  ASSERT_TRUE(sink.WaitForDeltas(1)) << "the first token never arrived";
  turn.Cancel();
  absl::StatusOr<TurnResult> result = sink.WaitForResult();

  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->status.code(), absl::StatusCode::kCancelled) << result->status;
  // The prompt and the one streamed token are kept as version 1.
  absl::StatusOr<SessionRecord> after = sessions_->GetSession("chat-1");
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_EQ(after->version, 1);
  EXPECT_EQ(after->token_count, 3);
  EXPECT_THAT(StoredHistory("chat-1"), ElementsAreArray(Bytes("Hic")));
}

TEST_F(TurnRunnerTest, CancelBeforeSubmitRollsBackWithoutRunning) {
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

TEST_F(TurnRunnerTest, EngineFailureRollsBack) {
  Create("chat-1");
  engine_.FailNextForward(absl::InternalError("device lost"));
  absl::StatusOr<TurnResult> result = Run(Request("Hi", 3, "chat-1"));

  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->status.code(), absl::StatusCode::kInternal) << result->status;
  EXPECT_FALSE(result->session.has_value());
  absl::StatusOr<SessionRecord> after = sessions_->GetSession("chat-1");
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_EQ(after->version, 0);
  // The session is free again: the next turn runs.
  absl::StatusOr<TurnResult> retry = Run(Request("Hi", 3, "chat-1"));
  ASSERT_TRUE(retry.ok() && retry->status.ok());
  EXPECT_EQ(retry->session->version, 1);
}

TEST_F(TurnRunnerTest, SubmitFailureRollsBackAndReportsTheScheduler) {
  io_.reset();
  scheduler_.reset();
  Open(/*max_queued_requests=*/0);  // no place in the queue: RESOURCE_EXHAUSTED
  absl::StatusOr<TurnResult> result = Run(Request("Hi", 3, "chat-1"));

  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->status.code(), absl::StatusCode::kResourceExhausted) << result->status;
  EXPECT_EQ(result->prompt_tokens, -1);  // refused before its state was loaded
  EXPECT_EQ(result->generated_tokens, -1);
  // The turn that would have created the session was rolled back.
  EXPECT_EQ(sessions_->GetSession("chat-1").status().code(), absl::StatusCode::kNotFound);
}

TEST_F(TurnRunnerTest, CommitFailureIsTheTurnsError) {
  Create("chat-1");
  faults_->FailNext(testing::StoreOp::kWrite, 1);
  absl::StatusOr<TurnResult> result = Run(Request("Hi", 3, "chat-1"));

  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->status.code(), absl::StatusCode::kUnavailable) << result->status;
  EXPECT_EQ(result->generated_tokens, 3);  // the generation ran; its commit failed
  EXPECT_EQ(faults_->failures(testing::StoreOp::kWrite), 1);
  EXPECT_FALSE(result->session.has_value());
  absl::StatusOr<SessionRecord> after = sessions_->GetSession("chat-1");
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_EQ(after->version, 0);
}

TEST_F(TurnRunnerTest, UnknownSessionIsNotFound) {
  TurnRequest request = Request("Hi", 3, "nobody");
  request.create_session = false;
  absl::StatusOr<TurnResult> result = Run(std::move(request));

  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->status.code(), absl::StatusCode::kNotFound) << result->status;
  EXPECT_EQ(result->prompt_tokens, -1);
  EXPECT_EQ(engine_.call_count(), 0);
}

TEST_F(TurnRunnerTest, ASecondTurnOnTheSameSessionIsAborted) {
  Create("chat-1");
  TestTurnSink first_sink;
  first_sink.Pause();
  TurnRunner first(services(), &first_sink);
  first.Start(Request("Hi", 10, "chat-1"));
  ASSERT_TRUE(first_sink.WaitForDeltas(1)) << "the first turn never started";

  absl::StatusOr<TurnResult> second = Run(Request("Yo", 3, "chat-1"));
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(second->status.code(), absl::StatusCode::kAborted) << second->status;

  // The first turn is unaffected: given room again, it completes and commits.
  first_sink.Resume();
  first.Wake();
  absl::StatusOr<TurnResult> result = first_sink.WaitForResult();
  ASSERT_TRUE(result.ok()) << result.status();
  ASSERT_TRUE(result->status.ok()) << result->status;
  EXPECT_EQ(first_sink.text(), "cdefghijkl");
  EXPECT_EQ(result->session->version, 1);
  EXPECT_EQ(result->session->token_count, 12);
}

TEST_F(TurnRunnerTest, ExpectedVersionMismatchIsAborted) {
  Create("chat-1");
  TurnRequest request = Request("Hi", 3, "chat-1");
  request.expected_version = 4;
  absl::StatusOr<TurnResult> result = Run(std::move(request));

  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->status.code(), absl::StatusCode::kAborted) << result->status;
}

// A turn cancelled while its request waits in the scheduler's queue (the one slot is taken)
// ends at once, CANCELLED, and its session is free for a new turn while the other still runs.
TEST_F(TurnRunnerTest, CancelWhileQueuedEndsAtOnceAndFreesTheSession) {
  OpenWithOneSlot();
  engine_.Hold();
  TestTurnSink long_sink;
  TurnRunner long_turn(services(), &long_sink);
  long_turn.Start(Request("L", 1000));
  ASSERT_TRUE(engine_.WaitUntilHeld(kWaitLimit)) << "the first turn never reached the engine";

  Create("S");
  TestTurnSink sink;
  TurnRunner turn(services(), &sink);
  turn.Start(Request("Hi", 5, "S"));
  ASSERT_TRUE(WaitFor(kWaitLimit, [&] { return scheduler_->stats().waiting == 1; }))
      << "the turn on S never queued";
  turn.Cancel();
  engine_.AllowCalls(1);  // one loop: the step in progress ends, the next one waits again
  absl::StatusOr<TurnResult> result = sink.WaitForResult();
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->status.code(), absl::StatusCode::kCancelled) << result->status;
  EXPECT_FALSE(result->session.has_value());
  EXPECT_FALSE(long_sink.WaitForResult(absl::ZeroDuration()).ok()) << "the first turn ended";

  // S is free at once: a new turn on it is accepted (queued, not ABORTED as busy) ...
  TestTurnSink next_sink;
  TurnRunner next(services(), &next_sink);
  next.Start(Request("Yo", 2, "S"));
  ASSERT_TRUE(WaitFor(kWaitLimit, [&] { return scheduler_->stats().waiting == 1; }))
      << "the new turn on S never queued: "
      << next_sink.WaitForResult(absl::ZeroDuration()).status();
  // ... and commits once the slot is free.
  long_turn.Cancel();
  engine_.Release();
  absl::StatusOr<TurnResult> next_result = next_sink.WaitForResult();
  ASSERT_TRUE(next_result.ok()) << next_result.status();
  ASSERT_TRUE(next_result->status.ok()) << next_result->status;
  EXPECT_EQ(next_result->session->version, 1);
  EXPECT_THAT(StoredHistory("S"), ElementsAreArray(Bytes("Yocd")));
  ASSERT_TRUE(long_sink.WaitForResult().ok());
}

TEST_F(TurnRunnerTest, DeadlineWhileQueuedEndsAtOnceAndFreesTheSession) {
  OpenWithOneSlot();
  engine_.Hold();
  TestTurnSink long_sink;
  TurnRunner long_turn(services(), &long_sink);
  long_turn.Start(Request("L", 1000));
  ASSERT_TRUE(engine_.WaitUntilHeld(kWaitLimit)) << "the first turn never reached the engine";

  Create("S");
  TestTurnSink sink;
  TurnRunner turn(services(), &sink);
  TurnRequest request = Request("Hi", 5, "S");
  request.generation.deadline = clock_.Now() + absl::Seconds(10);
  request.generation.keep_on_cancel = true;  // nothing processed: nothing to keep
  turn.Start(std::move(request));
  ASSERT_TRUE(WaitFor(kWaitLimit, [&] { return scheduler_->stats().waiting == 1; }))
      << "the turn on S never queued";
  clock_.Advance(absl::Seconds(11));
  engine_.AllowCalls(1);
  absl::StatusOr<TurnResult> result = sink.WaitForResult();
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->status.code(), absl::StatusCode::kDeadlineExceeded) << result->status;
  EXPECT_FALSE(long_sink.WaitForResult(absl::ZeroDuration()).ok()) << "the first turn ended";
  absl::StatusOr<SessionRecord> after = sessions_->GetSession("S");
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_EQ(after->version, 0);

  TestTurnSink next_sink;
  TurnRunner next(services(), &next_sink);
  next.Start(Request("Yo", 2, "S"));
  ASSERT_TRUE(WaitFor(kWaitLimit, [&] { return scheduler_->stats().waiting == 1; }))
      << "the new turn on S never queued: "
      << next_sink.WaitForResult(absl::ZeroDuration()).status();
  long_turn.Cancel();
  engine_.Release();
  absl::StatusOr<TurnResult> next_result = next_sink.WaitForResult();
  ASSERT_TRUE(next_result.ok() && next_result->status.ok());
  EXPECT_EQ(next_result->session->version, 1);
  ASSERT_TRUE(long_sink.WaitForResult().ok());
}

// The race of a cancel with the end of generation: the turn finished by itself, but the cancel
// came before its result was committed. The client sees CANCELLED, so a discard-policy turn is
// rolled back; a keep-policy turn is committed whole (and its retry with a turn_id replays it).
TEST_F(TurnRunnerTest, CancelAfterGenerationEndedBeforeTheCommit) {
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
TEST_F(TurnRunnerTest, RetryOfTheLastCommittedTurnIdReplaysIt) {
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
TEST_F(TurnRunnerTest, ForkDoesNotReplayItsSourcesLastTurn) {
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
TEST_F(TurnRunnerTest, RetryOfACancelledKeptTurnReplaysWhatWasKept) {
  Create("chat-1");
  TestTurnSink sink;
  sink.Pause();
  TurnRunner turn(services(), &sink);
  TurnRequest request = Request("Hi", 10, "chat-1");
  request.generation.keep_on_cancel = true;
  request.turn_id = "kept";
  turn.Start(request);
  ASSERT_TRUE(sink.WaitForDeltas(1)) << "the first token never arrived";
  turn.Cancel();
  absl::StatusOr<TurnResult> result = sink.WaitForResult();
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
