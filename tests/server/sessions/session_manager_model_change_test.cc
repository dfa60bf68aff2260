// SessionManager after a model change: other models' sessions are listed with their fingerprint
// and can be deleted (but not used), and every ListSessions call reads a bounded number of
// records however many it skips.
#include <algorithm>

#include "tests/server/sessions/session_manager_fixture.h"

namespace rwkv::server {
namespace session_test {
namespace {

// Instantiated over both backends in session_manager_test.cc.

// Writes `count` sessions "<prefix>0000".. of `fingerprint` straight into the store, expired
// ones if `expired` (the manager's clock is at kStart).
void PutSessions(StateStore& store, absl::string_view prefix, int count,
                 absl::string_view fingerprint, bool expired = false) {
  WriteBatch batch;
  const double start = absl::ToDoubleSeconds(kStart - absl::UnixEpoch());
  for (int i = 0; i < count; ++i) {
    SessionRecord record{.id = absl::StrFormat("%s%04d", prefix, i),
                         .model_fingerprint = std::string(fingerprint),
                         .created_at = start - 100,
                         .updated_at = start - 100,
                         .expires_at = expired ? start - 1 : 0,
                         .state_bytes = kStateBytes};
    batch.Put(absl::StrCat("m/", record.id), EncodeSessionRecord(record));
    batch.Put(absl::StrCat("s/", record.id),
              EncodeStateBlob({record.model_fingerprint, 0, 0}, StateOf(0.5f)));
  }
  ASSERT_TRUE(store.Write(batch).ok());
}

struct Listing {
  std::vector<SessionRecord> sessions;
  int calls = 0;
  int64_t most_read = 0;  // the most records one call read
  int empty_pages_with_token = 0;
};

// Pages through every session, counting the records each call reads from the store.
Listing ListAll(SessionManager& manager, FaultInjectingStore& faults, int page_size) {
  constexpr int kMaxCalls = 100'000;  // a hang guard against a token that never ends
  Listing listing;
  std::string token;
  do {
    ++listing.calls;
    const int64_t scans = faults.calls(StoreOp::kScan);
    const int64_t read = faults.scanned_entries();
    absl::StatusOr<SessionManager::Page> page = manager.ListSessions(page_size, token);
    EXPECT_TRUE(page.ok()) << page.status();
    if (!page.ok()) break;
    EXPECT_EQ(faults.calls(StoreOp::kScan) - scans, 1) << "after " << token;
    listing.most_read = std::max(listing.most_read, faults.scanned_entries() - read);
    if (page->sessions.empty() && !page->next_page_token.empty()) {
      ++listing.empty_pages_with_token;
    }
    for (SessionRecord& session : page->sessions) listing.sessions.push_back(std::move(session));
    token = page->next_page_token;
  } while (!token.empty() && listing.calls < kMaxCalls);
  return listing;
}

TEST_P(SessionManagerTest, ListShowsEveryModelsSessionsWithTheirFingerprints) {
  SessionManager::Options other = options_;
  other.model_fingerprint = kOtherFingerprint;
  std::unique_ptr<SessionManager> old_model = NewManager(other);
  ASSERT_TRUE(old_model->CreateSession("a-theirs", {{"user", "ada"}}).ok());
  ASSERT_TRUE(Manager().CreateSession("b-ours", {}).ok());
  ASSERT_TRUE(old_model->CreateSession("c-theirs", {}).ok());

  absl::StatusOr<SessionManager::Page> page = Manager().ListSessions(10, "");
  ASSERT_TRUE(page.ok()) << page.status();
  ASSERT_EQ(page->sessions.size(), 3u);
  EXPECT_EQ(page->next_page_token, "");
  EXPECT_EQ(page->sessions[0].id, "a-theirs");
  EXPECT_EQ(page->sessions[0].model_fingerprint, kOtherFingerprint);
  EXPECT_EQ(page->sessions[0].metadata.at("user"), "ada");
  EXPECT_EQ(page->sessions[1].id, "b-ours");
  EXPECT_EQ(page->sessions[1].model_fingerprint, kFingerprint);
  EXPECT_EQ(page->sessions[2].id, "c-theirs");
  EXPECT_EQ(page->sessions[2].model_fingerprint, kOtherFingerprint);
  // Paged one at a time, the same three.
  EXPECT_EQ(Manager().ListSessions(1, "a-theirs")->next_page_token, "b-ours");
  EXPECT_EQ(Manager().ListSessions(1, "b-ours")->sessions.at(0).id, "c-theirs");
}

TEST_P(SessionManagerTest, DeleteRemovesAnotherModelsSession) {
  SessionManager::Options other = options_;
  other.model_fingerprint = kOtherFingerprint;
  ASSERT_TRUE(NewManager(other)->CreateSession("theirs", {}).ok());
  ASSERT_TRUE(Manager().CreateSession("ours", {}).ok());
  EXPECT_EQ(Manager().live_sessions(), 2);

  // Still not usable: only listing and deleting apply to it.
  EXPECT_EQ(Manager().BeginTurn("theirs", {}).status().code(),
            absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE(Manager().DeleteSession("theirs").ok());
  EXPECT_EQ(store_->Get("m/theirs").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->Get("s/theirs").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(Manager().live_sessions(), 1);
  EXPECT_EQ(Manager().GetSession("theirs").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(Manager().DeleteSession("theirs").code(), absl::StatusCode::kNotFound);
  // The ID is free for this model now.
  ASSERT_TRUE(Manager().CreateSession("theirs", {}).ok());
  EXPECT_EQ(Manager().GetSession("theirs")->model_fingerprint, kFingerprint);
  absl::StatusOr<SessionManager::Page> page = Manager().ListSessions(10, "");
  ASSERT_TRUE(page.ok()) << page.status();
  ASSERT_EQ(page->sessions.size(), 2u);
  EXPECT_EQ(page->sessions[1].model_fingerprint, kFingerprint);
}

TEST_P(SessionManagerTest, EachListCallReadsBoundedRecordsAmongOtherModelsSessions) {
  constexpr int kOthers = 5000;
  PutSessions(*store_, "old-", kOthers, kOtherFingerprint);
  ASSERT_TRUE(Manager().CreateSession("zz-new", {}).ok());

  for (int page_size : {0, 100, 1000}) {
    const Listing listing = ListAll(Manager(), *faults_, page_size);
    const int size = page_size == 0 ? 100 : page_size;
    EXPECT_LE(listing.most_read, size + 1) << "page_size " << page_size;
    ASSERT_EQ(listing.sessions.size(), kOthers + 1u) << "page_size " << page_size;
    EXPECT_EQ(listing.calls, (kOthers + 1 + size - 1) / size) << "page_size " << page_size;
    EXPECT_EQ(listing.sessions.front().id, "old-0000");
    EXPECT_EQ(listing.sessions.front().model_fingerprint, kOtherFingerprint);
    EXPECT_EQ(listing.sessions.back().id, "zz-new");
    EXPECT_EQ(listing.sessions.back().model_fingerprint, kFingerprint);
  }
}

TEST_P(SessionManagerTest, EachListCallReadsBoundedRecordsAmongExpiredSessions) {
  options_.ttl = absl::Hours(1);
  constexpr int kExpired = 5000;
  PutSessions(*store_, "gone-", kExpired, kOtherFingerprint, /*expired=*/true);
  PutSessions(*store_, "gone-mine-", 10, kFingerprint, /*expired=*/true);
  ASSERT_TRUE(Manager().CreateSession("live", {}).ok());

  const Listing listing = ListAll(Manager(), *faults_, 100);
  EXPECT_LE(listing.most_read, 101);
  ASSERT_EQ(listing.sessions.size(), 1u);
  EXPECT_EQ(listing.sessions[0].id, "live");
  // Pages of nothing but expired records come back empty, with a token to go on.
  EXPECT_GT(listing.empty_pages_with_token, 0);
  EXPECT_EQ(listing.calls, (kExpired + 10 + 1 + 99) / 100);
}

}  // namespace
}  // namespace session_test
}  // namespace rwkv::server
