#include "server/metrics/store_metrics.h"

#include <string>

#include "server/metrics/buckets.h"

namespace rwkv::server::metrics {

StoreMetrics::StoreMetrics(prometheus::Registry& registry, absl::string_view backend) {
  auto& latency = prometheus::BuildHistogram()
                      .Name("rwkv_store_operation_duration_seconds")
                      .Help("State store operation latency, by backend and operation "
                            "(get, put, delete, list, flush); failed operations included.")
                      .Register(registry);
  auto& errors = prometheus::BuildCounter()
                     .Name("rwkv_store_errors_total")
                     .Help("Failed state store operations (a missing key is not a failure).")
                     .Register(registry);
  for (int i = 0; i < kStoreOpCount; ++i) {
    const prometheus::Labels labels = {
        {"backend", std::string(backend)},
        {"operation", std::string(StoreOpName(static_cast<StoreOp>(i)))}};
    latency_[i] = &latency.Add(labels, FineSecondsBuckets());
    errors_[i] = &errors.Add(labels);
  }
}

void StoreMetrics::OnStoreOp(StoreOp op, absl::Duration latency, const absl::Status& status) {
  const int i = static_cast<int>(op);
  latency_[i]->Observe(absl::ToDoubleSeconds(latency));
  if (IsStoreError(op, status)) errors_[i]->Increment();
}

}  // namespace rwkv::server::metrics
