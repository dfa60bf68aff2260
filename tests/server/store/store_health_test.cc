// StoreHealth: an error streak among the server's store operations, or a failed probe, marks the
// store failing (Check names the error); only a probe that succeeds ends it; the probe writes,
// reads back and deletes a key outside the sessions' key space, resumes a store whose write
// failed, and runs when the injected clock says it is due.
#include "server/store/store_health.h"

#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "absl/synchronization/mutex.h"
#include "server/store/instrumented_state_store.h"
#include "server/store/memory_state_store.h"
#include "tests/fakes/fake_clock.h"
#include "tests/fakes/fault_injecting_store.h"
#include "tests/util/wait_for.h"

namespace rwkv::server {
namespace {

using ::rwkv::testing::FakeClock;
using ::rwkv::testing::FaultInjectingStore;
using ::rwkv::testing::kWaitLimit;
using ::rwkv::testing::WaitFor;
using ::testing::HasSubstr;
using FaultOp = ::rwkv::testing::StoreOp;

constexpr absl::Duration kInterval = absl::Seconds(5);

// What the metrics would hear.
class RecordingObserver final : public StoreHealthObserver {
 public:
  void OnProbe(const absl::Status& status) override {
    absl::MutexLock lock(&mu_);
    (status.ok() ? probes_ok_ : probes_failed_)++;
  }
  void OnHealthChanged(bool healthy) override {
    absl::MutexLock lock(&mu_);
    changes_.push_back(healthy);
  }
  int probes_ok() const {
    absl::MutexLock lock(&mu_);
    return probes_ok_;
  }
  int probes_failed() const {
    absl::MutexLock lock(&mu_);
    return probes_failed_;
  }
  std::vector<bool> changes() const {
    absl::MutexLock lock(&mu_);
    return changes_;
  }

 private:
  mutable absl::Mutex mu_;
  int probes_ok_ ABSL_GUARDED_BY(mu_) = 0;
  int probes_failed_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<bool> changes_ ABSL_GUARDED_BY(mu_);
};

class StoreHealthTest : public ::testing::Test {
 protected:
  StoreHealthTest() {
    StoreHealth::Options options;
    options.probe_interval = kInterval;
    options.clock = &clock_;
    options.observer = &observer_;
    options.on_change = [this](bool healthy, const absl::Status& error) {
      absl::MutexLock lock(&mu_);
      reported_.emplace_back(healthy, error);
    };
    health_ = std::make_unique<StoreHealth>(&faults_, std::move(options));
    // What the sessions use: their operations reach the health monitor.
    store_ = std::make_unique<InstrumentedStateStore>(faults_.Share(), health_.get(), &clock_);
  }

  absl::Status Put(absl::string_view key) {
    WriteBatch batch;
    batch.Put(key, "v");
    return store_->Write(batch);
  }

  std::vector<std::pair<bool, absl::Status>> reported() {
    absl::MutexLock lock(&mu_);
    return reported_;
  }

