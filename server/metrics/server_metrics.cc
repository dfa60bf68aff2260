#include "server/metrics/server_metrics.h"

#include "server/metrics/rpc_methods.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "prometheus/text_serializer.h"

#ifndef RWKV_VERSION
#define RWKV_VERSION "unknown"
#endif
#ifndef RWKV_BUILD_TYPE
#define RWKV_BUILD_TYPE "unknown"
#endif

namespace rwkv::server::metrics {
namespace {

prometheus::Gauge* NewGauge(prometheus::Registry& registry, const std::string& name,
                            const std::string& help) {
  return &prometheus::BuildGauge().Name(name).Help(help).Register(registry).Add({});
}

std::string CompilerName() {
#if defined(__clang__)
  return absl::StrCat("clang ", __clang_major__, ".", __clang_minor__);
#elif defined(__GNUC__)
  return absl::StrCat("gcc ", __GNUC__, ".", __GNUC_MINOR__);
#else
  return "unknown";
#endif
}

}  // namespace

ServerMetrics::ServerMetrics(bool openai_routes)
    : registry_(std::make_shared<prometheus::Registry>()),
      engine_(*registry_),
      sessions_(*registry_),
      requests_(*registry_, openai_routes ? CountedMethodNames() : RwkvMethodNames()) {
  prometheus::Registry& r = *registry_;
  ready_ = NewGauge(r, "rwkv_ready", "1 while the server is SERVING (model loaded, store "
                                     "answering, not draining), else 0.");
  running_ = NewGauge(r, "rwkv_running_sequences", "Sequences in the engine's batch.");
  waiting_ = NewGauge(r, "rwkv_waiting_sequences", "Accepted requests waiting for a batch slot.");
  live_sessions_ = NewGauge(r, "rwkv_live_sessions", "Sessions in the state store.");
  cache_bytes_ = NewGauge(r, "rwkv_hot_cache_bytes", "Bytes of session states in the hot cache.");
  cache_entries_ = NewGauge(r, "rwkv_hot_cache_entries", "Session states in the hot cache.");
  state_bytes_ = NewGauge(r, "rwkv_session_state_bytes",
                          "Bytes of one session's recurrent state for the loaded model.");
  inflight_state_bytes_ =
      NewGauge(r, "rwkv_inflight_state_bytes",
               "Bytes held by queued and running turns: states, sampler buffers, prompts.");
  inflight_state_limit_ = NewGauge(r, "rwkv_inflight_state_bytes_limit",
                                   "--max-inflight-state-bytes: the most rwkv_inflight_state_bytes "
                                   "may reach; beyond it turns get RESOURCE_EXHAUSTED.");
  prometheus::BuildGauge()
      .Name("rwkv_build_info")
      .Help("Always 1; the labels describe the rwkv-server build.")
      .Register(r)
      .Add({{"version", RWKV_VERSION}, {"build_type", RWKV_BUILD_TYPE}, {"compiler", CompilerName()}})
      .Set(1);
}

StoreObserver* ServerMetrics::store(absl::string_view backend) {
  absl::MutexLock lock(&mu_);
  stores_.push_back(std::make_unique<StoreMetrics>(*registry_, backend));
  return stores_.back().get();
}

StoreHealthObserver* ServerMetrics::store_health(absl::string_view backend) {
  absl::MutexLock lock(&mu_);
  store_health_.push_back(std::make_unique<StoreHealthMetrics>(*registry_, backend));
  return store_health_.back().get();
}

void ServerMetrics::SetModel(const engine::Engine& engine) {
  const engine::ModelConfig& config = engine.config();
  prometheus::BuildGauge()
      .Name("rwkv_model_info")
      .Help("Always 1; the labels describe the loaded model.")
      .Register(*registry_)
      .Add({{"version", std::string(engine::ArchVersionName(config.version))},
            {"layers", absl::StrCat(config.n_layer)},
            {"embedding", absl::StrCat(config.n_embed)},
            {"vocab", absl::StrCat(config.n_vocab)},
            {"precision", std::string(engine::PrecisionName(engine.precision()))},
            {"fingerprint", engine.fingerprint()}})
      .Set(1);
  state_bytes_->Set(static_cast<double>(config.StateBytes()));
}

void ServerMetrics::SetInflightStateLimit(int64_t bytes) {
  inflight_state_limit_->Set(static_cast<double>(bytes));
}

void ServerMetrics::SetReady(bool ready) { ready_->Set(ready ? 1 : 0); }

void ServerMetrics::SetLiveSource(std::function<Live()> source) {
  absl::MutexLock lock(&mu_);
  live_source_ = std::move(source);
}

void ServerMetrics::SampleLive() {
  // Held while sampling, so that SetLiveSource(nullptr) returns only once no scrape is still
  // reading the old source's owners.
  absl::MutexLock lock(&mu_);
  if (!live_source_) return;
  const Live live = live_source_();
  running_->Set(static_cast<double>(live.running_sequences));
  waiting_->Set(static_cast<double>(live.waiting_sequences));
  live_sessions_->Set(static_cast<double>(live.live_sessions));
  cache_bytes_->Set(static_cast<double>(live.hot_cache_bytes));
  cache_entries_->Set(static_cast<double>(live.hot_cache_entries));
  inflight_state_bytes_->Set(static_cast<double>(live.inflight_state_bytes));
}

std::string ServerMetrics::Serialize() {
  SampleLive();
  return prometheus::TextSerializer().Serialize(registry_->Collect());
}

}  // namespace rwkv::server::metrics
