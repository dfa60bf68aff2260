// The state store path: InstrumentedStateStore times every operation of any backend (an
// injected clock makes each take exactly 1 ms) and counts failures; SessionManager's lifecycle
// events and hot-cache lookups. Counts after known work read exactly that work.
#include "server/metrics/store_metrics.h"

#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "absl/synchronization/mutex.h"
#include "common/clock.h"
#include "prometheus/registry.h"
#include "server/metrics/session_metrics.h"
#include "server/metrics/store_health_metrics.h"
#include "server/sessions/session_manager.h"
#include "server/store/instrumented_state_store.h"
#include "server/store/memory_state_store.h"
#include "server/store/store_health.h"
#include "tests/server/metrics/metric_values.h"

namespace rwkv::server::metrics {
namespace {

using rwkv::testing::HistogramCount;
using rwkv::testing::HistogramSum;
using rwkv::testing::MetricLabels;
using rwkv::testing::MetricValue;

// Moves 1 ms forward every time it is read: each operation (read before and after) lasts 1 ms.
class TickingClock final : public Clock {
 public:
  absl::Time Now() const override {
    absl::MutexLock lock(&mu_);
    now_ += absl::Milliseconds(1);
    return now_;
  }
  void Advance(absl::Duration d) {
    absl::MutexLock lock(&mu_);
    now_ += d;
  }

 private:
  mutable absl::Mutex mu_;
  mutable absl::Time now_ ABSL_GUARDED_BY(mu_) = absl::FromUnixSeconds(1'700'000'000);
};

// Every operation fails.
class BrokenStore final : public StateStore {
 public:
  absl::string_view Backend() const override { return "broken"; }
  absl::StatusOr<std::string> Get(absl::string_view) override { return Down(); }
  absl::Status Write(const WriteBatch&) override { return Down(); }
  absl::StatusOr<std::vector<KeyValue>> Scan(absl::string_view, absl::string_view, int) override {
    return Down();
  }
  absl::Status Flush() override { return Down(); }
  absl::StatusOr<int64_t> AcquireLease(absl::string_view, absl::string_view,
                                       absl::Duration) override {
    return Down();
  }
  absl::Status RenewLease(absl::string_view, int64_t, absl::Duration) override { return Down(); }
  absl::Status ReleaseLease(absl::string_view, int64_t) override { return Down(); }

