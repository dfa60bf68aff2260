// ServerMetrics: every Prometheus metric of rwkv-server (README, "Metrics"), in one registry.
// It hands out the observers the other modules report to, so that the scheduler, the sessions,
// the store and the API never see a Prometheus type:
//
//   ServerMetrics metrics;                                   // build info, everything at zero
//   scheduler_options.observer = metrics.scheduler();
//   session_options.observer = metrics.sessions();
//   store = std::make_unique<InstrumentedStateStore>(std::move(store),
//                                                    metrics.store(store->Backend()));
//   health_options.observer = metrics.store_health(store->Backend());
//   service_context.requests = metrics.requests();
//   metrics.SetTenants(authenticator.Tenants());             // requests and tokens by tenant
//   metrics.SetModel(engine);                                // rwkv_model_info, state bytes
//   metrics.SetLiveSource([&] { return ServerMetrics::Live{...}; });   // sampled per scrape
//   std::string text = metrics.Serialize();                  // the body of GET /metrics
//
// Counters and histograms are updated where things happen; gauges of current state (running
// and waiting sequences, live sessions, hot cache, in-flight state bytes) are read from their owners at each scrape.
// Thread-safe. The observers must not be used after the ServerMetrics is destroyed.
#ifndef RWKV_SERVER_METRICS_SERVER_METRICS_H_
#define RWKV_SERVER_METRICS_SERVER_METRICS_H_

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "engine/engine.h"
#include "prometheus/gauge.h"
#include "prometheus/registry.h"
#include "server/metrics/engine_metrics.h"
#include "server/metrics/request_metrics.h"
#include "server/metrics/session_metrics.h"
#include "server/metrics/store_health_metrics.h"
#include "server/metrics/store_metrics.h"

namespace rwkv::server::metrics {

class ServerMetrics {
 public:
  // The current state behind the gauges, read at each scrape.
  struct Live {
    int64_t running_sequences = 0;
    int64_t waiting_sequences = 0;
    int64_t live_sessions = 0;
    int64_t hot_cache_bytes = 0;
    int64_t hot_cache_entries = 0;
    int64_t inflight_state_bytes = 0;  // held by queued and running turns (StateBudget::used)
  };

  // `openai_routes`: count the OpenAI-compatible API's routes too (--http-address).
  explicit ServerMetrics(bool openai_routes = false);
  ServerMetrics(const ServerMetrics&) = delete;
  ServerMetrics& operator=(const ServerMetrics&) = delete;

  SchedulerObserver* scheduler() { return &engine_; }
  SessionObserver* sessions() { return &sessions_; }
  RequestObserver* requests() { return &requests_; }
  // The observer of a store whose backend is `backend` (owned here).
  StoreObserver* store(absl::string_view backend);
  // The health observer of that store (owned here).
  StoreHealthObserver* store_health(absl::string_view backend);

  // rwkv_model_info and rwkv_session_state_bytes of the loaded model.
  void SetModel(const engine::Engine& engine);
  // rwkv_inflight_state_bytes_limit: --max-inflight-state-bytes as it applies.
  void SetInflightStateLimit(int64_t bytes);
  // The tenants counted by tenant: those of the tokens file, or {""} (the default tenant) with
  // authentication off. Again after each reload.
  void SetTenants(const std::vector<std::string>& tenants) {
    requests_.tenants().SetTenants(tenants);
  }
  // rwkv_ready: 1 while the server reports SERVING.
  void SetReady(bool ready);
  // Where the gauges of current state come from; null stops sampling them (before their
  // owners go away). `source` must be thread-safe.
  void SetLiveSource(std::function<Live()> source);

  // Every metric in the Prometheus text format (version 0.0.4).
  std::string Serialize();
  prometheus::Registry& registry() { return *registry_; }

 private:
  void SampleLive();

  const std::shared_ptr<prometheus::Registry> registry_;
  EngineMetrics engine_;
  SessionMetrics sessions_;
  RequestMetrics requests_;
  prometheus::Gauge* ready_;
  prometheus::Gauge* running_;
  prometheus::Gauge* waiting_;
  prometheus::Gauge* live_sessions_;
  prometheus::Gauge* cache_bytes_;
  prometheus::Gauge* cache_entries_;
  prometheus::Gauge* state_bytes_;
  prometheus::Gauge* inflight_state_bytes_;
  prometheus::Gauge* inflight_state_limit_;

  absl::Mutex mu_;
  std::vector<std::unique_ptr<StoreMetrics>> stores_ ABSL_GUARDED_BY(mu_);
  std::vector<std::unique_ptr<StoreHealthMetrics>> store_health_ ABSL_GUARDED_BY(mu_);
  std::function<Live()> live_source_ ABSL_GUARDED_BY(mu_);
};

}  // namespace rwkv::server::metrics

#endif  // RWKV_SERVER_METRICS_SERVER_METRICS_H_
