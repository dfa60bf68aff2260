// End to end, two rwkv-server replicas on one Redis: a session's turns may land on either and
// continue one history; a session runs one turn at a time across both; a replica killed or
// frozen in the middle of a turn leaves the session as it was, the other continues it once the
// lease has expired, and a frozen one that wakes up cannot commit over the newer turn. Real
// processes and gRPC on 127.0.0.1, the tiny RWKV-7 model, greedy turns checked against the
// engine run in-process.
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/server/e2e/replicas_fixture.h"
#include "tests/server/e2e/rpc_util.h"
#include "tests/server/e2e/server_process.h"
#include "tests/util/wait_for.h"

namespace rwkv::testing {
namespace {

using rwkv::v1::Rwkv;
using ::testing::AllOf;
using ::testing::HasSubstr;

// Long enough that a turn is still running whenever the test looks: the small-window stream
// pauses it after a few hundred unread tokens.
constexpr int kLongTurn = 2000;
constexpr int kTurnTokens = 8;

// A session's history as the tests see it: every prompt and every streamed token, in order.
struct History {
  std::vector<int32_t> tokens;
  int64_t version = 0;

  // Checks that `turn` is the greedy continuation of the history with `prompt` and committed
  // the next version, then appends both.
  void Append(const std::string& prompt, const StreamResult& turn) {
    ASSERT_TRUE(turn.status.ok()) << turn.status.error_message();
    ASSERT_TRUE(turn.has_done);
    tokens = Concat(tokens, Bytes(prompt));
    EXPECT_EQ(turn.tokens, LocalGreedy(TinyModel(), tokens, static_cast<int>(turn.tokens.size())))
        << "turn " << version + 1 << " does not continue the session's history";
    EXPECT_EQ(turn.done.session().version(), version + 1);
    tokens = Concat(tokens, turn.tokens);
    version += 1;
  }
};

class ReplicasE2eTest : public ReplicasFixture {
 protected:
  void StartBoth() {
    a_ = StartReplica("replica-a");
    ASSERT_NE(a_, nullptr);
    b_ = StartReplica("replica-b");
    ASSERT_NE(b_, nullptr);
    stub_a_ = Rwkv::NewStub(a_->Channel());
    stub_b_ = Rwkv::NewStub(b_->Channel());
  }

  // Runs a short turn on `stub` and appends it to `history`.
  void Turn(Rwkv::Stub& stub, const std::string& id, const std::string& prompt, History& history) {
    history.Append(prompt, Generate(stub, GreedyRequest(prompt, kTurnTokens, id)));
  }

  int64_t VersionOn(Rwkv::Stub& stub, const std::string& id) {
    rwkv::v1::Session session;
    const grpc::Status status = GetSession(stub, id, &session);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return session.version();
  }

  // Runs `prompt` on `stub` until it is accepted: while the session's lease is still held by
  // `holder` every try must be ABORTED naming it. Returns the accepted turn.
  StreamResult TurnOnceReleased(Rwkv::Stub& stub, const std::string& id, const std::string& prompt,
                                const std::string& holder) {
    StreamResult turn;
    const bool accepted = WaitFor(
        kWaitLimit,
        [&] {
          turn = Generate(stub, GreedyRequest(prompt, kTurnTokens, id));
          if (turn.status.ok()) return true;
          EXPECT_EQ(turn.status.error_code(), grpc::StatusCode::ABORTED)
              << turn.status.error_message();
          EXPECT_THAT(turn.status.error_message(),
                      AllOf(HasSubstr("in flight elsewhere"), HasSubstr(holder)));
          return turn.status.error_code() != grpc::StatusCode::ABORTED;
        },
        absl::Milliseconds(100));
    EXPECT_TRUE(accepted) << "the session was never released: " << turn.status.error_message();
    return turn;
  }

