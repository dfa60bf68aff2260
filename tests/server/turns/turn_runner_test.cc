// TurnRunner with the real Scheduler over a FakeEngine and a SessionManager over the memory
// store: what a turn that succeeds or fails does to its session (commit, roll back), and what the
// sink is told. Cancellation and retries: turn_cancel_test.cc.
#include "server/turns/turn_runner.h"

#include <utility>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/fakes/fault_injecting_store.h"
#include "tests/fakes/test_turn_sink.h"
#include "tests/server/turns/turn_test_fixture.h"

namespace rwkv::server {
namespace {

using ::rwkv::testing::TestTurnSink;
using ::testing::ElementsAreArray;

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

class TurnRunnerTest : public TurnTestFixture {};

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
  Limits limits;
  limits.max_queued_requests = 0;  // no place in the queue: RESOURCE_EXHAUSTED
  Open(limits);
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

}  // namespace
}  // namespace rwkv::server
