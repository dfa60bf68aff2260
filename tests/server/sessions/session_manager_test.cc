#include "server/sessions/session_manager.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_replace.h"
#include "server/sessions/session_blob.h"

namespace rwkv::server {
namespace {

using ::rwkv::v1::Session;
using Metadata = std::map<std::string, std::string>;

constexpr char kFingerprint[] = "0123456789abcdef";
constexpr char kOtherFingerprint[] = "fedcba9876543210";
constexpr int kStateFloats = 8;
constexpr int64_t kStateBytes = kStateFloats * sizeof(float);
const absl::Time kStart = absl::FromUnixSeconds(1'700'000'000);

std::vector<float> StateOf(float value) { return std::vector<float>(kStateFloats, value); }

// A directory under ::testing::TempDir(), removed with its contents when destroyed.
class ScopedTempDir {
 public:
  ScopedTempDir() {
    static std::atomic<int> counter{0};
    const ::testing::TestInfo* test = ::testing::UnitTest::GetInstance()->current_test_info();
    const std::string name = absl::StrReplaceAll(test != nullptr ? test->name() : "", {{"/", "_"}});
    path_ = (std::filesystem::path(::testing::TempDir()) /
             absl::StrCat("session_manager_test_", getpid(), "_", counter++, "_", name))
                .string();
    std::filesystem::remove_all(path_);
  }
  ~ScopedTempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// Lends a store the test keeps (to tamper with it, or to hand it to the next manager) and can
// make writes fail.
class SharedStore : public StateStore {
 public:
  SharedStore(std::shared_ptr<StateStore> inner, std::shared_ptr<std::atomic<bool>> fail_writes)
      : inner_(std::move(inner)), fail_writes_(std::move(fail_writes)) {}
  absl::string_view Backend() const override { return inner_->Backend(); }
  absl::StatusOr<std::string> Get(absl::string_view key) override { return inner_->Get(key); }
  absl::Status Write(const WriteBatch& batch) override {
    if (*fail_writes_) return absl::UnavailableError("injected write failure");
    return inner_->Write(batch);
  }
  absl::StatusOr<std::vector<KeyValue>> Scan(absl::string_view prefix,
                                             absl::string_view start_after, int limit) override {
    return inner_->Scan(prefix, start_after, limit);
  }
  absl::Status Flush() override { return inner_->Flush(); }

 private:
  std::shared_ptr<StateStore> inner_;
  std::shared_ptr<std::atomic<bool>> fail_writes_;
};

class FakeClock {
 public:
  absl::Time Now() {
    absl::MutexLock lock(&mu_);
    return now_;
  }
  void Advance(absl::Duration d) {
    absl::MutexLock lock(&mu_);
    now_ += d;
  }

 private:
  absl::Mutex mu_;
  absl::Time now_ ABSL_GUARDED_BY(mu_) = kStart;
};

class SessionManagerTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    OpenStore();
    options_.model_fingerprint = kFingerprint;
    options_.initial_state = StateOf(0.5f);
    options_.clock = [this] { return clock_.Now(); };
  }

  void OpenStore() {
    const std::string uri =
        GetParam() == "memory" ? "memory:" : absl::StrCat("rocksdb:", dir_.path(), "/db");
    absl::StatusOr<std::unique_ptr<StateStore>> store = OpenStateStore(uri);
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::move(store).value();
  }

  std::unique_ptr<SessionManager> NewManager(SessionManager::Options options) {
    auto manager = SessionManager::Create(std::make_unique<SharedStore>(store_, fail_writes_),
                                          std::move(options));
    EXPECT_TRUE(manager.ok()) << manager.status();
    return manager.ok() ? std::move(manager).value() : nullptr;
  }
  SessionManager& Manager() {
    if (manager_ == nullptr) manager_ = NewManager(options_);
    return *manager_;
  }

  // One committed turn: the session's state becomes `state`, with `tokens` more tokens.
  Session CommitTurn(absl::string_view id, float state, int64_t tokens = 1) {
    absl::StatusOr<SessionManager::Turn> turn = Manager().BeginTurn(id, {});
    EXPECT_TRUE(turn.ok()) << turn.status();
    if (!turn.ok()) return Session();
    absl::StatusOr<Session> after = Manager().Commit(*std::move(turn), StateOf(state), tokens);
    EXPECT_TRUE(after.ok()) << after.status();
    return after.ok() ? *after : Session();
  }

  // The state a new turn on `id` starts from (the turn is aborted).
  std::vector<float> CurrentState(absl::string_view id) {
    absl::StatusOr<SessionManager::Turn> turn = Manager().BeginTurn(id, {});
    EXPECT_TRUE(turn.ok()) << turn.status();
    return turn.ok() ? turn->TakeState() : std::vector<float>();
  }

  void RawPut(absl::string_view key, std::string value) {
    WriteBatch batch;
    batch.Put(key, std::move(value));
    ASSERT_TRUE(store_->Write(batch).ok());
  }

  ScopedTempDir dir_;
  FakeClock clock_;
  std::shared_ptr<StateStore> store_;
  std::shared_ptr<std::atomic<bool>> fail_writes_ = std::make_shared<std::atomic<bool>>(false);
  SessionManager::Options options_;
  std::unique_ptr<SessionManager> manager_;
};

INSTANTIATE_TEST_SUITE_P(Backends, SessionManagerTest, ::testing::Values("memory", "rocksdb"),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           return info.param;
                         });

TEST_P(SessionManagerTest, CreateGetDelete) {
  EXPECT_EQ(Manager().backend(), GetParam());
  absl::StatusOr<Session> created = Manager().CreateSession("chat-1", {{"user", "ada"}});
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_EQ(created->id(), "chat-1");
  EXPECT_EQ(created->version(), 0);
  EXPECT_EQ(created->token_count(), 0);
  EXPECT_EQ(created->model_fingerprint(), kFingerprint);
  EXPECT_EQ(created->created_at(), absl::ToUnixSeconds(kStart));
  EXPECT_EQ(created->updated_at(), absl::ToUnixSeconds(kStart));
  EXPECT_EQ(created->expires_at(), 0);
  EXPECT_EQ(created->state_bytes(), kStateBytes);
  EXPECT_EQ(created->metadata().at("user"), "ada");
  EXPECT_EQ(Manager().live_sessions(), 1);

  absl::StatusOr<Session> got = Manager().GetSession("chat-1");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->SerializeAsString(), created->SerializeAsString());
  EXPECT_EQ(CurrentState("chat-1"), StateOf(0.5f));