  std::unique_ptr<ServerProcess> a_, b_;
  std::unique_ptr<Rwkv::Stub> stub_a_, stub_b_;
};

TEST_F(ReplicasE2eTest, TurnsAlternatingBetweenReplicasContinueOneGreedyRun) {
  StartBoth();
  History history;
  for (int i = 0; i < 6; ++i) {
    Rwkv::Stub& stub = i % 2 == 0 ? *stub_a_ : *stub_b_;
    Turn(stub, "alternating", absl::StrCat(i == 0 ? "Once upon a time" : "", " turn ", i), history);
    if (HasFatalFailure()) return;
  }
  // Both replicas read the one session from Redis.
  EXPECT_EQ(VersionOn(*stub_a_, "alternating"), 6);
  EXPECT_EQ(VersionOn(*stub_b_, "alternating"), 6);
}

TEST_F(ReplicasE2eTest, ConcurrentTurnsOnBothReplicasGiveOneSuccessAndOneAborted) {
  StartBoth();
  History history;
  Turn(*stub_b_, "busy", "The quick brown fox", history);
  OpenStream long_turn(*a_, GreedyRequest(" jumps", kLongTurn, "busy"));
  ASSERT_TRUE(long_turn.AwaitFirstToken()) << long_turn.Finish().status.error_message();
  // A's turn holds the session until it ends, whichever replica the second turn reaches.
  const StreamResult second = Generate(*stub_b_, GreedyRequest(" over", kTurnTokens, "busy"));
  EXPECT_EQ(second.status.error_code(), grpc::StatusCode::ABORTED) << second.status.error_message();
  EXPECT_THAT(second.status.error_message(),
              AllOf(HasSubstr("session busy already has a turn or change in flight elsewhere"),
                    HasSubstr("replica-a")));
  EXPECT_EQ(second.messages, 0);
  const StreamResult third = Generate(*stub_a_, GreedyRequest(" over", kTurnTokens, "busy"));
  EXPECT_EQ(third.status.error_code(), grpc::StatusCode::ABORTED) << third.status.error_message();

  history.Append(" jumps", long_turn.Finish());
  EXPECT_EQ(history.version, 2);
  // Released with the commit: B continues at once from A's turn.
  Turn(*stub_b_, "busy", " the lazy dog", history);
  EXPECT_EQ(VersionOn(*stub_a_, "busy"), 3);
}

TEST_F(ReplicasE2eTest, AKilledReplicasSessionContinuesOnTheOtherOnceItsLeaseExpires) {
  StartBoth();
  History history;
  Turn(*stub_b_, "orphan", "In a hole in the ground", history);  // hot on B at version 1
  Turn(*stub_a_, "orphan", " there lived", history);             // version 2, by A
  OpenStream doomed(*a_, GreedyRequest(" a hobbit", kLongTurn, "orphan"));
  ASSERT_TRUE(doomed.AwaitFirstToken()) << doomed.Finish().status.error_message();
  // While A lives it renews its lease: B is refused, naming the holder.
  const StreamResult refused = Generate(*stub_b_, GreedyRequest(" Not", kTurnTokens, "orphan"));
  EXPECT_EQ(refused.status.error_code(), grpc::StatusCode::ABORTED)
      << refused.status.error_message();
  EXPECT_THAT(refused.status.error_message(),
              HasSubstr("lease \"session/orphan\" is held by \"replica-a\""));

  a_->Kill();
  EXPECT_NE(doomed.Finish().status.error_code(), grpc::StatusCode::OK);
  // Nothing of the killed turn was committed.
  EXPECT_EQ(VersionOn(*stub_b_, "orphan"), 2);
  // Once the dead replica's lease has expired B takes the session over, from version 2 (not
  // from the state it still holds hot, version 1).
  history.Append(" Not a nasty", TurnOnceReleased(*stub_b_, "orphan", " Not a nasty", "replica-a"));
  EXPECT_EQ(history.version, 3);
  EXPECT_EQ(VersionOn(*stub_b_, "orphan"), 3);
}

TEST_F(ReplicasE2eTest, AReplicaFrozenPastItsLeaseCannotCommitWhenItWakes) {
  StartBoth();
  History history;
  Turn(*stub_a_, "frozen", "It was a bright cold day", history);
  OpenStream stale(*a_, GreedyRequest(" in April", kLongTurn, "frozen"));
  ASSERT_TRUE(stale.AwaitFirstToken()) << stale.Finish().status.error_message();
  // A freezes with its turn running: it stops renewing its lease.
  a_->Pause();
  const StreamResult newer = TurnOnceReleased(*stub_b_, "frozen", ", and the clocks", "replica-a");
  history.Append(", and the clocks", newer);
  EXPECT_EQ(history.version, 2);

  // A wakes up and finishes its turn, started from version 1: the store refuses its commit.
  a_->Resume();
  const StreamResult late = stale.Finish();
  EXPECT_EQ(late.status.error_code(), grpc::StatusCode::ABORTED) << late.status.error_message();
  EXPECT_THAT(late.status.error_message(),
              AllOf(HasSubstr("session frozen changed while this turn ran"),
                    HasSubstr("this turn is not committed")));
  EXPECT_FALSE(late.has_done);
  // B's turn stands, on both replicas, and the next turn (on A) continues from it.
  EXPECT_EQ(VersionOn(*stub_a_, "frozen"), 2);
  EXPECT_EQ(VersionOn(*stub_b_, "frozen"), 2);
  Turn(*stub_a_, "frozen", " were striking", history);
  EXPECT_EQ(history.version, 3);
}

TEST_F(ReplicasE2eTest, AWokenReplicaIsFencedOffEvenBeforeTheNewHolderCommits) {
  StartBoth();
  History history;
  Turn(*stub_a_, "fenced", "The sky above the port", history);
  OpenStream stale(*a_, GreedyRequest(" was the color", kLongTurn, "fenced"));
  ASSERT_TRUE(stale.AwaitFirstToken()) << stale.Finish().status.error_message();
  a_->Pause();
  // B takes the session over once A's lease has expired, and keeps its turn running.
  std::unique_ptr<OpenStream> taker;
  bool running = false;
  ASSERT_TRUE(WaitFor(
      kWaitLimit,
      [&] {
        taker =
            std::make_unique<OpenStream>(*b_, GreedyRequest(" of television", kLongTurn, "fenced"));
        running = taker->AwaitFirstToken();
        if (running) return true;
        const grpc::Status refused = taker->Finish().status;
        EXPECT_THAT(refused.error_message(), HasSubstr("held by \"replica-a\""));
        return refused.error_code() != grpc::StatusCode::ABORTED;
      },
      absl::Milliseconds(100)));
  ASSERT_TRUE(running) << taker->Finish().status.error_message();

  // The session's record is still the one A started from: only the fence tells A's commit from
  // B's.
  a_->Resume();
  const StreamResult late = stale.Finish();
  EXPECT_EQ(late.status.error_code(), grpc::StatusCode::ABORTED) << late.status.error_message();
  EXPECT_THAT(late.status.error_message(), HasSubstr("this turn is not committed"));
  history.Append(" of television", taker->Finish());
  EXPECT_EQ(history.version, 2);
  EXPECT_EQ(VersionOn(*stub_a_, "fenced"), 2);
}

}  // namespace
}  // namespace rwkv::testing
