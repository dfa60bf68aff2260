// Two SessionManagers on one store, as two replicas on one Redis are: one turn per session across
// them, no stale hot state, and a replica that lost its lease cannot commit over a newer turn.
// Run on one shared memory store, and on Redis with a store object of its own per replica.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "server/sessions/session_manager.h"
#include "server/store/memory_state_store.h"
#include "tests/util/redis_server.h"
#include "tests/fakes/fake_clock.h"
#include "tests/fakes/fault_injecting_store.h"
#include "tests/util/wait_for.h"

namespace rwkv::server {
namespace {

using ::rwkv::testing::FakeClock;
using ::rwkv::testing::FaultInjectingStore;
using ::rwkv::testing::kWaitLimit;
using ::rwkv::testing::StoreOp;
using ::rwkv::testing::WaitFor;
using ::testing::HasSubstr;

constexpr int kStateFloats = 8;
std::vector<float> StateOf(float value) { return std::vector<float>(kStateFloats, value); }

testing::RedisServer& SharedRedis() {
  static absl::StatusOr<std::unique_ptr<testing::RedisServer>> server =
      testing::RedisServer::Start();
  if (!server.ok()) {
    ADD_FAILURE() << "cannot start redis-server: " << server.status();
    std::abort();
  }
  return **server;
}

// One replica: its own handle on the shared store (its own faults) and its own manager.
struct Replica {
  std::unique_ptr<FaultInjectingStore> faults;
  std::unique_ptr<SessionManager> sessions;
};

class SessionManagerReplicasTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (GetParam() == "redis") {
      ASSERT_TRUE(SharedRedis().Command({"FLUSHDB"}).ok());
    } else {
      store_ = std::make_shared<MemoryStateStore>();
    }
  }

  // The store as one replica sees it: the shared object, or a Redis client of its own.
  std::shared_ptr<StateStore> ReplicaStore() {
    if (store_ != nullptr) return store_;
    absl::StatusOr<std::unique_ptr<StateStore>> store = OpenStateStore(SharedRedis().uri());
    EXPECT_TRUE(store.ok()) << store.status();
    return store.ok() ? std::shared_ptr<StateStore>(*std::move(store)) : nullptr;
  }

  Replica Start(const std::string& name, absl::Duration lease_ttl = absl::Seconds(30)) {
    Replica replica;
    replica.faults = std::make_unique<FaultInjectingStore>(ReplicaStore());
    SessionManager::Options options;
    options.model_fingerprint = "0123456789abcdef";
    options.initial_state = StateOf(0.5f);
    options.clock = &clock_;
    options.replica = name;
    options.lease_ttl = lease_ttl;
    auto sessions = SessionManager::Create(replica.faults->Share(), std::move(options));
    EXPECT_TRUE(sessions.ok()) << sessions.status();
    if (sessions.ok()) replica.sessions = *std::move(sessions);
    return replica;
  }

  static absl::StatusOr<SessionRecord> Turn(SessionManager& sessions, absl::string_view id,
                                            float state) {
    absl::StatusOr<SessionManager::Turn> turn = sessions.BeginTurn(id, {true, 0});
    if (!turn.ok()) return turn.status();
    return sessions.Commit(*std::move(turn), StateOf(state), 1);
  }

  static std::vector<float> StartState(SessionManager& sessions, absl::string_view id) {
    absl::StatusOr<SessionManager::Turn> turn = sessions.BeginTurn(id, {});
    EXPECT_TRUE(turn.ok()) << turn.status();
    return turn.ok() ? turn->TakeState() : std::vector<float>();
  }

