// SessionObserver: session lifecycle events and hot-cache lookups, as SessionManager sees them,
// for metrics (server/metrics implements it; sessions stay free of Prometheus).
//
//   SessionManager::Options options;
//   options.observer = &metrics;   // must outlive the manager
//
// Called on whichever thread ran the SessionManager method, outside its lock; must be cheap.
// The defaults do nothing.
#ifndef RWKV_SERVER_SESSIONS_SESSION_OBSERVER_H_
#define RWKV_SERVER_SESSIONS_SESSION_OBSERVER_H_

namespace rwkv::server {

enum class SessionEvent {
  kCreated,  // CreateSession, or the commit of a turn that created its session
  kResumed,  // a turn began on an existing session (its state loaded)
  kForked,   // ForkSession
  kDeleted,  // DeleteSession
  kExpired,  // deleted by the TTL sweep
};
inline constexpr int kSessionEventCount = 5;

class SessionObserver {
 public:
  virtual ~SessionObserver() = default;
  virtual void OnSessionEvent(SessionEvent event) {}
  // A session's state was looked up in the hot cache (a miss reads the store).
  virtual void OnCacheLookup(bool hit) {}
};

}  // namespace rwkv::server

#endif  // RWKV_SERVER_SESSIONS_SESSION_OBSERVER_H_
