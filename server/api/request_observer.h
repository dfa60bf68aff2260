// RequestObserver: every finished RPC, for metrics (server/metrics implements it; the API layer
// stays free of Prometheus). Called once per call, on a gRPC or I/O thread, right before its
// final status is sent; must be cheap and must not block.
#ifndef RWKV_SERVER_API_REQUEST_OBSERVER_H_
#define RWKV_SERVER_API_REQUEST_OBSERVER_H_

#include <cstdint>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace rwkv::server {

class RequestObserver {
 public:
  virtual ~RequestObserver() = default;
  // `method` is the RPC's name ("Generate", "CreateSession", ...); `duration` runs from the
  // call's arrival to its final status.
  virtual void OnRequest(absl::string_view method, absl::StatusCode code,
                         absl::Duration duration) = 0;
  // The same call, by the tenant it was authenticated as ("" = the default tenant, with
  // authentication off); its prompt and generated tokens, < 0 when not applicable. Not called
  // for a call that authentication refused.
  virtual void OnTenantRequest(absl::string_view tenant, absl::string_view method,
                               int64_t prompt_tokens, int64_t generated_tokens) {}
  // A call refused by authentication; `reason` is auth::AuthFailureReason's label.
  virtual void OnAuthFailure(absl::string_view reason) {}
};

}  // namespace rwkv::server

#endif  // RWKV_SERVER_API_REQUEST_OBSERVER_H_
