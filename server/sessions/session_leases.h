// SessionLeases: the store leases that keep a change of one session (a turn, a create, delete,
// fork or sweep) exclusive across every replica sharing the store, renewed in the background for
// as long as they are held.
//
//   SessionLeases leases(&records, {.owner = "replica-1:4242", .ttl = absl::Seconds(10)});
//   RWKV_ASSIGN_OR_RETURN(SessionLeases::Lease lease, leases.Acquire("chat-1"));
//   ... write with SessionRecords::Guard{..., lease.fence()} ...
//   // ~Lease releases it (or lease.Release())
//
// A lease is not what makes a write safe: its holder may be paused past its expiry while
// another replica takes the session over. Every write therefore carries the lease's fence, and
// the store refuses it if a later lease was granted (SessionRecords::Guard). Renewal only keeps
// a long turn's lease from expiring under it; a renewal the store refuses (the lease was taken
// over) marks the lease lost, and the holder's commit will be refused.
//
// Thread-safe. A Lease must not outlive its SessionLeases. Acquire and releasing block on store
// I/O (one round trip each).
#ifndef RWKV_SERVER_SESSIONS_SESSION_LEASES_H_
#define RWKV_SERVER_SESSIONS_SESSION_LEASES_H_

#include <cstdint>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/sessions/session_records.h"

namespace rwkv::server {

class SessionLeases {
 public:
  struct Options {
    std::string owner = "local";           // names this replica in other replicas' errors
    absl::Duration ttl = absl::Seconds(10);  // renewed every third of it while held
  };

  // A held lease, released when destroyed. Movable; a moved-from one holds nothing.
  class Lease {
   public:
    Lease() = default;
    Lease(Lease&& other) noexcept { *this = std::move(other); }
    Lease& operator=(Lease&& other) noexcept;
    ~Lease() { Release(); }

    bool held() const { return leases_ != nullptr; }
    int64_t fence() const { return fence_; }
    // Releases it now (no-op when nothing is held); a store error is only logged by the store's
    // metrics, since the lease expires anyway.
    void Release();

   private:
    friend class SessionLeases;
    Lease(SessionLeases* leases, std::string id, int64_t fence)
        : leases_(leases), id_(std::move(id)), fence_(fence) {}
    SessionLeases* leases_ = nullptr;
    std::string id_;
    int64_t fence_ = 0;
  };

  // `records` must outlive this; starts the renewal thread.
  SessionLeases(SessionRecords* records, Options options);
  ~SessionLeases();  // stops the renewal thread; every Lease must be gone
  SessionLeases(const SessionLeases&) = delete;
  SessionLeases& operator=(const SessionLeases&) = delete;

  // ABORTED "session <id> has a change in flight on <owner>" while another holder's unexpired
  // lease exists; the store's error when it fails.
  absl::StatusOr<Lease> Acquire(absl::string_view id) ABSL_LOCKS_EXCLUDED(mu_);

  // Renewals the store refused since start (each a lease taken over while held).
  int64_t lost() const ABSL_LOCKS_EXCLUDED(mu_);

  const Options& options() const { return options_; }

 private:
  void Release(const std::string& id, int64_t fence) ABSL_LOCKS_EXCLUDED(mu_);
  void RenewLoop() ABSL_LOCKS_EXCLUDED(mu_);
  void RenewAll() ABSL_LOCKS_EXCLUDED(mu_);

  SessionRecords& records_;
  const Options options_;
  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, int64_t> held_ ABSL_GUARDED_BY(mu_);  // id -> fence
  int64_t lost_ ABSL_GUARDED_BY(mu_) = 0;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread renewer_;
};

}  // namespace rwkv::server

#endif  // RWKV_SERVER_SESSIONS_SESSION_LEASES_H_
