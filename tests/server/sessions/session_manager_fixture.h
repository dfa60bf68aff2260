// The fixture shared by the SessionManager tests: a manager over each store backend, with a
// store the test can tamper with (or make fail) and a clock it controls.
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
#include "rwkv/v1/rwkv.pb.h"
#include "server/sessions/session_blob.h"
#include "server/sessions/session_id.h"
#include "server/sessions/session_manager.h"
#include "server/sessions/session_record_codec.h"
#include "tests/fakes/fake_clock.h"
#include "tests/fakes/fault_injecting_store.h"
#include "tests/util/scoped_temp_dir.h"

namespace rwkv::server {
namespace session_test {

using Metadata = std::map<std::string, std::string>;

inline constexpr char kFingerprint[] = "0123456789abcdef";
inline constexpr char kOtherFingerprint[] = "fedcba9876543210";
inline constexpr int kStateFloats = 8;
inline constexpr int64_t kStateBytes = kStateFloats * sizeof(float);
inline const absl::Time kStart = absl::FromUnixSeconds(1'700'000'000);

inline std::vector<float> StateOf(float value) { return std::vector<float>(kStateFloats, value); }

using ::rwkv::testing::FakeClock;
using ::rwkv::testing::FaultInjectingStore;
using ::rwkv::testing::ScopedTempDir;
using ::rwkv::testing::StoreOp;

class SessionManagerTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    OpenStore();
    options_.model_fingerprint = kFingerprint;
    options_.initial_state = StateOf(0.5f);
    options_.clock = &clock_;
  }

  void OpenStore() {
    faults_.reset();  // it shares the previous store, which must close before it reopens
    const std::string uri =
        GetParam() == "memory" ? "memory:" : absl::StrCat("rocksdb:", dir_.path(), "/db");
    absl::StatusOr<std::unique_ptr<StateStore>> store = OpenStateStore(uri);
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::move(store).value();
    faults_ = std::make_unique<FaultInjectingStore>(store_);
  }

  std::unique_ptr<SessionManager> NewManager(SessionManager::Options options) {
    auto manager = SessionManager::Create(faults_->Share(), std::move(options));
    EXPECT_TRUE(manager.ok()) << manager.status();
    return manager.ok() ? std::move(manager).value() : nullptr;
  }
  SessionManager& Manager() {
    if (manager_ == nullptr) manager_ = NewManager(options_);
    return *manager_;
  }

  // One committed turn: the session's state becomes `state`, with `tokens` more tokens.
  SessionRecord CommitTurn(absl::string_view id, float state, int64_t tokens = 1) {
    absl::StatusOr<SessionManager::Turn> turn = Manager().BeginTurn(id, {});
    EXPECT_TRUE(turn.ok()) << turn.status();
    if (!turn.ok()) return SessionRecord();
    absl::StatusOr<SessionRecord> after =
        Manager().Commit(*std::move(turn), StateOf(state), tokens);
    EXPECT_TRUE(after.ok()) << after.status();
    return after.ok() ? *after : SessionRecord();
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
  FakeClock clock_{kStart};
  std::shared_ptr<StateStore> store_;
  // Over store_: the managers' handles share its faults.
  std::unique_ptr<FaultInjectingStore> faults_;
  SessionManager::Options options_;
  std::unique_ptr<SessionManager> manager_;
};

}  // namespace session_test
}  // namespace rwkv::server

#endif  // RWKV_TESTS_SERVER_SESSIONS_SESSION_MANAGER_FIXTURE_H_
