// A store written by the server before session records were versioned (each record a serialized
// rwkv.v1.Session) opens and resumes under the versioned encoding, and moves to it as written;
// its sessions, and those of the versioned format before tenants, are the default tenant's.
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/types/span.h"
#include "gtest/gtest.h"
#include "rwkv/v1/rwkv.pb.h"
#include "server/sessions/session_blob.h"
#include "server/sessions/session_manager.h"
#include "server/sessions/session_record_codec.h"
#include "server/store/state_store.h"
#include "tests/fakes/fake_clock.h"
#include "tests/server/sessions/format3_record.h"
#include "tests/util/scoped_temp_dir.h"

namespace rwkv::server {
namespace {

using ::rwkv::testing::FakeClock;
using ::rwkv::testing::ScopedTempDir;

constexpr char kFingerprint[] = "0123456789abcdef";
constexpr int kStateFloats = 8;
constexpr int64_t kStateBytes = kStateFloats * sizeof(float);
constexpr double kNow = 1'700'000'000;

std::vector<float> StateOf(float value) { return std::vector<float>(kStateFloats, value); }

// Writes a session exactly as the server did before: the record as a serialized
// rwkv.v1.Session under "m/<id>", the state blob under "s/<id>", in one batch.
void WriteLegacySession(StateStore& store, const rwkv::v1::Session& session,
                        absl::Span<const float> state) {
  WriteBatch batch;
  batch.Put(absl::StrCat("m/", session.id()), session.SerializeAsString());
  batch.Put(absl::StrCat("s/", session.id()),
            EncodeStateBlob({session.model_fingerprint(), session.token_count(), session.version()},
                            state));
  ASSERT_TRUE(store.Write(batch).ok());
}

rwkv::v1::Session LegacySession(const std::string& id, int64_t version, int64_t tokens) {
  rwkv::v1::Session session;
  session.set_id(id);
  session.set_version(version);
  session.set_token_count(tokens);
  session.set_created_at(kNow - 100);
  session.set_updated_at(kNow - 10);
  session.set_model_fingerprint(kFingerprint);
  session.set_state_bytes(kStateBytes);
  return session;
}

class LegacyStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    options_.model_fingerprint = kFingerprint;
    options_.initial_state = StateOf(0.5f);
    options_.clock = &clock_;
    std::unique_ptr<StateStore> store = Open();
    ASSERT_NE(store, nullptr);
    rwkv::v1::Session chat = LegacySession("chat", 3, 42);
    (*chat.mutable_metadata())["user"] = "ada";
    WriteLegacySession(*store, chat, StateOf(3.0f));
    WriteLegacySession(*store, LegacySession("other", 0, 0), StateOf(0.5f));
    ASSERT_TRUE(store->Flush().ok());
  }

  std::unique_ptr<StateStore> Open() {
    absl::StatusOr<std::unique_ptr<StateStore>> store =
        OpenStateStore(absl::StrCat("rocksdb:", dir_.path(), "/db"));
    EXPECT_TRUE(store.ok()) << store.status();
    return store.ok() ? *std::move(store) : nullptr;
  }

  // A manager over the database, reopened from disk (the previous one must be gone).
  std::unique_ptr<SessionManager> NewManager() {
    auto manager = SessionManager::Create(Open(), options_);
    EXPECT_TRUE(manager.ok()) << manager.status();
    return manager.ok() ? *std::move(manager) : nullptr;
  }

  // The raw value of `key`, read with a store of its own.
  std::string RawGet(const std::string& key) {
    std::unique_ptr<StateStore> store = Open();
    absl::StatusOr<std::string> value = store->Get(key);
    EXPECT_TRUE(value.ok()) << value.status();
    return value.ok() ? *value : "";
  }

  ScopedTempDir dir_;
  FakeClock clock_{absl::FromUnixSeconds(static_cast<int64_t>(kNow))};
  SessionManager::Options options_;
};

