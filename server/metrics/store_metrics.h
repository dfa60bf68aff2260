// StoreMetrics: the operations of one state store backend (StoreObserver, fed by an
// InstrumentedStateStore) as a latency histogram and an error counter per operation, labelled
// with the backend; handles created once.
#ifndef RWKV_SERVER_METRICS_STORE_METRICS_H_
#define RWKV_SERVER_METRICS_STORE_METRICS_H_

#include <array>

#include "absl/strings/string_view.h"
#include "prometheus/counter.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"
#include "server/store/instrumented_state_store.h"

namespace rwkv::server::metrics {

class StoreMetrics final : public StoreObserver {
 public:
  StoreMetrics(prometheus::Registry& registry, absl::string_view backend);

  void OnStoreOp(StoreOp op, absl::Duration latency, const absl::Status& status) override;

 private:
  std::array<prometheus::Histogram*, kStoreOpCount> latency_;  // by StoreOp
  std::array<prometheus::Counter*, kStoreOpCount> errors_;
};

}  // namespace rwkv::server::metrics

#endif  // RWKV_SERVER_METRICS_STORE_METRICS_H_