  FakeClock clock_{absl::FromUnixSeconds(1'700'000'000)};
  std::shared_ptr<StateStore> store_;  // memory: the one store of both replicas
};

INSTANTIATE_TEST_SUITE_P(Backends, SessionManagerReplicasTest, ::testing::Values("memory", "redis"),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           return info.param;
                         });

TEST_P(SessionManagerReplicasTest, TurnsAlternatingBetweenReplicasContinueOneHistory) {
  Replica a = Start("replica-a"), b = Start("replica-b");
  for (int i = 1; i <= 6; ++i) {
    SessionManager& sessions = *(i % 2 == 1 ? a : b).sessions;
    // Each turn starts from the previous one's state, whichever replica committed it.
    if (i > 1) {
      EXPECT_EQ(StartState(sessions, "chat"), StateOf(static_cast<float>(i - 1)));
    }
    absl::StatusOr<SessionRecord> record = Turn(sessions, "chat", static_cast<float>(i));
    ASSERT_TRUE(record.ok()) << record.status();
    EXPECT_EQ(record->version, i);
  }
}

TEST_P(SessionManagerReplicasTest, ASecondTurnOnAnyReplicaIsAbortedAtOnce) {
  Replica a = Start("replica-a"), b = Start("replica-b");
  ASSERT_TRUE(Turn(*a.sessions, "chat", 1).ok());
  absl::StatusOr<SessionManager::Turn> running = a.sessions->BeginTurn("chat", {});
  ASSERT_TRUE(running.ok()) << running.status();
  absl::StatusOr<SessionManager::Turn> second = b.sessions->BeginTurn("chat", {});
  EXPECT_TRUE(absl::IsAborted(second.status())) << second.status();
  EXPECT_THAT(std::string(second.status().message()), HasSubstr("replica-a"));
  // Every other change of the session waits for the turn too.
  EXPECT_TRUE(absl::IsAborted(b.sessions->DeleteSession("chat")));
  EXPECT_TRUE(absl::IsAborted(b.sessions->ForkSession("chat", "copy", {}).status()));
  // Other sessions are not held up.
  EXPECT_TRUE(Turn(*b.sessions, "other", 1).ok());
  ASSERT_TRUE(a.sessions->Commit(*std::move(running), StateOf(2), 1).ok());
  // Released with the commit: the other replica goes on at once.
  absl::StatusOr<SessionRecord> next = Turn(*b.sessions, "chat", 3);
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_EQ(next->version, 3);
}

TEST_P(SessionManagerReplicasTest, AnAbortedTurnReleasesTheSession) {
  Replica a = Start("replica-a"), b = Start("replica-b");
  ASSERT_TRUE(Turn(*a.sessions, "chat", 1).ok());
  absl::StatusOr<SessionManager::Turn> running = a.sessions->BeginTurn("chat", {});
  ASSERT_TRUE(running.ok());
  a.sessions->Abort(*std::move(running));
  EXPECT_TRUE(Turn(*b.sessions, "chat", 2).ok());
}

TEST_P(SessionManagerReplicasTest, TheHotCacheNeverHidesAnotherReplicasCommit) {
  Replica a = Start("replica-a"), b = Start("replica-b");
  ASSERT_TRUE(Turn(*a.sessions, "chat", 1).ok());  // version 1, hot on a
  ASSERT_TRUE(Turn(*b.sessions, "chat", 2).ok());  // version 2, written by b
  const int64_t hits = a.sessions->cache_stats().hits;
  // a's cached state is version 1: it must load version 2 from the store.
  EXPECT_EQ(StartState(*a.sessions, "chat"), StateOf(2));
  EXPECT_EQ(a.sessions->cache_stats().hits, hits);
  // ... and then it is hot on a.
  EXPECT_EQ(StartState(*a.sessions, "chat"), StateOf(2));
  EXPECT_EQ(a.sessions->cache_stats().hits, hits + 1);
}

TEST_P(SessionManagerReplicasTest, AReplicaThatLostItsLeaseCannotCommitOverANewerTurn) {
  Replica a = Start("replica-a", absl::Milliseconds(300)), b = Start("replica-b");
  ASSERT_TRUE(Turn(*a.sessions, "chat", 1).ok());
  absl::StatusOr<SessionManager::Turn> stalled = a.sessions->BeginTurn("chat", {});
  ASSERT_TRUE(stalled.ok()) << stalled.status();
  // a cannot reach the store's leases (paused, partitioned): its lease runs out.
  a.faults->FailAll(StoreOp::kLease);
  absl::StatusOr<SessionRecord> newer;
  ASSERT_TRUE(WaitFor(kWaitLimit, [&] {
    newer = Turn(*b.sessions, "chat", 2);
    return newer.ok();
  })) << newer.status();
  EXPECT_EQ(newer->version, 2);

  absl::StatusOr<SessionRecord> late = a.sessions->Commit(*std::move(stalled), StateOf(9), 1);
  EXPECT_TRUE(absl::IsAborted(late.status())) << late.status();
  EXPECT_THAT(std::string(late.status().message()), HasSubstr("not committed"));
  // The newer turn stands, on both replicas.
  a.faults->ClearAll();
  absl::StatusOr<SessionRecord> record = a.sessions->GetSession("chat");
  ASSERT_TRUE(record.ok());
  EXPECT_EQ(record->version, 2);
  EXPECT_EQ(StartState(*a.sessions, "chat"), StateOf(2));
}

TEST_P(SessionManagerReplicasTest, ALostLeaseFencesTheCommitEvenBeforeTheNewHolderWrites) {
  Replica a = Start("replica-a", absl::Milliseconds(300)), b = Start("replica-b");
  ASSERT_TRUE(Turn(*a.sessions, "chat", 1).ok());
  absl::StatusOr<SessionManager::Turn> stalled = a.sessions->BeginTurn("chat", {});
  ASSERT_TRUE(stalled.ok());
  a.faults->FailAll(StoreOp::kLease);
  absl::StatusOr<SessionManager::Turn> taken;
  ASSERT_TRUE(WaitFor(kWaitLimit, [&] {
    taken = b.sessions->BeginTurn("chat", {});
    return taken.ok();
  })) << taken.status();
  // b holds the session but has not written: a's record check alone would pass, its fence not.
  EXPECT_TRUE(absl::IsAborted(a.sessions->Commit(*std::move(stalled), StateOf(9), 1).status()));
  absl::StatusOr<SessionRecord> committed = b.sessions->Commit(*std::move(taken), StateOf(2), 1);
  ASSERT_TRUE(committed.ok()) << committed.status();
  EXPECT_EQ(committed->version, 2);
}

TEST_P(SessionManagerReplicasTest, ARecountSeesTheSessionsOfEveryReplica) {
  Replica a = Start("replica-a"), b = Start("replica-b");
  ASSERT_TRUE(a.sessions->CreateSession("one", {}).ok());
  ASSERT_TRUE(Turn(*a.sessions, "two", 1).ok());
  ASSERT_TRUE(b.sessions->CreateSession("three", {}).ok());
  EXPECT_EQ(a.sessions->live_sessions(), 2);  // what a saw itself
  ASSERT_TRUE(a.sessions->RecountSessions().ok());
  EXPECT_EQ(a.sessions->live_sessions(), 3);
  ASSERT_TRUE(b.sessions->DeleteSession("one").ok());
  ASSERT_TRUE(a.sessions->RecountSessions().ok());
  EXPECT_EQ(a.sessions->live_sessions(), 2);
  EXPECT_EQ(a.sessions->store_shared(), GetParam() == "redis");
}

TEST_P(SessionManagerReplicasTest, CreatingOneIdOnTwoReplicasHasOneWinner) {
  Replica a = Start("replica-a"), b = Start("replica-b");
  ASSERT_TRUE(a.sessions->CreateSession("new", {}).ok());
  EXPECT_TRUE(absl::IsAlreadyExists(b.sessions->CreateSession("new", {}).status()));
  // A turn creating a session holds it on every replica until it commits.
  absl::StatusOr<SessionManager::Turn> creating = b.sessions->BeginTurn("fresh", {true, 0});
  ASSERT_TRUE(creating.ok());
  EXPECT_TRUE(absl::IsAborted(a.sessions->CreateSession("fresh", {}).status()));
  ASSERT_TRUE(b.sessions->Commit(*std::move(creating), StateOf(1), 1).ok());
  EXPECT_TRUE(absl::IsAlreadyExists(a.sessions->CreateSession("fresh", {}).status()));
}

// Leases are per tenant's session: a turn on acme's "chat" holds that session on every replica,
// and no other tenant's "chat"; what another replica is told names the client's ID.
TEST_P(SessionManagerReplicasTest, EachTenantsSessionHasALeaseOfItsOwn) {
  Replica a = Start("replica-a"), b = Start("replica-b");
  absl::StatusOr<SessionManager::Turn> running =
      a.sessions->BeginTurn("acme", "chat", {.create_if_missing = true});
  ASSERT_TRUE(running.ok()) << running.status();
  absl::StatusOr<SessionManager::Turn> second = b.sessions->BeginTurn("acme", "chat", {true, 0});
  EXPECT_TRUE(absl::IsAborted(second.status())) << second.status();
  EXPECT_THAT(std::string(second.status().message()), HasSubstr("replica-a"));
  EXPECT_THAT(std::string(second.status().message()), HasSubstr("session chat "));
  EXPECT_THAT(std::string(second.status().message()), ::testing::Not(HasSubstr("~")));
  // The default tenant's and globex's "chat" are other sessions.
  EXPECT_TRUE(Turn(*b.sessions, "chat", 1).ok());
  absl::StatusOr<SessionManager::Turn> globex =
      b.sessions->BeginTurn("globex", "chat", {.create_if_missing = true});
  ASSERT_TRUE(globex.ok()) << globex.status();
  ASSERT_TRUE(b.sessions->Commit(*std::move(globex), StateOf(3), 1).ok());
  ASSERT_TRUE(a.sessions->Commit(*std::move(running), StateOf(2), 1).ok());
  // Released with the commit; each replica reads each tenant's own history.
  absl::StatusOr<SessionManager::Turn> next = b.sessions->BeginTurn("acme", "chat", {});
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_EQ(next->record().version, 1);
  EXPECT_EQ(next->TakeState(), StateOf(2));
  EXPECT_EQ(StartState(*a.sessions, "chat"), StateOf(1));
  EXPECT_EQ(b.sessions->live_sessions(), 2);  // tracked by b: the two it created
  ASSERT_TRUE(b.sessions->RecountSessions().ok());
  EXPECT_EQ(b.sessions->live_sessions(), 3);
}

}  // namespace
}  // namespace rwkv::server
