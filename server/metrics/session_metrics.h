// SessionMetrics: session lifecycle events and hot-cache lookups (SessionObserver) as Prometheus
// counters; handles created once.
#ifndef RWKV_SERVER_METRICS_SESSION_METRICS_H_
#define RWKV_SERVER_METRICS_SESSION_METRICS_H_

#include <array>

#include "absl/strings/string_view.h"
#include "prometheus/counter.h"
#include "prometheus/registry.h"
#include "server/sessions/session_observer.h"

namespace rwkv::server::metrics {

// "created", "resumed", "forked", "deleted", "expired": the `event` label.
absl::string_view SessionEventLabel(SessionEvent event);

class SessionMetrics final : public SessionObserver {
 public:
  explicit SessionMetrics(prometheus::Registry& registry);

  void OnSessionEvent(SessionEvent event) override;
  void OnCacheLookup(bool hit) override;

 private:
  std::array<prometheus::Counter*, kSessionEventCount> events_;  // by SessionEvent
  prometheus::Counter* cache_hits_;
  prometheus::Counter* cache_misses_;
};

}  // namespace rwkv::server::metrics

#endif  // RWKV_SERVER_METRICS_SESSION_METRICS_H_