SessionRecord ExpectedChat() {
  return {.id = "chat",
          .model_fingerprint = kFingerprint,
          .version = 3,
          .token_count = 42,
          .created_at = kNow - 100,
          .updated_at = kNow - 10,
          .expires_at = 0,
          .state_bytes = kStateBytes,
          .metadata = {{"user", "ada"}}};
}

TEST_F(LegacyStoreTest, OpensReadsResumesAndRewritesInTheNewEncoding) {
  EXPECT_FALSE(HasSessionRecordMagic(RawGet("m/chat")));
  std::unique_ptr<SessionManager> manager = NewManager();
  ASSERT_NE(manager, nullptr);
  EXPECT_EQ(manager->live_sessions(), 2);

  absl::StatusOr<SessionRecord> chat = manager->GetSession("chat");
  ASSERT_TRUE(chat.ok()) << chat.status();
  EXPECT_EQ(*chat, ExpectedChat());
  absl::StatusOr<SessionManager::Page> page = manager->ListSessions(10, "");
  ASSERT_TRUE(page.ok()) << page.status();
  ASSERT_EQ(page->sessions.size(), 2u);
  EXPECT_EQ(page->sessions[0], ExpectedChat());
  EXPECT_EQ(page->sessions[1].id, "other");
  EXPECT_EQ(page->sessions[1].version, 0);

  absl::StatusOr<SessionManager::Turn> turn = manager->BeginTurn("chat", {.expected_version = 3});
  ASSERT_TRUE(turn.ok()) << turn.status();
  EXPECT_EQ(turn->record(), ExpectedChat());
  EXPECT_EQ(turn->TakeState(), StateOf(3.0f));
  absl::StatusOr<SessionRecord> after = manager->Commit(*std::move(turn), StateOf(4.0f), 5);
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_EQ(after->version, 4);
  EXPECT_EQ(after->token_count, 47);
  EXPECT_EQ(after->created_at, kNow - 100);
  EXPECT_EQ(after->updated_at, kNow);
  EXPECT_EQ(after->metadata.at("user"), "ada");
  ASSERT_TRUE(manager->Flush().ok());
  manager.reset();

  // Written again: the versioned encoding. The untouched session stays as it was.
  const std::string rewritten = RawGet("m/chat");
  EXPECT_TRUE(HasSessionRecordMagic(rewritten));
  EXPECT_EQ(DecodeSessionRecord("chat", rewritten).value(), *after);
  EXPECT_FALSE(HasSessionRecordMagic(RawGet("m/other")));

  manager = NewManager();
  ASSERT_NE(manager, nullptr);
  EXPECT_EQ(manager->live_sessions(), 2);
  absl::StatusOr<SessionRecord> reread = manager->GetSession("chat");
  ASSERT_TRUE(reread.ok()) << reread.status();
  EXPECT_EQ(*reread, *after);
  turn = manager->BeginTurn("chat", {});
  ASSERT_TRUE(turn.ok()) << turn.status();
  EXPECT_EQ(turn->TakeState(), StateOf(4.0f));
  manager->Abort(*std::move(turn));
  turn = manager->BeginTurn("other", {});
  ASSERT_TRUE(turn.ok()) << turn.status();
  EXPECT_EQ(turn->TakeState(), StateOf(0.5f));
}

TEST_F(LegacyStoreTest, ForkAndDeleteOfLegacySessions) {
  std::unique_ptr<SessionManager> manager = NewManager();
  ASSERT_NE(manager, nullptr);
  absl::StatusOr<SessionRecord> fork = manager->ForkSession("chat", "copy", {});
  ASSERT_TRUE(fork.ok()) << fork.status();
  EXPECT_EQ(fork->version, 3);
  EXPECT_EQ(fork->token_count, 42);
  EXPECT_EQ(fork->metadata.at("user"), "ada");
  ASSERT_TRUE(manager->DeleteSession("other").ok());
  EXPECT_EQ(manager->live_sessions(), 2);
  manager.reset();

  EXPECT_TRUE(HasSessionRecordMagic(RawGet("m/copy")));
  manager = NewManager();
  ASSERT_NE(manager, nullptr);
  absl::StatusOr<SessionManager::Turn> turn = manager->BeginTurn("copy", {});
  ASSERT_TRUE(turn.ok()) << turn.status();
  EXPECT_EQ(turn->TakeState(), StateOf(3.0f));
  EXPECT_EQ(manager->GetSession("other").status().code(), absl::StatusCode::kNotFound);
}

