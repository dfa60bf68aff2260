// SessionManager while StoreHealth reports the store failing: every session write (a turn,
// create, fork, delete) is UNAVAILABLE naming the store's error, before it touches the store;
// reads go on; once a probe succeeds, turns run again.
#include "gmock/gmock.h"
#include "server/store/store_health.h"
#include "tests/server/sessions/session_manager_fixture.h"

namespace rwkv::server {
namespace session_test {
namespace {

// Instantiated over both backends in session_manager_test.cc.

using ::testing::HasSubstr;

class FailingStoreTest : public SessionManagerTest {
 protected:
  void SetUp() override {
    SessionManagerTest::SetUp();
    StoreHealth::Options options;
    options.probe_interval = absl::ZeroDuration();
    options.clock = &clock_;
    health_ = std::make_unique<StoreHealth>(faults_.get(), options);
    options_.store_health = health_.get();
  }

  // Session "a" at version 1.
  void MakeSession() {
    ASSERT_TRUE(Manager().CreateSession("a", {}).ok());
    CommitTurn("a", 1.0f);
  }

  // A failed probe (the disk is full), after which the store itself would work again: what is
  // refused is refused by the health, not by the store.
  void MakeFailing() {
    faults_->FailAll(StoreOp::kWrite, absl::UnavailableError("No space left on device"));
    ASSERT_FALSE(health_->Probe().ok());
    faults_->ClearAll();
    writes_before_ = faults_->calls(StoreOp::kWrite);
    reads_before_ = faults_->calls(StoreOp::kGet);
  }

  void ExpectRefused(const absl::Status& status) {
    EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable) << status;
    EXPECT_THAT(status.message(), HasSubstr("the state store is failing: No space left on device"));
    EXPECT_THAT(status.message(), HasSubstr("new session turns are refused until it recovers"));
  }

  std::unique_ptr<StoreHealth> health_;
  int64_t writes_before_ = 0;
  int64_t reads_before_ = 0;
};

INSTANTIATE_TEST_SUITE_P(Backends, FailingStoreTest, ::testing::Values("memory", "rocksdb"),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           return info.param;
                         });

TEST_P(FailingStoreTest, SessionWritesAreRefusedBeforeTouchingTheStore) {
  MakeSession();
  MakeFailing();
  ExpectRefused(Manager().BeginTurn("a", {}).status());
  ExpectRefused(Manager().BeginTurn("new", {.create_if_missing = true}).status());
  ExpectRefused(Manager().CreateSession("b", {}).status());
  ExpectRefused(Manager().ForkSession("a", "c", {}).status());
  ExpectRefused(Manager().DeleteSession("a"));
  EXPECT_EQ(faults_->calls(StoreOp::kWrite), writes_before_);
  EXPECT_EQ(faults_->calls(StoreOp::kGet), reads_before_) << "a refused turn loaded its state";
}

TEST_P(FailingStoreTest, BadInputIsStillInvalidArgument) {
  MakeFailing();
  EXPECT_EQ(Manager().BeginTurn("bad id", {}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_P(FailingStoreTest, ReadsGoOn) {
  MakeSession();
  MakeFailing();
  absl::StatusOr<SessionRecord> record = Manager().GetSession("a");
  ASSERT_TRUE(record.ok()) << record.status();
  EXPECT_EQ(record->version, 1);
  absl::StatusOr<SessionManager::Page> page = Manager().ListSessions(10, "");
  ASSERT_TRUE(page.ok()) << page.status();
  EXPECT_EQ(page->sessions.size(), 1u);
}

TEST_P(FailingStoreTest, TurnsRunAgainOnceAProbeSucceeds) {
  MakeSession();
  MakeFailing();
  ASSERT_TRUE(health_->Probe().ok());
  EXPECT_EQ(CommitTurn("a", 2.0f).version, 2);
  EXPECT_EQ(CurrentState("a"), StateOf(2.0f));
}

}  // namespace
}  // namespace session_test
}  // namespace rwkv::server
