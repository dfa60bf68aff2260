// TurnRunner and tenants: a turn sees only its tenant's sessions. Two tenants' sessions of one ID
// run apart, another tenant's session is NOT_FOUND like a missing one, and a retried turn_id is
// replayed only from the caller's own session.
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_replace.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/turns/turn_runner.h"
#include "tests/server/turns/turn_test_fixture.h"

namespace rwkv::server {
namespace {

using ::testing::ElementsAreArray;

class TurnTenantTest : public TurnTestFixture {
 protected:
  // Greedy, on `tenant`'s session `id` (created when missing).
  TurnRequest TenantRequest(std::string tenant, absl::string_view prompt, int max_tokens,
                            std::string id) {
    TurnRequest request = Request(prompt, max_tokens, std::move(id));
    request.tenant = std::move(tenant);
    return request;
  }
};

TEST_F(TurnTenantTest, TwoTenantsTurnsOnOneSessionIdRunApart) {
  absl::StatusOr<TurnResult> acme = Run(TenantRequest("acme", "Hi", 3, "chat"));
  ASSERT_TRUE(acme.ok() && acme->status.ok()) << acme.status();
  absl::StatusOr<TurnResult> plain = Run(Request("Yo", 1, "chat"));  // the default tenant
  ASSERT_TRUE(plain.ok() && plain->status.ok()) << plain.status();
  EXPECT_EQ(acme->session->version, 1);
  EXPECT_EQ(acme->session->tenant, "acme");
  EXPECT_EQ(acme->session->id, "chat");
  EXPECT_EQ(plain->session->version, 1);  // a session of its own, not acme's second turn
  EXPECT_EQ(plain->session->tenant, "");

  absl::StatusOr<TurnResult> next = Run(TenantRequest("acme", "!", 2, "chat"));
  ASSERT_TRUE(next.ok() && next->status.ok()) << next.status();
  EXPECT_EQ(next->session->version, 2);
  EXPECT_THAT(StoredHistory("chat", "acme"), ElementsAreArray(Bytes("Hicde!gh")));
  EXPECT_THAT(StoredHistory("chat"), ElementsAreArray(Bytes("Yoc")));
  EXPECT_EQ(sessions_->live_sessions(), 2);
}

TEST_F(TurnTenantTest, AnotherTenantsSessionIsNotFoundLikeAMissingOne) {
  ASSERT_TRUE(Run(TenantRequest("acme", "Hi", 3, "chat"))->status.ok());
  TurnRequest theirs = TenantRequest("globex", "Hi", 3, "chat");
  theirs.create_session = false;
  absl::StatusOr<TurnResult> result = Run(theirs);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->status.code(), absl::StatusCode::kNotFound) << result->status;
  TurnRequest missing = TenantRequest("globex", "Hi", 3, "nowhere");
  missing.create_session = false;
  absl::StatusOr<TurnResult> absent = Run(missing);
  ASSERT_TRUE(absent.ok()) << absent.status();
  EXPECT_EQ(result->status.message(),
            absl::StrReplaceAll(absent->status.message(), {{"nowhere", "chat"}}));
  // Nothing of acme's moved.
  EXPECT_THAT(StoredHistory("chat", "acme"), ElementsAreArray(Bytes("Hicde")));
}

// A retry of acme's last turn_id by another tenant on the same session ID is not acme's turn:
// it runs on a session of its own instead of replaying acme's text.
TEST_F(TurnTenantTest, ATurnIdIsReplayedOnlyFromTheCallersOwnSession) {
  TurnRequest first = TenantRequest("acme", "Hi", 3, "chat");
  first.turn_id = "turn-1";
  absl::StatusOr<TurnResult> original = Run(first);
  ASSERT_TRUE(original.ok() && original->status.ok()) << original.status();
  const int64_t calls = engine_.call_count();

  TurnRequest other = TenantRequest("globex", "Yo", 1, "chat");
  other.turn_id = "turn-1";
  absl::StatusOr<TurnResult> ran = Run(other);
  ASSERT_TRUE(ran.ok() && ran->status.ok()) << ran.status();
  EXPECT_GT(engine_.call_count(), calls);  // run, not replayed
  EXPECT_EQ(ran->generated_tokens, 1);
  EXPECT_EQ(ran->session->tenant, "globex");
  EXPECT_EQ(ran->session->version, 1);
  EXPECT_THAT(StoredHistory("chat", "globex"), ElementsAreArray(Bytes("Yoc")));

  // acme's own retry is still replayed.
  absl::StatusOr<TurnResult> replay = Run(first);
  ASSERT_TRUE(replay.ok() && replay->status.ok()) << replay.status();
  EXPECT_EQ(*replay->session, *original->session);
  EXPECT_THAT(StoredHistory("chat", "acme"), ElementsAreArray(Bytes("Hicde")));
}

TEST_F(TurnTenantTest, AnInvalidTenantIsRefused) {
  absl::StatusOr<TurnResult> result = Run(TenantRequest("a/b", "Hi", 3, "chat"));
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->status.code(), absl::StatusCode::kInvalidArgument) << result->status;
  EXPECT_EQ(sessions_->live_sessions(), 0);
}

}  // namespace
}  // namespace rwkv::server