  EXPECT_EQ(Manager().CreateSession("chat-1", {}).status().code(),
            absl::StatusCode::kAlreadyExists);
  ASSERT_TRUE(Manager().DeleteSession("chat-1").ok());
  EXPECT_EQ(Manager().live_sessions(), 0);
  EXPECT_EQ(Manager().GetSession("chat-1").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(Manager().DeleteSession("chat-1").code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(Manager().BeginTurn("chat-1", {}).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->Get("s/chat-1").status().code(), absl::StatusCode::kNotFound);
}

TEST_P(SessionManagerTest, EmptyIdGetsARandomOne) {
  absl::StatusOr<Session> a = Manager().CreateSession("", {});
  absl::StatusOr<Session> b = Manager().CreateSession("", {});
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_NE(a->id(), b->id());
  for (const Session& s : {*a, *b}) {
    ASSERT_EQ(s.id().size(), 32u) << s.id();
    for (char c : s.id()) EXPECT_TRUE((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')) << s.id();
  }
  EXPECT_EQ(Manager().live_sessions(), 2);
}

TEST_P(SessionManagerTest, IdValidation) {
  for (const std::string& id : {std::string("a"), std::string(128, 'x'), std::string("A-z_0.9:x"),
                                std::string("-x"), std::string("x.")}) {
    EXPECT_TRUE(SessionManager::ValidateId(id).ok()) << id;
  }
  for (const std::string& id : {std::string(), std::string(129, 'x'), std::string(".hidden"),
                                std::string("a/b"), std::string("a b"), std::string("caf\xc3\xa9"),
                                std::string("a\0b", 3), std::string("a\nb")}) {
    const absl::Status status = SessionManager::ValidateId(id);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << id;
    EXPECT_NE(status.message().find("session_id must be 1 to 128 characters"),
              absl::string_view::npos)
        << status;
    EXPECT_EQ(Manager().CreateSession(id.empty() ? "." : id, {}).status().code(),
              absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(Manager().GetSession(id).status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(Manager().BeginTurn(id, {}).status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(Manager().DeleteSession(id).code(), absl::StatusCode::kInvalidArgument);
  }
  const absl::Status status = SessionManager::ValidateId("a/b", "new_session_id");
  EXPECT_NE(status.message().find("new_session_id"), absl::string_view::npos) << status;
  EXPECT_EQ(Manager().ForkSession("a/b", "x", {}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Manager().ForkSession("x", ".y", {}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_P(SessionManagerTest, MetadataValidation) {
  Metadata sixteen;
  for (int i = 0; i < 16; ++i) sixteen.emplace(absl::StrCat("k", i), "v");
  EXPECT_TRUE(SessionManager::ValidateMetadata(sixteen).ok());
  Metadata seventeen = sixteen;
  seventeen.emplace("k16", "v");
  EXPECT_EQ(SessionManager::ValidateMetadata(seventeen).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(
      SessionManager::ValidateMetadata({{std::string(256, 'k'), std::string(256, 'v')}}).ok());
  for (const Metadata& bad : {Metadata{{std::string(257, 'k'), "v"}},
                              Metadata{{"k", std::string(257, 'v')}}, Metadata{{"", "v"}}}) {
    EXPECT_EQ(SessionManager::ValidateMetadata(bad).code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(Manager().CreateSession("m", bad).status().code(),
              absl::StatusCode::kInvalidArgument);
  }
  EXPECT_EQ(Manager().live_sessions(), 0);
}

TEST_P(SessionManagerTest, ListPaginatesAcross250Sessions) {
  for (int i = 0; i < 250; ++i) {
    ASSERT_TRUE(Manager().CreateSession(absl::StrFormat("s%03d", i), {}).ok());
  }
  std::vector<std::string> ids;
  std::string token;
  int pages = 0;
  do {
    absl::StatusOr<SessionManager::Page> page = Manager().ListSessions(100, token);
    ASSERT_TRUE(page.ok()) << page.status();
    for (const Session& s : page->sessions) ids.push_back(s.id());
    token = page->next_page_token;
    ++pages;
  } while (!token.empty() && pages < 10);
  EXPECT_EQ(pages, 3);
  ASSERT_EQ(ids.size(), 250u);
  for (int i = 0; i < 250; ++i) EXPECT_EQ(ids[i], absl::StrFormat("s%03d", i));

  // 250 = 5 x 50: the fifth page already says it is the last.
  absl::StatusOr<SessionManager::Page> fifth = Manager().ListSessions(50, "s199");
  ASSERT_TRUE(fifth.ok());
  EXPECT_EQ(fifth->sessions.size(), 50u);
  EXPECT_EQ(fifth->next_page_token, "");
  absl::StatusOr<SessionManager::Page> first = Manager().ListSessions(0, "");
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(first->sessions.size(), 100u);
  EXPECT_EQ(first->next_page_token, "s099");
}

TEST_P(SessionManagerTest, ListRejectsBadArguments) {
  for (int size : {-1, 1001}) {
    EXPECT_EQ(Manager().ListSessions(size, "").status().code(), absl::StatusCode::kInvalidArgument);
  }
  EXPECT_TRUE(Manager().ListSessions(1000, "").ok());
  const absl::Status status = Manager().ListSessions(10, "../x").status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(status.message().find("bad page_token"), absl::string_view::npos) << status;
  absl::StatusOr<SessionManager::Page> empty = Manager().ListSessions(10, "");
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->sessions.empty());
  EXPECT_EQ(empty->next_page_token, "");
}

TEST_P(SessionManagerTest, TurnsIncrementVersionAndTokens) {
  ASSERT_TRUE(Manager().CreateSession("c", {}).ok());
  absl::StatusOr<SessionManager::Turn> turn = Manager().BeginTurn("c", {});
  ASSERT_TRUE(turn.ok()) << turn.status();
  EXPECT_EQ(turn->session().version(), 0);
  EXPECT_EQ(turn->TakeState(), StateOf(0.5f));
  clock_.Advance(absl::Seconds(3));
  absl::StatusOr<Session> after = Manager().Commit(*std::move(turn), StateOf(1.0f), 5);
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_EQ(after->version(), 1);
  EXPECT_EQ(after->token_count(), 5);
  EXPECT_EQ(after->updated_at(), absl::ToUnixSeconds(kStart) + 3);
  EXPECT_EQ(after->created_at(), absl::ToUnixSeconds(kStart));
  EXPECT_EQ(Manager().GetSession("c")->SerializeAsString(), after->SerializeAsString());
  EXPECT_EQ(CurrentState("c"), StateOf(1.0f));

  const Session second = CommitTurn("c", 2.0f, 7);
  EXPECT_EQ(second.version(), 2);
  EXPECT_EQ(second.token_count(), 12);
  EXPECT_EQ(CurrentState("c"), StateOf(2.0f));
}

TEST_P(SessionManagerTest, OneTurnInFlightPerSession) {
  ASSERT_TRUE(Manager().CreateSession("c", {}).ok());
  ASSERT_TRUE(Manager().CreateSession("other", {}).ok());
  absl::StatusOr<SessionManager::Turn> turn = Manager().BeginTurn("c", {});
  ASSERT_TRUE(turn.ok());
  const absl::Status second = Manager().BeginTurn("c", {}).status();
  EXPECT_EQ(second.code(), absl::StatusCode::kAborted);
  EXPECT_NE(second.message().find("session c already has a turn in flight"),
            absl::string_view::npos)
      << second;
  EXPECT_TRUE(Manager().BeginTurn("other", {}).ok());  // other sessions are unaffected
  EXPECT_EQ(Manager().DeleteSession("c").code(), absl::StatusCode::kAborted);
  EXPECT_EQ(Manager().ForkSession("c", "d", {}).status().code(), absl::StatusCode::kAborted);
  EXPECT_TRUE(Manager().GetSession("c").ok());  // reads do not wait for turns
  ASSERT_TRUE(Manager().Commit(*std::move(turn), StateOf(1.0f), 1).ok());

  // Released by Commit, then by Abort, then by destruction.
  turn = Manager().BeginTurn("c", {});
  ASSERT_TRUE(turn.ok()) << turn.status();
  Manager().Abort(*std::move(turn));
  {
    absl::StatusOr<SessionManager::Turn> scoped = Manager().BeginTurn("c", {});
    ASSERT_TRUE(scoped.ok()) << scoped.status();
    // A moved-to turn holds the mark; the moved-from one releases nothing.
    SessionManager::Turn moved = *std::move(scoped);
    EXPECT_EQ(Manager().BeginTurn("c", {}).status().code(), absl::StatusCode::kAborted);
  }
  EXPECT_TRUE(Manager().BeginTurn("c", {}).ok());
  EXPECT_TRUE(Manager().DeleteSession("c").ok());
}

TEST_P(SessionManagerTest, AbortKeepsVersionAndState) {
  ASSERT_TRUE(Manager().CreateSession("c", {}).ok());
  CommitTurn("c", 1.0f, 4);
  absl::StatusOr<SessionManager::Turn> turn = Manager().BeginTurn("c", {});
  ASSERT_TRUE(turn.ok());
  std::vector<float> state = turn->TakeState();
  state.assign(kStateFloats, 9.0f);   // the engine worked on its copy ...
  Manager().Abort(*std::move(turn));  // ... then the turn failed
  EXPECT_EQ(Manager().GetSession("c")->version(), 1);
  EXPECT_EQ(Manager().GetSession("c")->token_count(), 4);
  EXPECT_EQ(CurrentState("c"), StateOf(1.0f));
}

TEST_P(SessionManagerTest, CommitOfAFinishedTurnFails) {
  ASSERT_TRUE(Manager().CreateSession("c", {}).ok());
  absl::StatusOr<SessionManager::Turn> turn = Manager().BeginTurn("c", {});
  ASSERT_TRUE(turn.ok());
  SessionManager::Turn taken = *std::move(turn);
  EXPECT_EQ(Manager().Commit(*std::move(turn), StateOf(1.0f), 1).status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(Manager().Commit(std::move(taken), StateOf(1.0f), 1).ok());
}

TEST_P(SessionManagerTest, CommitOfTheWrongSizeIsInvalidAndReleases) {
  ASSERT_TRUE(Manager().CreateSession("c", {}).ok());
  absl::StatusOr<SessionManager::Turn> turn = Manager().BeginTurn("c", {});
  ASSERT_TRUE(turn.ok());
  EXPECT_EQ(Manager().Commit(*std::move(turn), std::vector<float>(3, 1.0f), 1).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Manager().GetSession("c")->version(), 0);
  turn = Manager().BeginTurn("c", {});
  ASSERT_TRUE(turn.ok()) << turn.status();
  EXPECT_EQ(Manager().Commit(*std::move(turn), StateOf(1.0f), -1).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_P(SessionManagerTest, StoreErrorAtCommitLeavesVersionN) {
  ASSERT_TRUE(Manager().CreateSession("c", {}).ok());
  CommitTurn("c", 1.0f, 2);
  absl::StatusOr<SessionManager::Turn> turn = Manager().BeginTurn("c", {});
  ASSERT_TRUE(turn.ok());
  *fail_writes_ = true;
  EXPECT_EQ(Manager().Commit(*std::move(turn), StateOf(2.0f), 3).status().code(),
            absl::StatusCode::kUnavailable);
  *fail_writes_ = false;
  EXPECT_EQ(Manager().GetSession("c")->version(), 1);
  EXPECT_EQ(Manager().GetSession("c")->token_count(), 2);
  EXPECT_EQ(CurrentState("c"), StateOf(1.0f));  // released, and still state n
}

TEST_P(SessionManagerTest, ExpectedVersion) {
  ASSERT_TRUE(Manager().CreateSession("c", {}).ok());
  CommitTurn("c", 1.0f);
  CommitTurn("c", 2.0f);
  const absl::Status status = Manager().BeginTurn("c", {.expected_version = 1}).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kAborted);
  EXPECT_NE(status.message().find("version 2"), absl::string_view::npos) << status;
  EXPECT_NE(status.message().find("version 1"), absl::string_view::npos) << status;
  absl::StatusOr<SessionManager::Turn> turn = Manager().BeginTurn("c", {.expected_version = 2});
  ASSERT_TRUE(turn.ok()) << turn.status();
  EXPECT_EQ(turn->session().version(), 2);
}

TEST_P(SessionManagerTest, CreateIfMissingWritesOnlyOnCommit) {
  EXPECT_EQ(Manager().BeginTurn("new", {}).status().code(), absl::StatusCode::kNotFound);
  {
    absl::StatusOr<SessionManager::Turn> turn = Manager().BeginTurn("new", {true});
    ASSERT_TRUE(turn.ok()) << turn.status();
    EXPECT_EQ(turn->session().version(), 0);
    EXPECT_EQ(turn->TakeState(), StateOf(0.5f));
    EXPECT_EQ(Manager().GetSession("new").status().code(), absl::StatusCode::kNotFound);
    EXPECT_EQ(Manager().BeginTurn("new", {true}).status().code(), absl::StatusCode::kAborted);
  }  // destroyed: aborted, nothing written
  EXPECT_EQ(Manager().GetSession("new").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(Manager().live_sessions(), 0);
  EXPECT_EQ(Manager().BeginTurn("new", {true, 3}).status().code(), absl::StatusCode::kAborted);

  absl::StatusOr<SessionManager::Turn> turn = Manager().BeginTurn("new", {true});
  ASSERT_TRUE(turn.ok());
  absl::StatusOr<Session> after = Manager().Commit(*std::move(turn), StateOf(1.0f), 6);
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_EQ(after->version(), 1);
  EXPECT_EQ(after->token_count(), 6);
  EXPECT_EQ(Manager().live_sessions(), 1);
  // On an existing session the flag changes nothing.
  turn = Manager().BeginTurn("new", {true});
  ASSERT_TRUE(turn.ok());
  EXPECT_EQ(turn->session().version(), 1);
  EXPECT_EQ(turn->TakeState(), StateOf(1.0f));
}

TEST_P(SessionManagerTest, ForkedSessionsAreIndependent) {
  ASSERT_TRUE(Manager().CreateSession("a", {{"topic", "cats"}}).ok());
  CommitTurn("a", 1.0f, 10);
  clock_.Advance(absl::Seconds(5));
  absl::StatusOr<Session> b = Manager().ForkSession("a", "b", {});
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(b->id(), "b");
  EXPECT_EQ(b->version(), 1);
  EXPECT_EQ(b->token_count(), 10);
  EXPECT_EQ(b->created_at(), absl::ToUnixSeconds(kStart) + 5);
  EXPECT_EQ(b->metadata().at("topic"), "cats");
  EXPECT_EQ(Manager().live_sessions(), 2);

  CommitTurn("b", 2.0f);
  EXPECT_EQ(CurrentState("a"), StateOf(1.0f));
  CommitTurn("a", 3.0f);
  EXPECT_EQ(CurrentState("b"), StateOf(2.0f));
  EXPECT_EQ(Manager().GetSession("a")->version(), 2);
  EXPECT_EQ(Manager().GetSession("b")->version(), 2);
  ASSERT_TRUE(Manager().DeleteSession("a").ok());
  EXPECT_EQ(CurrentState("b"), StateOf(2.0f));

  absl::StatusOr<Session> c = Manager().ForkSession("b", "", {{"topic", "dogs"}});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->id().size(), 32u);
  EXPECT_EQ(c->metadata().size(), 1u);
  EXPECT_EQ(c->metadata().at("topic"), "dogs");
  EXPECT_EQ(Manager().ForkSession("b", c->id(), {}).status().code(),
            absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(Manager().ForkSession("b", "b", {}).status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(Manager().ForkSession("a", "z", {}).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(Manager().live_sessions(), 2);
}

TEST_P(SessionManagerTest, ExpiredSessionsReadAsNotFoundAndAreSwept) {
  options_.ttl = absl::Seconds(60);
  ASSERT_TRUE(Manager().CreateSession("idle", {}).ok());
  ASSERT_TRUE(Manager().CreateSession("busy", {}).ok());
  ASSERT_TRUE(Manager().CreateSession("used", {}).ok());
  EXPECT_EQ(Manager().GetSession("idle")->expires_at(), absl::ToUnixSeconds(kStart) + 60);
  clock_.Advance(absl::Seconds(50));
  EXPECT_EQ(CommitTurn("used", 1.0f).expires_at(), absl::ToUnixSeconds(kStart) + 110);
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
  EXPECT_EQ(page->sessions[0].id(), "used");

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
  Session record = *Manager().GetSession("c");
  record.set_version(2);
  WriteBatch batch;
  batch.Put("m/c", record.SerializeAsString());
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
  absl::StatusOr<Session> a = Manager().GetSession("a");
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->version(), 1);
  EXPECT_EQ(a->token_count(), 9);
  EXPECT_EQ(a->metadata().at("k"), "v");
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
  Session record = *Manager().GetSession("old-record");
  record.set_version(5);  // the blob says 0
  batch.Put("m/old-record", record.SerializeAsString());
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
  // A record filed under another session's key is corrupt too.
  Session stray;
  stray.set_id("elsewhere");
  stray.set_model_fingerprint(kFingerprint);
  RawPut("m/d", stray.SerializeAsString());
  EXPECT_EQ(Manager().GetSession("d").status().code(), absl::StatusCode::kDataLoss);
}

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
  EXPECT_EQ(Manager().DeleteSession("theirs").code(), absl::StatusCode::kFailedPrecondition);
  absl::StatusOr<SessionManager::Page> page = Manager().ListSessions(10, "");
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->sessions.size(), 1u);
  EXPECT_EQ(page->sessions[0].id(), "ours");
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
    absl::StatusOr<Session> session = manager.GetSession(id);
    ASSERT_TRUE(session.ok());
    EXPECT_EQ(session->version(), kTurnsPerSession) << id;
    EXPECT_EQ(session->token_count(), kTurnsPerSession) << id;
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
}  // namespace rwkv::server
