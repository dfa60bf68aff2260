#include "server/metrics/session_metrics.h"

#include <string>

namespace rwkv::server::metrics {

absl::string_view SessionEventLabel(SessionEvent event) {
  switch (event) {
    case SessionEvent::kCreated:
      return "created";
    case SessionEvent::kResumed:
      return "resumed";
    case SessionEvent::kForked:
      return "forked";
    case SessionEvent::kDeleted:
      return "deleted";
    case SessionEvent::kExpired:
      return "expired";
  }
  return "unknown";
}

SessionMetrics::SessionMetrics(prometheus::Registry& registry) {
  auto& events = prometheus::BuildCounter()
                     .Name("rwkv_session_events_total")
                     .Help("Session lifecycle events: created, resumed (a turn on an existing "
                           "session), forked, deleted, expired (TTL sweep).")
                     .Register(registry);
  for (int i = 0; i < kSessionEventCount; ++i) {
    events_[i] = &events.Add({{"event", std::string(SessionEventLabel(static_cast<SessionEvent>(i)))}});
  }
  cache_hits_ = &prometheus::BuildCounter()
                     .Name("rwkv_hot_cache_hits_total")
                     .Help("Session states found in the hot cache.")
                     .Register(registry)
                     .Add({});
  cache_misses_ = &prometheus::BuildCounter()
                       .Name("rwkv_hot_cache_misses_total")
                       .Help("Session states not in the hot cache (read from the store).")
                       .Register(registry)
                       .Add({});
}

void SessionMetrics::OnSessionEvent(SessionEvent event) {
  events_[static_cast<int>(event)]->Increment();
}

void SessionMetrics::OnCacheLookup(bool hit) { (hit ? cache_hits_ : cache_misses_)->Increment(); }

}  // namespace rwkv::server::metrics