  FakeClock clock_;
  std::shared_ptr<MemoryStateStore> memory_ = std::make_shared<MemoryStateStore>();
  FaultInjectingStore faults_{memory_};
  RecordingObserver observer_;
  std::unique_ptr<StoreHealth> health_;
  std::unique_ptr<StateStore> store_;
  absl::Mutex mu_;
  std::vector<std::pair<bool, absl::Status>> reported_ ABSL_GUARDED_BY(mu_);
};

TEST_F(StoreHealthTest, HealthyAtFirst) {
  EXPECT_TRUE(health_->healthy());
  EXPECT_TRUE(health_->Check().ok());
}

TEST_F(StoreHealthTest, AStreakOfWriteFaultsMarksItFailingWithTheError) {
  faults_.FailAll(FaultOp::kWrite, absl::UnavailableError("No space left on device"));
  EXPECT_FALSE(Put("m/a").ok());
  EXPECT_FALSE(Put("m/a").ok());
  EXPECT_TRUE(health_->healthy()) << "two faults are not a streak of three";
  EXPECT_FALSE(Put("m/a").ok());
  EXPECT_FALSE(health_->healthy());
  const absl::Status check = health_->Check();
  EXPECT_EQ(check.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(check.message(),
            "the state store is failing: No space left on device; new session turns are refused "
            "until it recovers");
  EXPECT_THAT(observer_.changes(), ::testing::ElementsAre(false));
  ASSERT_EQ(reported().size(), 1u);
  EXPECT_FALSE(reported()[0].first);
  EXPECT_EQ(reported()[0].second.message(), "No space left on device");
}

TEST_F(StoreHealthTest, ASuccessBreaksTheStreak) {
  faults_.FailNext(FaultOp::kWrite, 2);
  EXPECT_FALSE(Put("m/a").ok());
  EXPECT_FALSE(Put("m/a").ok());
  EXPECT_TRUE(Put("m/a").ok());
  faults_.FailNext(FaultOp::kWrite, 2);
  EXPECT_FALSE(Put("m/a").ok());
  EXPECT_FALSE(Put("m/a").ok());
  EXPECT_TRUE(health_->healthy());
}

TEST_F(StoreHealthTest, ReadsThatWorkDoNotHideFailingWrites) {
  // A full disk: every write fails, every read works.
  ASSERT_TRUE(Put("m/a").ok());
  faults_.FailAll(FaultOp::kWrite);
  for (int i = 0; i < 3; ++i) {
    EXPECT_TRUE(store_->Get("m/a").ok());
    EXPECT_FALSE(Put("m/a").ok());
  }
  EXPECT_FALSE(health_->healthy());
}

TEST_F(StoreHealthTest, AStreakOfReadFaultsMarksItFailing) {
  faults_.FailAll(FaultOp::kGet, absl::DataLossError("bad block"));
  for (int i = 0; i < 3; ++i) EXPECT_FALSE(store_->Get("m/a").ok());
  EXPECT_THAT(health_->Check().message(), HasSubstr("bad block"));
}

TEST_F(StoreHealthTest, AnswersAreNotFaults) {
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(store_->Get("m/missing").status().code(), absl::StatusCode::kNotFound);
  }
  faults_.FailAll(FaultOp::kWrite, absl::InvalidArgumentError("bad key"));
  for (int i = 0; i < 5; ++i) EXPECT_FALSE(Put("m/a").ok());
  EXPECT_TRUE(health_->healthy());
  EXPECT_FALSE(IsStoreFault(absl::NotFoundError("")));
  EXPECT_FALSE(IsStoreFault(absl::AbortedError("")));
  EXPECT_TRUE(IsStoreFault(absl::UnavailableError("")));
  EXPECT_TRUE(IsStoreFault(absl::InternalError("")));
  EXPECT_TRUE(IsStoreFault(absl::DataLossError("")));
}

TEST_F(StoreHealthTest, OnlyAProbeThatSucceedsEndsFailing) {
  faults_.FailAll(FaultOp::kWrite);
  for (int i = 0; i < 3; ++i) EXPECT_FALSE(Put("m/a").ok());
  ASSERT_FALSE(health_->healthy());
  faults_.ClearAll();
  EXPECT_TRUE(Put("m/a").ok());
  EXPECT_TRUE(store_->Get("m/a").ok());
  EXPECT_FALSE(health_->healthy()) << "operations that work do not end it; a probe does";
  EXPECT_TRUE(health_->Probe().ok());
  EXPECT_TRUE(health_->healthy());
  EXPECT_TRUE(health_->Check().ok());
  EXPECT_THAT(observer_.changes(), ::testing::ElementsAre(false, true));
  ASSERT_EQ(reported().size(), 2u);
  EXPECT_TRUE(reported()[1].first);
}

TEST_F(StoreHealthTest, AFailedProbeMarksItFailingAndAsksTheStoreToResume) {
  faults_.FailAll(FaultOp::kWrite, absl::UnavailableError("read-only file system"));
  const absl::Status probe = health_->Probe();
  EXPECT_EQ(probe.code(), absl::StatusCode::kUnavailable);
  EXPECT_FALSE(health_->healthy());
  EXPECT_THAT(health_->Check().message(), HasSubstr("read-only file system"));
  EXPECT_EQ(faults_.calls(FaultOp::kResume), 1);
  EXPECT_EQ(observer_.probes_failed(), 1);
  EXPECT_EQ(observer_.probes_ok(), 0);
}

TEST_F(StoreHealthTest, AProbeWriteThatWorksAfterTheResumeIsHealthy) {
  // A store that took writes again once resumed (RocksDB after a reopen).
  faults_.FailNext(FaultOp::kWrite, 1);
  EXPECT_TRUE(health_->Probe().ok());
  EXPECT_EQ(faults_.calls(FaultOp::kResume), 1);
  EXPECT_TRUE(health_->healthy());
}

TEST_F(StoreHealthTest, AResumeThatFailsReportsTheWriteError) {
  faults_.FailAll(FaultOp::kWrite, absl::UnavailableError("No space left on device"));
  faults_.FailAll(FaultOp::kResume, absl::UnavailableError("reopen failed"));
  EXPECT_EQ(health_->Probe().message(), "No space left on device");
}

TEST_F(StoreHealthTest, TheProbeLeavesNothingAndStaysOutOfTheSessionsKeys) {
  ASSERT_TRUE(health_->Probe().ok());
  EXPECT_TRUE(memory_->Scan("", "", 10).value().empty());
  // Stopped between its write and its delete, it leaves one key of its own.
  faults_.FailNext(FaultOp::kGet, 1);
  EXPECT_FALSE(health_->Probe().ok());
  const std::vector<KeyValue> left = memory_->Scan("", "", 10).value();
  ASSERT_EQ(left.size(), 1u);
  EXPECT_THAT(left[0].key, ::testing::StartsWith(std::string(kHealthKeyPrefix)));
}

TEST_F(StoreHealthTest, AProbeIsDueWhenTheClockSaysSo) {
  EXPECT_FALSE(health_->ProbeIfDue());
  clock_.Advance(kInterval - absl::Milliseconds(1));
  EXPECT_FALSE(health_->ProbeIfDue());
  clock_.Advance(absl::Milliseconds(1));
  EXPECT_TRUE(health_->ProbeIfDue());
  EXPECT_FALSE(health_->ProbeIfDue());
  EXPECT_EQ(observer_.probes_ok(), 1);
}

TEST_F(StoreHealthTest, TheProbeThreadProbesWhenDueAndRecovers) {
  faults_.FailAll(FaultOp::kWrite);
  health_->Start();
  clock_.Advance(kInterval);
  ASSERT_TRUE(WaitFor(kWaitLimit, [&] { return !health_->healthy(); }));
  faults_.ClearAll();
  clock_.Advance(kInterval);
  ASSERT_TRUE(WaitFor(kWaitLimit, [&] { return health_->healthy(); }));
  health_->Stop();
  EXPECT_GE(observer_.probes_failed(), 1);
  EXPECT_GE(observer_.probes_ok(), 1);
}

TEST_F(StoreHealthTest, NoProbeIntervalMeansOff) {
  StoreHealth::Options options;
  options.probe_interval = absl::ZeroDuration();
  StoreHealth health(&faults_, options);
  health.Start();  // nothing to start
  faults_.FailAll(FaultOp::kWrite);
  InstrumentedStateStore store(faults_.Share(), &health, &clock_);
  WriteBatch batch;
  batch.Put("m/a", "v");
  for (int i = 0; i < 5; ++i) EXPECT_FALSE(store.Write(batch).ok());
  EXPECT_TRUE(health.healthy()) << "a streak nothing could end";
  health.Stop();
  EXPECT_EQ(faults_.calls(FaultOp::kWrite), 5) << "no probe ran";
}

// A memory store shared by "replicas" (Shared() is true) that runs `after_next_write` once, right
// after the next Write: another replica's whole probe between one probe's write and its read.
class InterleavingSharedStore final : public StateStore {
 public:
  absl::string_view Backend() const override { return "memory"; }
  absl::StatusOr<std::string> Get(absl::string_view key) override { return inner_.Get(key); }
  absl::Status Write(const WriteBatch& batch) override {
    absl::Status status = inner_.Write(batch);
    if (std::function<void()> hook = std::exchange(after_next_write, nullptr)) hook();
    return status;
  }
  absl::StatusOr<std::vector<KeyValue>> Scan(absl::string_view prefix,
                                             absl::string_view start_after, int limit) override {
    return inner_.Scan(prefix, start_after, limit);
  }
  absl::Status Flush() override { return absl::OkStatus(); }
  absl::StatusOr<int64_t> AcquireLease(absl::string_view name, absl::string_view owner,
                                       absl::Duration ttl) override {
    return inner_.AcquireLease(name, owner, ttl);
  }
  absl::Status RenewLease(absl::string_view name, int64_t fence, absl::Duration ttl) override {
    return inner_.RenewLease(name, fence, ttl);
  }
  absl::Status ReleaseLease(absl::string_view name, int64_t fence) override {
    return inner_.ReleaseLease(name, fence);
  }
  bool Shared() const override { return true; }

  std::function<void()> after_next_write;  // single-threaded test use

 private:
  MemoryStateStore inner_;
};

TEST(SharedStoreHealthTest, ProbesOfTwoReplicasOnASharedStoreNeverMeet) {
  InterleavingSharedStore store;
  StoreHealth::Options options;
  options.probe_interval = absl::ZeroDuration();
  StoreHealth replica_a(&store, options);
  StoreHealth replica_b(&store, options);
  absl::Status probe_b = absl::UnknownError("did not run");
  store.after_next_write = [&] { probe_b = replica_b.Probe(); };
  const absl::Status probe_a = replica_a.Probe();
  EXPECT_TRUE(probe_a.ok()) << "a probe saw another replica's probe: " << probe_a;
  EXPECT_TRUE(probe_b.ok()) << probe_b;
  EXPECT_TRUE(store.Scan("", "", 10).value().empty());
}

}  // namespace
}  // namespace rwkv::server
