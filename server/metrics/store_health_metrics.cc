#include "server/metrics/store_health_metrics.h"

#include <string>

namespace rwkv::server::metrics {

StoreHealthMetrics::StoreHealthMetrics(prometheus::Registry& registry,
                                       absl::string_view backend) {
  const std::string label(backend);
  healthy_ = &prometheus::BuildGauge()
                  .Name("rwkv_store_healthy")
                  .Help("1 while the state store works, 0 while it fails (an error streak or a "
                        "failed probe; new session turns are refused then).")
                  .Register(registry)
                  .Add({{"backend", label}});
  healthy_->Set(1);
  auto& probes = prometheus::BuildCounter()
                     .Name("rwkv_store_probes_total")
                     .Help("State store health probes (write, read back, delete a probe key), "
                           "by result: ok or failed.")
                     .Register(registry);
  probes_ok_ = &probes.Add({{"backend", label}, {"result", "ok"}});
  probes_failed_ = &probes.Add({{"backend", label}, {"result", "failed"}});
}

void StoreHealthMetrics::OnProbe(const absl::Status& status) {
  (status.ok() ? probes_ok_ : probes_failed_)->Increment();
}

void StoreHealthMetrics::OnHealthChanged(bool healthy) { healthy_->Set(healthy ? 1 : 0); }

}  // namespace rwkv::server::metrics
