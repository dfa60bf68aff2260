// StoreHealthMetrics: the state store's health (StoreHealthObserver, fed by StoreHealth) as
// rwkv_store_healthy (1 while healthy, else 0) and rwkv_store_probes_total{result="ok"|"failed"},
// labelled with the backend; handles created once, every series present from the start.
#ifndef RWKV_SERVER_METRICS_STORE_HEALTH_METRICS_H_
#define RWKV_SERVER_METRICS_STORE_HEALTH_METRICS_H_

#include "absl/strings/string_view.h"
#include "prometheus/counter.h"
#include "prometheus/gauge.h"
#include "prometheus/registry.h"
#include "server/store/store_health.h"

namespace rwkv::server::metrics {

class StoreHealthMetrics final : public StoreHealthObserver {
 public:
  StoreHealthMetrics(prometheus::Registry& registry, absl::string_view backend);

  void OnProbe(const absl::Status& status) override;
  void OnHealthChanged(bool healthy) override;

 private:
  prometheus::Gauge* healthy_;
  prometheus::Counter* probes_ok_;
  prometheus::Counter* probes_failed_;
};

}  // namespace rwkv::server::metrics

#endif  // RWKV_SERVER_METRICS_STORE_HEALTH_METRICS_H_
