// TenantMetrics: requests and tokens by tenant, for tenants that the tokens file names (or the
// default tenant, shown as "default", when authentication is off), so that the label's
// cardinality is the operator's, never a caller's:
//
//   rwkv_tenant_requests_total{tenant,method}        finished RPCs (any code)
//   rwkv_tenant_prompt_tokens_total{tenant}          prompt tokens of its Generate turns
//   rwkv_tenant_generated_tokens_total{tenant}       tokens they generated
//
// Every series of a known tenant exists from SetTenants on, at zero. A tenant dropped by a
// reload keeps its series (a counter never goes back) but counts no more.
#ifndef RWKV_SERVER_METRICS_TENANT_METRICS_H_
#define RWKV_SERVER_METRICS_TENANT_METRICS_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/registry.h"
#include "server/metrics/rpc_methods.h"

namespace rwkv::server::metrics {

// The label of the default tenant ("").
inline constexpr char kDefaultTenantLabel[] = "default";

class TenantMetrics {
 public:
  // `methods`: the method labels counted (rpc_methods.h).
  explicit TenantMetrics(prometheus::Registry& registry,
                         std::vector<std::string> methods = RwkvMethodNames());

  // The tenants counted from now on ("" for the default tenant). Thread-safe.
  void SetTenants(const std::vector<std::string>& tenants) ABSL_LOCKS_EXCLUDED(mu_);
  // One finished call of `tenant`; tokens < 0: not applicable. A tenant not set is not counted.
  // Thread-safe, cheap.
  void OnRequest(absl::string_view tenant, absl::string_view method, int64_t prompt_tokens,
                 int64_t generated_tokens) ABSL_LOCKS_EXCLUDED(mu_);

 private:
  struct Tenant {
    bool counted = false;
    absl::flat_hash_map<std::string, prometheus::Counter*> requests;  // by method
    prometheus::Counter* prompt_tokens = nullptr;
    prometheus::Counter* generated_tokens = nullptr;
  };

  std::unique_ptr<Tenant> NewTenant(const std::string& label);

  const std::vector<std::string> methods_;
  prometheus::Family<prometheus::Counter>& requests_;
  prometheus::Family<prometheus::Counter>& prompt_tokens_;
  prometheus::Family<prometheus::Counter>& generated_tokens_;
  absl::Mutex mu_;
  absl::flat_hash_map<std::string, std::unique_ptr<Tenant>> tenants_ ABSL_GUARDED_BY(mu_);
};

}  // namespace rwkv::server::metrics

#endif  // RWKV_SERVER_METRICS_TENANT_METRICS_H_
