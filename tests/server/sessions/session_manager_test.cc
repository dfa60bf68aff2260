// SessionManager: creating, listing, deleting and forking sessions, and turns.
#include "tests/server/sessions/session_manager_fixture.h"

namespace rwkv::server {
namespace session_test {
namespace {

INSTANTIATE_TEST_SUITE_P(Backends, SessionManagerTest, ::testing::Values("memory", "rocksdb"),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           return info.param;
                         });

TEST_P(SessionManagerTest, CreateGetDelete) {
  EXPECT_EQ(Manager().backend(), GetParam());
  absl::StatusOr<SessionRecord> created = Manager().CreateSession("chat-1", {{"user", "ada"}});
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_EQ(created->id, "chat-1");
  EXPECT_EQ(created->version, 0);
  EXPECT_EQ(created->token_count, 0);
  EXPECT_EQ(created->model_fingerprint, kFingerprint);
  EXPECT_EQ(created->created_at, absl::ToUnixSeconds(kStart));
  EXPECT_EQ(created->updated_at, absl::ToUnixSeconds(kStart));
  EXPECT_EQ(created->expires_at, 0);
  EXPECT_EQ(created->state_bytes, kStateBytes);
  EXPECT_EQ(created->metadata.at("user"), "ada");
  EXPECT_EQ(Manager().live_sessions(), 1);

  absl::StatusOr<SessionRecord> got = Manager().GetSession("chat-1");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(*got, *created);
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
  absl::StatusOr<SessionRecord> a = Manager().CreateSession("", {});
  absl::StatusOr<SessionRecord> b = Manager().CreateSession("", {});
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_NE(a->id, b->id);
  for (const SessionRecord& s : {*a, *b}) {
    ASSERT_EQ(s.id.size(), 32u) << s.id;
    for (char c : s.id) EXPECT_TRUE((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')) << s.id;
  }
  EXPECT_EQ(Manager().live_sessions(), 2);
}

TEST_P(SessionManagerTest, IdValidation) {
  for (const std::string& id : {std::string("a"), std::string(128, 'x'), std::string("A-z_0.9:x"),
                                std::string("-x"), std::string("x.")}) {
    EXPECT_TRUE(ValidateSessionId(id).ok()) << id;
  }
  for (const std::string& id : {std::string(), std::string(129, 'x'), std::string(".hidden"),
                                std::string("a/b"), std::string("a b"), std::string("caf\xc3\xa9"),
                                std::string("a\0b", 3), std::string("a\nb")}) {
    const absl::Status status = ValidateSessionId(id);
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
  const absl::Status status = ValidateSessionId("a/b", "new_session_id");
  EXPECT_NE(status.message().find("new_session_id"), absl::string_view::npos) << status;
  EXPECT_EQ(Manager().ForkSession("a/b", "x", {}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Manager().ForkSession("x", ".y", {}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_P(SessionManagerTest, MetadataValidation) {
  Metadata sixteen;
  for (int i = 0; i < 16; ++i) sixteen.emplace(absl::StrCat("k", i), "v");
  EXPECT_TRUE(ValidateSessionMetadata(sixteen).ok());
  Metadata seventeen = sixteen;
  seventeen.emplace("k16", "v");
  EXPECT_EQ(ValidateSessionMetadata(seventeen).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(
      ValidateSessionMetadata({{std::string(256, 'k'), std::string(256, 'v')}}).ok());
  for (const Metadata& bad : {Metadata{{std::string(257, 'k'), "v"}},
                              Metadata{{"k", std::string(257, 'v')}}, Metadata{{"", "v"}}}) {
    EXPECT_EQ(ValidateSessionMetadata(bad).code(), absl::StatusCode::kInvalidArgument);
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
    for (const SessionRecord& s : page->sessions) ids.push_back(s.id);
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
  EXPECT_EQ(turn->record().version, 0);
  EXPECT_EQ(turn->TakeState(), StateOf(0.5f));
  clock_.Advance(absl::Seconds(3));
  absl::StatusOr<SessionRecord> after = Manager().Commit(*std::move(turn), StateOf(1.0f), 5);
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_EQ(after->version, 1);
  EXPECT_EQ(after->token_count, 5);
  EXPECT_EQ(after->updated_at, absl::ToUnixSeconds(kStart) + 3);
  EXPECT_EQ(after->created_at, absl::ToUnixSeconds(kStart));
  EXPECT_EQ(*Manager().GetSession("c"), *after);
  EXPECT_EQ(CurrentState("c"), StateOf(1.0f));

  const SessionRecord second = CommitTurn("c", 2.0f, 7);
  EXPECT_EQ(second.version, 2);
  EXPECT_EQ(second.token_count, 12);
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
  EXPECT_EQ(Manager().GetSession("c")->version, 1);
  EXPECT_EQ(Manager().GetSession("c")->token_count, 4);
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
  EXPECT_EQ(Manager().GetSession("c")->version, 0);
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
  faults_->FailAll(StoreOp::kWrite);
  EXPECT_EQ(Manager().Commit(*std::move(turn), StateOf(2.0f), 3).status().code(),
            absl::StatusCode::kUnavailable);
  faults_->Clear(StoreOp::kWrite);
  EXPECT_EQ(Manager().GetSession("c")->version, 1);
  EXPECT_EQ(Manager().GetSession("c")->token_count, 2);
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
  EXPECT_EQ(turn->record().version, 2);
}

TEST_P(SessionManagerTest, CreateIfMissingWritesOnlyOnCommit) {
  EXPECT_EQ(Manager().BeginTurn("new", {}).status().code(), absl::StatusCode::kNotFound);
  {
    absl::StatusOr<SessionManager::Turn> turn = Manager().BeginTurn("new", {true});
    ASSERT_TRUE(turn.ok()) << turn.status();
    EXPECT_EQ(turn->record().version, 0);
    EXPECT_EQ(turn->TakeState(), StateOf(0.5f));
    EXPECT_EQ(Manager().GetSession("new").status().code(), absl::StatusCode::kNotFound);
    EXPECT_EQ(Manager().BeginTurn("new", {true}).status().code(), absl::StatusCode::kAborted);
  }  // destroyed: aborted, nothing written
  EXPECT_EQ(Manager().GetSession("new").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(Manager().live_sessions(), 0);
  EXPECT_EQ(Manager().BeginTurn("new", {true, 3}).status().code(), absl::StatusCode::kAborted);

  absl::StatusOr<SessionManager::Turn> turn = Manager().BeginTurn("new", {true});
  ASSERT_TRUE(turn.ok());
  absl::StatusOr<SessionRecord> after = Manager().Commit(*std::move(turn), StateOf(1.0f), 6);
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_EQ(after->version, 1);
  EXPECT_EQ(after->token_count, 6);
  EXPECT_EQ(Manager().live_sessions(), 1);
  // On an existing session the flag changes nothing.
  turn = Manager().BeginTurn("new", {true});
  ASSERT_TRUE(turn.ok());
  EXPECT_EQ(turn->record().version, 1);
  EXPECT_EQ(turn->TakeState(), StateOf(1.0f));
}

TEST_P(SessionManagerTest, ForkedSessionsAreIndependent) {
  ASSERT_TRUE(Manager().CreateSession("a", {{"topic", "cats"}}).ok());
  CommitTurn("a", 1.0f, 10);
  clock_.Advance(absl::Seconds(5));
  absl::StatusOr<SessionRecord> b = Manager().ForkSession("a", "b", {});
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(b->id, "b");
  EXPECT_EQ(b->version, 1);
  EXPECT_EQ(b->token_count, 10);
  EXPECT_EQ(b->created_at, absl::ToUnixSeconds(kStart) + 5);
  EXPECT_EQ(b->metadata.at("topic"), "cats");
  EXPECT_EQ(Manager().live_sessions(), 2);

  CommitTurn("b", 2.0f);
  EXPECT_EQ(CurrentState("a"), StateOf(1.0f));
  CommitTurn("a", 3.0f);
  EXPECT_EQ(CurrentState("b"), StateOf(2.0f));
  EXPECT_EQ(Manager().GetSession("a")->version, 2);
  EXPECT_EQ(Manager().GetSession("b")->version, 2);
  ASSERT_TRUE(Manager().DeleteSession("a").ok());
  EXPECT_EQ(CurrentState("b"), StateOf(2.0f));

  absl::StatusOr<SessionRecord> c = Manager().ForkSession("b", "", {{"topic", "dogs"}});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->id.size(), 32u);
  EXPECT_EQ(c->metadata.size(), 1u);
  EXPECT_EQ(c->metadata.at("topic"), "dogs");
  EXPECT_EQ(Manager().ForkSession("b", c->id, {}).status().code(),
            absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(Manager().ForkSession("b", "b", {}).status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(Manager().ForkSession("a", "z", {}).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(Manager().live_sessions(), 2);
}

}  // namespace
}  // namespace session_test
}  // namespace rwkv::server
