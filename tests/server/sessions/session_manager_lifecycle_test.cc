// SessionManager: expiry, the hot cache, persistence, damaged or foreign data, concurrency.
#include "tests/server/sessions/session_manager_fixture.h"

namespace rwkv::server {
namespace session_test {
namespace {

// Instantiated over both backends in session_manager_test.cc.

TEST_P(SessionManagerTest, ExpiredSessionsReadAsNotFoundAndAreSwept) {
  options_.ttl = absl::Seconds(60);
  ASSERT_TRUE(Manager().CreateSession("idle", {}).ok());
  ASSERT_TRUE(Manager().CreateSession("busy", {}).ok());
  ASSERT_TRUE(Manager().CreateSession("used", {}).ok());
  EXPECT_EQ(Manager().GetSession("idle")->expires_at, absl::ToUnixSeconds(kStart) + 60);
  clock_.Advance(absl::Seconds(50));
  EXPECT_EQ(CommitTurn("used", 1.0f).expires_at, absl::ToUnixSeconds(kStart) + 110);
  absl::StatusOr<SessionManager::Turn> busy = Manager().BeginTurn("busy", {});
  ASSERT_TRUE(busy.ok());
  clock_.Advance(absl::Seconds(10));
  EXPECT_TRUE(Manager().GetSession("idle").ok());  // exactly at expires_at: still alive
  clock_.Advance(absl::Seconds(1));

  for (const char* id : {"idle", "busy"}) {
    EXPECT_EQ(Manager().GetSession(id).status().code(), absl::StatusCode::kNotFound) << id;
  }
  EXPECT_EQ(Manager().BeginTurn("idle", {}).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(Manager().ForkSession("idle", "copy", {}).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(Manager().DeleteSession("idle").code(), absl::StatusCode::kNotFound);
  absl::StatusOr<SessionManager::Page> page = Manager().ListSessions(10, "");
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->sessions.size(), 1u);
  EXPECT_EQ(page->sessions[0].id, "used");

  EXPECT_EQ(Manager().live_sessions(), 3);
  EXPECT_EQ(Manager().SweepExpired().value(), 1);  // "busy" has a turn in flight
  EXPECT_EQ(Manager().live_sessions(), 2);
  EXPECT_EQ(store_->Get("m/idle").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->Get("s/idle").status().code(), absl::StatusCode::kNotFound);
  // The in-flight turn commits and renews its session.
  ASSERT_TRUE(Manager().Commit(*std::move(busy), StateOf(2.0f), 1).ok());
  EXPECT_TRUE(Manager().GetSession("busy").ok());
  EXPECT_EQ(Manager().SweepExpired().value(), 0);

  // An expired ID can be created again.
  ASSERT_TRUE(Manager().CreateSession("idle", {}).ok());
  clock_.Advance(absl::Seconds(61));
  ASSERT_TRUE(Manager().CreateSession("idle", {}).ok());
  EXPECT_EQ(Manager().live_sessions(), 3);
  EXPECT_EQ(Manager().SweepExpired().value(), 2);
  EXPECT_EQ(Manager().live_sessions(), 1);
}

TEST_P(SessionManagerTest, SweepWithoutTtlDoesNothing) {
  ASSERT_TRUE(Manager().CreateSession("c", {}).ok());
  clock_.Advance(absl::Hours(24 * 365));
  EXPECT_EQ(Manager().SweepExpired().value(), 0);
  EXPECT_TRUE(Manager().GetSession("c").ok());
}

TEST_P(SessionManagerTest, HotCacheHitsMissesAndEviction) {
  options_.hot_cache_bytes = 2 * kStateBytes;
  for (const char* id : {"a", "b", "c"}) ASSERT_TRUE(Manager().CreateSession(id, {}).ok());
  EXPECT_EQ(Manager().cache_stats().entries, 0);
  CurrentState("a");  // miss, then cached
  CurrentState("a");  // hit
  SessionManager::CacheStats stats = Manager().cache_stats();
  EXPECT_EQ(stats.misses, 1);
  EXPECT_EQ(stats.hits, 1);
  EXPECT_EQ(stats.entries, 1);
  EXPECT_EQ(stats.bytes, kStateBytes);

  CommitTurn("b", 1.0f);  // miss for b; its committed state replaces it
  CommitTurn("c", 2.0f);  // miss; evicts a, the least recently used
  stats = Manager().cache_stats();
  EXPECT_EQ(stats.entries, 2);
  EXPECT_EQ(stats.bytes, 2 * kStateBytes);
  EXPECT_EQ(stats.misses, 3);
  EXPECT_EQ(CurrentState("b"), StateOf(1.0f));  // hit on the committed version
  EXPECT_EQ(CurrentState("a"), StateOf(0.5f));  // miss: evicted
  stats = Manager().cache_stats();
  EXPECT_EQ(stats.hits, 2);
  EXPECT_EQ(stats.misses, 4);
  EXPECT_EQ(stats.bytes, 2 * kStateBytes);

  ASSERT_TRUE(Manager().DeleteSession("a").ok());
  EXPECT_EQ(Manager().cache_stats().entries, 1);
}

TEST_P(SessionManagerTest, HotCacheNeverServesAStaleVersion) {
  ASSERT_TRUE(Manager().CreateSession("c", {}).ok());
  CommitTurn("c", 1.0f, 1);  // cached at version 1
  // Another writer (a replica sharing the store) moves the session to version 2.
  SessionRecord record = *Manager().GetSession("c");
  record.version = 2;
  WriteBatch batch;
  batch.Put("m/c", EncodeSessionRecord(record));
  batch.Put("s/c", EncodeStateBlob({kFingerprint, 1, 2}, StateOf(7.0f)));
  ASSERT_TRUE(store_->Write(batch).ok());
  const int64_t misses = Manager().cache_stats().misses;
  EXPECT_EQ(CurrentState("c"), StateOf(7.0f));
  EXPECT_EQ(Manager().cache_stats().misses, misses + 1);
}

TEST_P(SessionManagerTest, ZeroCacheBudgetCachesNothing) {
  options_.hot_cache_bytes = 0;
  ASSERT_TRUE(Manager().CreateSession("c", {}).ok());
  CommitTurn("c", 1.0f);
  EXPECT_EQ(CurrentState("c"), StateOf(1.0f));
  EXPECT_EQ(Manager().cache_stats().entries, 0);
  EXPECT_EQ(Manager().cache_stats().hits, 0);
}

TEST_P(SessionManagerTest, SurvivesManagerRecreation) {
  ASSERT_TRUE(Manager().CreateSession("a", {{"k", "v"}}).ok());
  ASSERT_TRUE(Manager().CreateSession("b", {}).ok());
  CommitTurn("a", 3.0f, 9);
  ASSERT_TRUE(Manager().Flush().ok());
  manager_.reset();
  if (GetParam() == "rocksdb") {
    store_.reset();  // closes the database; the next manager reopens it from disk
    OpenStore();
  }
  EXPECT_EQ(Manager().live_sessions(), 2);
  absl::StatusOr<SessionRecord> a = Manager().GetSession("a");
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->version, 1);
  EXPECT_EQ(a->token_count, 9);
  EXPECT_EQ(a->metadata.at("k"), "v");
  EXPECT_EQ(CurrentState("a"), StateOf(3.0f));
  EXPECT_EQ(Manager().cache_stats().misses, 1);
}

TEST_P(SessionManagerTest, CorruptBlobIsDataLoss) {
  ASSERT_TRUE(Manager().CreateSession("c", {}).ok());
  CommitTurn("c", 1.0f);
  std::string blob = store_->Get("s/c").value();
  blob[blob.size() / 2] ^= 0x10;
  RawPut("s/c", blob);
  manager_.reset();  // a cold cache, so the blob is read
  const absl::Status status = Manager().BeginTurn("c", {}).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss) << status;
  EXPECT_EQ(Manager().ForkSession("c", "d", {}).status().code(), absl::StatusCode::kDataLoss);
  EXPECT_TRUE(Manager().GetSession("c").ok());  // the record alone is intact
  EXPECT_TRUE(Manager().DeleteSession("c").ok());
}

TEST_P(SessionManagerTest, MissingBlobOrDisagreeingRecordIsDataLoss) {
  for (const char* id : {"no-blob", "old-record", "other-blob"}) {
    ASSERT_TRUE(Manager().CreateSession(id, {}).ok());
  }
  WriteBatch batch;
  batch.Delete("s/no-blob");
  SessionRecord record = *Manager().GetSession("old-record");
  record.version = 5;  // the blob says 0
  batch.Put("m/old-record", EncodeSessionRecord(record));
  batch.Put("s/other-blob", EncodeStateBlob({kOtherFingerprint, 0, 0}, StateOf(0.5f)));
  ASSERT_TRUE(store_->Write(batch).ok());
  for (const char* id : {"no-blob", "old-record", "other-blob"}) {
    EXPECT_EQ(Manager().BeginTurn(id, {}).status().code(), absl::StatusCode::kDataLoss) << id;
  }
}

TEST_P(SessionManagerTest, CorruptRecordIsDataLossButDeletable) {
  ASSERT_TRUE(Manager().CreateSession("c", {}).ok());
  RawPut("m/c", "\xff\xff not a protobuf");
  EXPECT_EQ(Manager().GetSession("c").status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(Manager().BeginTurn("c", {true}).status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(Manager().ListSessions(10, "").status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(Manager().CreateSession("c", {}).status().code(), absl::StatusCode::kDataLoss);
  ASSERT_TRUE(Manager().DeleteSession("c").ok());
  EXPECT_EQ(Manager().GetSession("c").status().code(), absl::StatusCode::kNotFound);
  // A record filed under another session's key is corrupt too, in either encoding.
  rwkv::v1::Session stray;
  stray.set_id("elsewhere");
  stray.set_model_fingerprint(kFingerprint);
  RawPut("m/d", stray.SerializeAsString());
  EXPECT_EQ(Manager().GetSession("d").status().code(), absl::StatusCode::kDataLoss);
  RawPut("m/e", EncodeSessionRecord({.id = "elsewhere", .model_fingerprint = kFingerprint}));
  EXPECT_EQ(Manager().GetSession("e").status().code(), absl::StatusCode::kDataLoss);
}

// Listing and deleting another model's sessions: session_manager_model_change_test.cc.
TEST_P(SessionManagerTest, AnotherModelsSessionIsFailedPrecondition) {
  SessionManager::Options other = options_;
  other.model_fingerprint = kOtherFingerprint;
  std::unique_ptr<SessionManager> other_manager = NewManager(other);
  ASSERT_TRUE(other_manager->CreateSession("theirs", {}).ok());
  ASSERT_TRUE(Manager().CreateSession("ours", {}).ok());
  const absl::Status status = Manager().GetSession("theirs").status();
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(status.message().find(kOtherFingerprint), absl::string_view::npos) << status;
  EXPECT_EQ(Manager().BeginTurn("theirs", {}).status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(Manager().BeginTurn("theirs", {true}).status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(Manager().ForkSession("theirs", "mine", {}).status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(Manager().CreateSession("theirs", {}).status().code(),
            absl::StatusCode::kAlreadyExists);
}

TEST_P(SessionManagerTest, ConcurrentTurnsKeepVersionsConsistent) {
  options_.hot_cache_bytes = 3 * kStateBytes;  // fewer than the sessions: hits and misses
  constexpr int kSessions = 4, kThreads = 8, kTurnsPerThread = 50;
  for (int s = 0; s < kSessions; ++s) {
    ASSERT_TRUE(Manager().CreateSession(absl::StrCat("s", s), {}).ok());
  }
  SessionManager& manager = Manager();
  std::atomic<int> unexpected{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kTurnsPerThread; ++i) {
        const std::string id = absl::StrCat("s", (t + i) % kSessions);
        for (;;) {  // retry while another thread holds the session
          absl::StatusOr<SessionManager::Turn> turn = manager.BeginTurn(id, {});
          if (absl::IsAborted(turn.status())) {
            std::this_thread::yield();
            continue;
          }
          if (!turn.ok()) {
            ++unexpected;
            break;
          }
          std::vector<float> state = turn->TakeState();
          for (float& x : state) x += 1.0f;  // every turn adds one everywhere
          if (!manager.Commit(*std::move(turn), state, 1).ok()) ++unexpected;
          break;
        }
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(unexpected, 0);
  constexpr int kTurnsPerSession = kThreads * kTurnsPerThread / kSessions;
  for (int s = 0; s < kSessions; ++s) {
    const std::string id = absl::StrCat("s", s);
    absl::StatusOr<SessionRecord> session = manager.GetSession(id);
    ASSERT_TRUE(session.ok());
    EXPECT_EQ(session->version, kTurnsPerSession) << id;
    EXPECT_EQ(session->token_count, kTurnsPerSession) << id;
    EXPECT_EQ(CurrentState(id), StateOf(0.5f + kTurnsPerSession)) << id;
  }
}

TEST(SessionManagerCreateTest, RejectsBadOptions) {
  auto make = [](SessionManager::Options options) {
    return SessionManager::Create(OpenStateStore("memory:").value(), std::move(options))
        .status()
        .code();
  };
  SessionManager::Options good;
  good.model_fingerprint = kFingerprint;
  good.initial_state = StateOf(0.0f);
  EXPECT_EQ(make(good), absl::StatusCode::kOk);
  EXPECT_EQ(SessionManager::Create(nullptr, good).status().code(),
            absl::StatusCode::kInvalidArgument);
  SessionManager::Options bad = good;
  for (const char* fingerprint : {"", "0123456789ABCDEF", "0123456789abcde", "0123456789abcdeg"}) {
    bad.model_fingerprint = fingerprint;
    EXPECT_EQ(make(bad), absl::StatusCode::kInvalidArgument) << fingerprint;
  }
  bad = good;
  bad.initial_state.clear();
  EXPECT_EQ(make(bad), absl::StatusCode::kInvalidArgument);
  bad = good;
  bad.ttl = absl::Seconds(-1);
  EXPECT_EQ(make(bad), absl::StatusCode::kInvalidArgument);
  bad = good;
  bad.hot_cache_bytes = -1;
  EXPECT_EQ(make(bad), absl::StatusCode::kInvalidArgument);
  bad = good;
  bad.clock = nullptr;
  EXPECT_EQ(make(bad), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace session_test
}  // namespace rwkv::server