 private:
  static absl::Status Down() { return absl::UnavailableError("disk on fire"); }
};

int64_t OpCount(prometheus::Registry& registry, const std::string& backend, const std::string& op) {
  return HistogramCount(registry, "rwkv_store_operation_duration_seconds",
                        {{"backend", backend}, {"operation", op}});
}

double Errors(prometheus::Registry& registry, const std::string& backend, const std::string& op) {
  return MetricValue(registry, "rwkv_store_errors_total", {{"backend", backend}, {"operation", op}});
}

TEST(StoreMetricsTest, EveryOperationIsTimedAndOnlyFailuresAreErrors) {
  prometheus::Registry registry;
  StoreMetrics metrics(registry, "memory");
  TickingClock clock;
  InstrumentedStateStore store(std::make_unique<MemoryStateStore>(), &metrics, &clock);
  EXPECT_EQ(store.Backend(), "memory");
  for (const char* key : {"a", "b", "c"}) {
    WriteBatch batch;
    batch.Put(key, "value");
    ASSERT_TRUE(store.Write(batch).ok());
  }
  ASSERT_TRUE(store.Get("a").ok());
  ASSERT_TRUE(store.Get("b").ok());
  EXPECT_EQ(store.Get("missing").status().code(), absl::StatusCode::kNotFound);
  WriteBatch deletes;
  deletes.Delete("a");
  deletes.Delete("b");
  ASSERT_TRUE(store.Write(deletes).ok());
  ASSERT_EQ(store.Scan("", "", 10)->size(), 1u);
  EXPECT_EQ(store.Scan("", "", 0).status().code(), absl::StatusCode::kInvalidArgument);
  ASSERT_TRUE(store.Flush().ok());
  ASSERT_TRUE(store.AcquireLease("l", "me", absl::Seconds(60)).ok());
  // Conflicts are answers: a held lease and a refused condition.
  EXPECT_TRUE(absl::IsAborted(store.AcquireLease("l", "other", absl::Seconds(60)).status()));
  WriteBatch refused;
  refused.Require("c", "another value");
  refused.Put("c", "x");
  EXPECT_TRUE(absl::IsAborted(store.Write(refused)));

  EXPECT_EQ(OpCount(registry, "memory", "put"), 4);
  EXPECT_EQ(OpCount(registry, "memory", "lease"), 2);
  EXPECT_EQ(OpCount(registry, "memory", "get"), 3);
  EXPECT_EQ(OpCount(registry, "memory", "delete"), 1);
  EXPECT_EQ(OpCount(registry, "memory", "list"), 2);
  EXPECT_EQ(OpCount(registry, "memory", "flush"), 1);
  EXPECT_DOUBLE_EQ(HistogramSum(registry, "rwkv_store_operation_duration_seconds",
                                {{"backend", "memory"}, {"operation", "get"}}),
                   0.003);
  for (const char* op : {"put", "get", "delete", "flush", "lease"}) {
    EXPECT_EQ(Errors(registry, "memory", op), 0) << op;  // a missing key is an answer
  }
  EXPECT_EQ(Errors(registry, "memory", "list"), 1);  // the invalid limit
}

TEST(StoreMetricsTest, FailuresOfAnyBackendAreCountedByOperation) {
  prometheus::Registry registry;
  StoreMetrics metrics(registry, "broken");
  InstrumentedStateStore store(std::make_unique<BrokenStore>(), &metrics);
  WriteBatch put, del;
  put.Put("k", "v");
  del.Delete("k");
  EXPECT_FALSE(store.Get("k").ok());
  EXPECT_FALSE(store.Write(put).ok());
  EXPECT_FALSE(store.Write(del).ok());
  EXPECT_FALSE(store.Write(del).ok());
  EXPECT_FALSE(store.Scan("", "", 5).ok());
  EXPECT_FALSE(store.Flush().ok());
  EXPECT_FALSE(ProbeStateStore(store).ok());
  EXPECT_FALSE(store.AcquireLease("l", "me", absl::Seconds(1)).ok());
  EXPECT_FALSE(store.RenewLease("l", 1, absl::Seconds(1)).ok());
  EXPECT_EQ(Errors(registry, "broken", "lease"), 2);
  EXPECT_EQ(Errors(registry, "broken", "get"), 2);
  EXPECT_EQ(Errors(registry, "broken", "put"), 1);
  EXPECT_EQ(Errors(registry, "broken", "delete"), 2);
  EXPECT_EQ(Errors(registry, "broken", "list"), 1);
  EXPECT_EQ(Errors(registry, "broken", "flush"), 1);
  EXPECT_EQ(OpCount(registry, "broken", "delete"), 2);
}

TEST(StoreMetricsTest, ProbeAcceptsAMissingKey) {
  MemoryStateStore store;
  EXPECT_TRUE(ProbeStateStore(store).ok());
}

TEST(StoreHealthMetricsTest, HealthyFromTheStartThenFollowsTheProbes) {
  prometheus::Registry registry;
  StoreHealthMetrics metrics(registry, "rocksdb");
  const MetricLabels backend = {{"backend", "rocksdb"}};
  EXPECT_EQ(MetricValue(registry, "rwkv_store_healthy", backend), 1);
  EXPECT_EQ(MetricValue(registry, "rwkv_store_probes_total", {{"result", "ok"}}), 0);
  EXPECT_EQ(MetricValue(registry, "rwkv_store_probes_total", {{"result", "failed"}}), 0);

  BrokenStore broken;
  StoreHealth::Options options;
  options.probe_interval = absl::ZeroDuration();
  options.observer = &metrics;
  StoreHealth failing(&broken, options);
  EXPECT_FALSE(failing.Probe().ok());
  EXPECT_EQ(MetricValue(registry, "rwkv_store_healthy", backend), 0);
  EXPECT_EQ(MetricValue(registry, "rwkv_store_probes_total", {{"result", "failed"}}), 1);

  MemoryStateStore working;
  StoreHealth healthy(&working, options);
  EXPECT_TRUE(healthy.Probe().ok());
  EXPECT_EQ(MetricValue(registry, "rwkv_store_probes_total", {{"result", "ok"}}), 1);
}

TEST(SessionMetricsTest, LifecycleEventsAndCacheLookupsAreCounted) {
  prometheus::Registry registry;
  StoreMetrics store_metrics(registry, "memory");
  SessionMetrics session_metrics(registry);
  TickingClock clock;
  SessionManager::Options options;
  options.model_fingerprint = "0123456789abcdef";
  options.initial_state = std::vector<float>(8, 0.5f);
  options.ttl = absl::Hours(1);
  options.clock = &clock;
  options.observer = &session_metrics;
  auto sessions = SessionManager::Create(
      std::make_unique<InstrumentedStateStore>(std::make_unique<MemoryStateStore>(),
                                               &store_metrics),
      options);
  ASSERT_TRUE(sessions.ok()) << sessions.status();
  SessionManager& manager = **sessions;
  const std::vector<float> next(8, 1.0f);

  ASSERT_TRUE(manager.CreateSession("a", {}).ok());                      // created
  auto turn = manager.BeginTurn("a", {});                                 // resumed, miss
  ASSERT_TRUE(turn.ok());
  ASSERT_TRUE(manager.Commit(*std::move(turn), next, 3).ok());
  turn = manager.BeginTurn("b", {/*create_if_missing=*/true});
  ASSERT_TRUE(turn.ok());
  ASSERT_TRUE(manager.Commit(*std::move(turn), next, 3).ok());            // created
  turn = manager.BeginTurn("b", {});                                      // resumed, hit
  ASSERT_TRUE(turn.ok());
  manager.Abort(*std::move(turn));
  turn = manager.BeginTurn("never", {/*create_if_missing=*/true});
  ASSERT_TRUE(turn.ok());
  manager.Abort(*std::move(turn));                                        // not created
  ASSERT_TRUE(manager.ForkSession("a", "c", {}).ok());                    // forked
  ASSERT_TRUE(manager.DeleteSession("c").ok());                           // deleted
  EXPECT_EQ(manager.DeleteSession("c").code(), absl::StatusCode::kNotFound);
  clock.Advance(absl::Hours(2));  // past the TTL: "a" and "b" expire
  ASSERT_EQ(*manager.SweepExpired(), 2);                                  // expired x2

  auto events = [&](const char* event) {
    return MetricValue(registry, "rwkv_session_events_total", {{"event", event}});
  };
  EXPECT_EQ(events("created"), 2);
  EXPECT_EQ(events("resumed"), 2);
  EXPECT_EQ(events("forked"), 1);
  EXPECT_EQ(events("deleted"), 1);
  EXPECT_EQ(events("expired"), 2);
  EXPECT_EQ(MetricValue(registry, "rwkv_hot_cache_hits_total"), 1);
  EXPECT_EQ(MetricValue(registry, "rwkv_hot_cache_misses_total"), 1);
  // One batch per written session (create, two commits, fork), one per deletion.
  EXPECT_EQ(OpCount(registry, "memory", "put"), 4);
  EXPECT_EQ(OpCount(registry, "memory", "delete"), 3);
  EXPECT_EQ(manager.live_sessions(), 0);
}

}  // namespace
}  // namespace rwkv::server::metrics
