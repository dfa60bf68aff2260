// TrackedSession: how the kill soak settles turns whose outcome the client does not know, and
// which stored sessions it counts as failures.
#include "tests/soak/tracked_session.h"

#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace rwkv::soak {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

// Greedy stand-in: the recomputed tokens are 100, 101, ... after any context.
absl::StatusOr<std::vector<int32_t>> CountingGreedy(const std::vector<int32_t>& context,
                                                    int32_t count) {
  std::vector<int32_t> out;
  for (int32_t i = 0; i < count; ++i) out.push_back(100 + i);
  return out;
}

GreedyFn NeverCalled() {
  return [](const std::vector<int32_t>&, int32_t) -> absl::StatusOr<std::vector<int32_t>> {
    ADD_FAILURE() << "greedy called";
    return std::vector<int32_t>{};
  };
}

// A session at version 1 holding {1, 2, 10, 11}.
TrackedSession OneTurn() {
  TrackedSession session("s");
  session.BeginTurn({{1, 2}, 2, false});
  session.OnTokens(std::vector<int32_t>{10, 11});
  EXPECT_TRUE(session.OnDone(1, 4, 2).ok());
  return session;
}

TEST(TrackedSessionTest, DoneAppendsPromptAndTokens) {
  TrackedSession session = OneTurn();
  EXPECT_EQ(session.version(), 1);
  EXPECT_EQ(session.acknowledged_version(), 1);
  EXPECT_FALSE(session.pending());
  EXPECT_THAT(session.history(), ElementsAre(1, 2, 10, 11));
  EXPECT_TRUE(session.CheckStored(1, 4).ok());
}

TEST(TrackedSessionTest, DoneWithWrongCountsFails) {
  TrackedSession session = OneTurn();
  session.BeginTurn({{3}, 1, false});
  session.OnTokens(std::vector<int32_t>{12});
  EXPECT_THAT(session.OnDone(2, 7, 1).message(), HasSubstr("token_count 7"));

  TrackedSession skipped = OneTurn();
  skipped.BeginTurn({{3}, 1, false});
  skipped.OnTokens(std::vector<int32_t>{12});
  EXPECT_THAT(skipped.OnDone(3, 6, 1).message(), HasSubstr("version 3 after version 1"));
}

TEST(TrackedSessionTest, LostAcknowledgedTurnIsDataLoss) {
  TrackedSession session = OneTurn();
  EXPECT_TRUE(absl::IsDataLoss(session.CheckStored(0, 0)));
  EXPECT_THAT(session.CheckStored(0, 0).message(), HasSubstr("acknowledged"));
  session.BeginTurn({{3}, 4, true});
  EXPECT_TRUE(absl::IsDataLoss(session.Resolve(0, 0, NeverCalled()).status()));
}

TEST(TrackedSessionTest, UncommittedTurnLeavesTheSessionAsItWas) {
  TrackedSession session = OneTurn();
  session.BeginTurn({{3, 4}, 8, true});
  session.OnTokens(std::vector<int32_t>{20});
  absl::StatusOr<Resolution> resolution = session.Resolve(1, 4, NeverCalled());
  ASSERT_TRUE(resolution.ok()) << resolution.status();
  EXPECT_FALSE(resolution->committed);
  EXPECT_FALSE(session.pending());
  EXPECT_THAT(session.history(), ElementsAre(1, 2, 10, 11));
}

TEST(TrackedSessionTest, KeptTurnWithTokensNeverReceivedIsCompletedByGreedy) {
  TrackedSession session = OneTurn();
  session.BeginTurn({{3, 4}, 8, true});
  session.OnTokens(std::vector<int32_t>{20});
  // Stored: the prompt, the received token and two more the client never saw.
  absl::StatusOr<Resolution> resolution = session.Resolve(2, 9, CountingGreedy);
  ASSERT_TRUE(resolution.ok()) << resolution.status();
  EXPECT_TRUE(resolution->committed);
  EXPECT_EQ(resolution->reconstructed_tokens, 2);
  EXPECT_THAT(session.history(), ElementsAre(1, 2, 10, 11, 3, 4, 20, 100, 101));
  EXPECT_EQ(session.version(), 2);
  EXPECT_EQ(session.acknowledged_version(), 1);  // stored, never acknowledged
}

TEST(TrackedSessionTest, KeptPartOfThePrompt) {
  TrackedSession session = OneTurn();
  session.BeginTurn({{3, 4, 5}, 8, true});
  absl::StatusOr<Resolution> resolution = session.Resolve(2, 6, NeverCalled());
  ASSERT_TRUE(resolution.ok()) << resolution.status();
  EXPECT_TRUE(resolution->partial_prompt);
  EXPECT_THAT(session.history(), ElementsAre(1, 2, 10, 11, 3, 4));
}

TEST(TrackedSessionTest, KeptTurnMissingAReceivedTokenFails) {
  TrackedSession session = OneTurn();
  session.BeginTurn({{3}, 8, true});
  session.OnTokens(std::vector<int32_t>{20, 21});
  EXPECT_THAT(session.Resolve(2, 6, NeverCalled()).status().message(),
              HasSubstr("received 2 tokens but the session kept 1"));
}

TEST(TrackedSessionTest, DiscardTurnMayOnlyBeStoredWhole) {
  TrackedSession whole = OneTurn();
  whole.BeginTurn({{3}, 2, false});
  whole.OnTokens(std::vector<int32_t>{20});
  absl::StatusOr<Resolution> resolution = whole.Resolve(2, 7, CountingGreedy);
  ASSERT_TRUE(resolution.ok()) << resolution.status();
  EXPECT_TRUE(resolution->discard_turn_committed);
  EXPECT_THAT(whole.history(), ElementsAre(1, 2, 10, 11, 3, 20, 100));

  TrackedSession part = OneTurn();
  part.BeginTurn({{3}, 2, false});
  part.OnTokens(std::vector<int32_t>{20});
  EXPECT_THAT(part.Resolve(2, 6, NeverCalled()).status().message(),
              HasSubstr("DISCARD turn was stored in part"));
}

TEST(TrackedSessionTest, ImpossibleStoredSessionsFail) {
  TrackedSession jumped = OneTurn();
  jumped.BeginTurn({{3}, 2, true});
  EXPECT_THAT(jumped.Resolve(3, 7, NeverCalled()).status().message(),
              HasSubstr("stored at version 3"));
  TrackedSession too_many = OneTurn();
  too_many.BeginTurn({{3}, 2, true});
  EXPECT_THAT(too_many.Resolve(2, 8, NeverCalled()).status().message(), HasSubstr("added 4"));
  TrackedSession same_version = OneTurn();
  same_version.BeginTurn({{3}, 2, true});
  EXPECT_THAT(same_version.Resolve(1, 5, NeverCalled()).status().message(),
              HasSubstr("at the same version"));
}

TEST(TrackedSessionTest, NewSessionThatWasNeverStored) {
  TrackedSession session("new");
  session.BeginTurn({{1}, 4, false});
  absl::StatusOr<Resolution> resolution = session.Resolve(0, 0, NeverCalled());
  ASSERT_TRUE(resolution.ok()) << resolution.status();
  EXPECT_FALSE(resolution->committed);
  EXPECT_EQ(session.version(), 0);
}

}  // namespace
}  // namespace rwkv::soak
