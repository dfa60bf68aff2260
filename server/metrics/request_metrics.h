// RequestMetrics: every finished RPC (RequestObserver) as rwkv_requests_total{method,code} and
// rwkv_request_duration_seconds{method}; by tenant in TenantMetrics (tenant_metrics.h); calls
// refused by authentication as rwkv_auth_failures_total{reason}. Each method of rwkv.v1.Rwkv has
// its duration histogram and a counter for every status code from the start (so dashboards and
// rate() see zeros, not gaps); the handles are fetched once, at construction.
#ifndef RWKV_SERVER_METRICS_REQUEST_METRICS_H_
#define RWKV_SERVER_METRICS_REQUEST_METRICS_H_

#include <array>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"
#include "server/api/request_observer.h"
#include "server/metrics/rpc_methods.h"
#include "server/metrics/tenant_metrics.h"

namespace rwkv::server::metrics {

class RequestMetrics final : public RequestObserver {
 public:
  // `methods`: the method labels counted, each at zero from the start: the RPCs of rwkv.v1.Rwkv,
  // and the OpenAI routes when the server serves them (rpc_methods.h).
  explicit RequestMetrics(prometheus::Registry& registry,
                          std::vector<std::string> methods = RwkvMethodNames());

  // Thread-safe. A `method` that rwkv.v1.Rwkv does not have is not counted.
  void OnRequest(absl::string_view method, absl::StatusCode code,
                 absl::Duration duration) override;
  void OnTenantRequest(absl::string_view tenant, absl::string_view method, int64_t prompt_tokens,
                       int64_t generated_tokens) override;
  void OnAuthFailure(absl::string_view reason) override;

  // The tenants counted by tenant (TenantMetrics::SetTenants).
  TenantMetrics& tenants() { return tenants_; }

 private:
  static constexpr int kCodes = 17;  // google.rpc.Code 0..16

  struct Method {
    std::string name;
    prometheus::Histogram* duration = nullptr;
    std::array<prometheus::Counter*, kCodes> by_code{};
  };

  Method* Find(absl::string_view name);  // null for a name that is not an RPC

  prometheus::Family<prometheus::Counter>* requests_;
  // The methods of rwkv.v1.Rwkv.
  std::vector<std::unique_ptr<Method>> methods_;
  TenantMetrics tenants_;
  std::vector<std::pair<std::string, prometheus::Counter*>> auth_failures_;  // by reason
};

}  // namespace rwkv::server::metrics

#endif  // RWKV_SERVER_METRICS_REQUEST_METRICS_H_