// Sessions written before tenants (legacy and format 3 records) are the default tenant's: it
// finds, lists and resumes them under their IDs; no other tenant sees them, and another tenant's
// session of the same ID lives beside them.
TEST_F(LegacyStoreTest, SessionsFromBeforeTenantsAreTheDefaultTenants) {
  {
    std::unique_ptr<StateStore> store = Open();
    ASSERT_NE(store, nullptr);
    const SessionRecord format3 = testing::Format3Record();
    WriteBatch batch;
    batch.Put("m/chat-1", testing::Format3Bytes());
    batch.Put("s/chat-1",
              EncodeStateBlob({format3.model_fingerprint, format3.token_count, format3.version},
                              StateOf(7.0f)));
    ASSERT_TRUE(store->Write(batch).ok());
  }
  std::unique_ptr<SessionManager> manager = NewManager();
  ASSERT_NE(manager, nullptr);
  EXPECT_EQ(manager->live_sessions(), 3);
  absl::StatusOr<SessionManager::Page> page = manager->ListSessions(10, "");
  ASSERT_TRUE(page.ok()) << page.status();
  ASSERT_EQ(page->sessions.size(), 3u);
  EXPECT_EQ(page->sessions[0], ExpectedChat());
  EXPECT_EQ(page->sessions[1], testing::Format3Record());
  EXPECT_EQ(page->sessions[2].id, "other");
  for (const SessionRecord& session : page->sessions) EXPECT_EQ(session.tenant, "");
  for (const char* id : {"chat", "chat-1", "other"}) {
    EXPECT_EQ(manager->GetSession("acme", id).status(),
              absl::NotFoundError(absl::StrCat("session ", id, " not found")));
  }
  page = manager->ListSessions("acme", 10, "");
  ASSERT_TRUE(page.ok()) << page.status();
  EXPECT_TRUE(page->sessions.empty());

  // acme's own "chat", beside the default tenant's.
  absl::StatusOr<SessionManager::Turn> turn =
      manager->BeginTurn("acme", "chat", {.create_if_missing = true});
  ASSERT_TRUE(turn.ok()) << turn.status();
  EXPECT_EQ(turn->TakeState(), StateOf(0.5f));
  ASSERT_TRUE(manager->Commit(*std::move(turn), StateOf(9.0f), 1).ok());
  turn = manager->BeginTurn("chat-1", {.expected_version = 7});
  ASSERT_TRUE(turn.ok()) << turn.status();
  EXPECT_EQ(turn->TakeState(), StateOf(7.0f));
  ASSERT_TRUE(manager->Commit(*std::move(turn), StateOf(8.0f), 1).ok());
  manager.reset();

  manager = NewManager();
  ASSERT_NE(manager, nullptr);
  EXPECT_EQ(manager->live_sessions(), 4);
  EXPECT_EQ(manager->GetSession("chat").value(), ExpectedChat());
  EXPECT_EQ(manager->GetSession("chat-1")->version, 8);
  EXPECT_EQ(manager->GetSession("acme", "chat")->version, 1);
  turn = manager->BeginTurn("chat", {});
  ASSERT_TRUE(turn.ok()) << turn.status();
  EXPECT_EQ(turn->TakeState(), StateOf(3.0f));
}

}  // namespace
}  // namespace rwkv::server
