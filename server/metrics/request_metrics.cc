#include "server/metrics/request_metrics.h"

#include "absl/status/status.h"
#include "server/metrics/buckets.h"
#include "server/metrics/rpc_methods.h"

namespace rwkv::server::metrics {
namespace {

// AuthFailureReason's labels, each at zero from the start.
constexpr const char* kAuthFailureReasons[] = {"missing", "malformed", "unknown_token"};

}  // namespace

RequestMetrics::RequestMetrics(prometheus::Registry& registry, std::vector<std::string> methods)
    : requests_(&prometheus::BuildCounter()
                     .Name("rwkv_requests_total")
                     .Help("Finished RPCs of rwkv.v1.Rwkv by method, and calls of the "
                           "OpenAI-compatible HTTP API by route (\"POST /v1/chat/completions\"), "
                           "by gRPC status code.")
                     .Register(registry)),
      tenants_(registry, methods) {
  auto& auth_failures = prometheus::BuildCounter()
                            .Name("rwkv_auth_failures_total")
                            .Help(
                                "Calls refused by authentication (UNAUTHENTICATED), by reason: "
                                "missing, malformed or unknown_token.")
                            .Register(registry);
  for (const char* reason : kAuthFailureReasons) {
    auth_failures_.emplace_back(reason, &auth_failures.Add({{"reason", reason}}));
  }
  auto& durations = prometheus::BuildHistogram()
                        .Name("rwkv_request_duration_seconds")
                        .Help("End-to-end time of an RPC, from its arrival to its final "
                              "status (for Generate: the whole stream).")
                        .Register(registry);
  for (const std::string& name : methods) {
    auto method = std::make_unique<Method>();
    method->name = name;
    method->duration = &durations.Add({{"method", name}}, RequestSecondsBuckets());
    // Every code at zero from the start (as go-grpc-prometheus's InitializeMetrics does): a
    // series created at its first error would start at 1, and rate() would never count it.
    for (int code = 0; code < kCodes; ++code) {
      method->by_code[code] = &requests_->Add(
          {{"method", name},
           {"code", absl::StatusCodeToString(static_cast<absl::StatusCode>(code))}});
    }
    methods_.push_back(std::move(method));
  }
}

RequestMetrics::Method* RequestMetrics::Find(absl::string_view name) {
  for (auto& method : methods_) {
    if (method->name == name) return method.get();
  }
  return nullptr;
}

void RequestMetrics::OnRequest(absl::string_view method_name, absl::StatusCode code,
                               absl::Duration duration) {
  Method* found = Find(method_name);
  if (found == nullptr) return;  // neither an RPC nor a route (an HTTP request for no route)
  Method& method = *found;
  method.duration->Observe(absl::ToDoubleSeconds(duration));
  int index = static_cast<int>(code);
  if (index < 0 || index >= kCodes) index = static_cast<int>(absl::StatusCode::kUnknown);
  method.by_code[index]->Increment();
}

void RequestMetrics::OnTenantRequest(absl::string_view tenant, absl::string_view method,
                                     int64_t prompt_tokens, int64_t generated_tokens) {
  tenants_.OnRequest(tenant, method, prompt_tokens, generated_tokens);
}

void RequestMetrics::OnAuthFailure(absl::string_view reason) {
  for (auto& [label, counter] : auth_failures_) {
    if (label == reason) counter->Increment();
  }
}

}  // namespace rwkv::server::metrics
