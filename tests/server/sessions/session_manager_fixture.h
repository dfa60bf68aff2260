// The fixture shared by the SessionManager tests: a manager over each store backend, with a
// store the test can tamper with and a clock it controls.
#ifndef RWKV_TESTS_SERVER_SESSIONS_SESSION_MANAGER_FIXTURE_H_
#define RWKV_TESTS_SERVER_SESSIONS_SESSION_MANAGER_FIXTURE_H_

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
#include "server/sessions/session_manager.h"
#include "tests/util/scoped_temp_dir.h"

namespace rwkv::server {
namespace session_test {

using ::rwkv::v1::Session;
using Metadata = std::map<std::string, std::string>;

inline constexpr char kFingerprint[] = "0123456789abcdef";
inline constexpr char kOtherFingerprint[] = "fedcba9876543210";
inline constexpr int kStateFloats = 8;
inline constexpr int64_t kStateBytes = kStateFloats * sizeof(float);
inline const absl::Time kStart = absl::FromUnixSeconds(1'700'000'000);

inline std::vector<float> StateOf(float value) { return std::vector<float>(kStateFloats, value); }

using ::rwkv::testing::ScopedTempDir;

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

}  // namespace session_test
}  // namespace rwkv::server

#endif  // RWKV_TESTS_SERVER_SESSIONS_SESSION_MANAGER_FIXTURE_H_
