// LocalLeases: StateStore leases and write conditions for the embedded backends (memory and
// RocksDB), which only one process opens at a time, so that its own memory and clock are the
// whole truth about who holds what.
//
//   LocalLeases leases;                      // one per store
//   RWKV_ASSIGN_OR_RETURN(int64_t fence, leases.Acquire("session/a", "replica-1", ttl));
//   ... under the store's write lock:
//   RWKV_RETURN_IF_ERROR(leases.CheckFences(batch, "rocksdb"));
//   RWKV_RETURN_IF_ERROR(CheckKeyConditions(batch, "rocksdb", read));
//
// Fences come from one counter for every name, so a name's later fence is always greater, also
// after its lease was released and forgotten. Thread-safe.
#ifndef RWKV_SERVER_STORE_LOCAL_LEASES_H_
#define RWKV_SERVER_STORE_LOCAL_LEASES_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "server/store/state_store.h"

namespace rwkv::server {

class LocalLeases {
 public:
  // `clock` must outlive the leases.
  explicit LocalLeases(const Clock* clock = &Clock::Real()) : clock_(*clock) {}

  // StateStore::AcquireLease, RenewLease and ReleaseLease; `backend` labels messages.
  absl::StatusOr<int64_t> Acquire(absl::string_view name, absl::string_view owner,
                                  absl::Duration ttl, absl::string_view backend)
      ABSL_LOCKS_EXCLUDED(mu_);
  absl::Status Renew(absl::string_view name, int64_t fence, absl::Duration ttl,
                     absl::string_view backend) ABSL_LOCKS_EXCLUDED(mu_);
  void Release(absl::string_view name, int64_t fence) ABSL_LOCKS_EXCLUDED(mu_);

  // OK when every fence condition of `batch` holds now, else ABORTED naming the lease.
  absl::Status CheckFences(const WriteBatch& batch, absl::string_view backend) const
      ABSL_LOCKS_EXCLUDED(mu_);

 private:
  struct Lease {
    int64_t fence = 0;
    std::string owner;
    absl::Time until;
  };

  const Clock& clock_;
  mutable absl::Mutex mu_;
  // Released leases are forgotten: no entry means nobody holds the name and no fence was
  // granted on it since the last one released (any new grant would be greater).
  absl::flat_hash_map<std::string, Lease> leases_ ABSL_GUARDED_BY(mu_);
  int64_t last_fence_ ABSL_GUARDED_BY(mu_) = 0;
};

// A StateStore whose leases are LocalLeases (the embedded backends): the lease methods, once.
class LocallyLeasedStore : public StateStore {
 public:
  // `clock` judges lease expiry; it must outlive the store.
  explicit LocallyLeasedStore(const Clock* clock) : leases_(clock) {}

  absl::StatusOr<int64_t> AcquireLease(absl::string_view name, absl::string_view owner,
                                       absl::Duration ttl) final {
    return leases_.Acquire(name, owner, ttl, Backend());
  }
  absl::Status RenewLease(absl::string_view name, int64_t fence, absl::Duration ttl) final {
    return leases_.Renew(name, fence, ttl, Backend());
  }
  absl::Status ReleaseLease(absl::string_view name, int64_t fence) final {
    leases_.Release(name, fence);
    return absl::OkStatus();
  }

 protected:
  const LocalLeases& leases() const { return leases_; }

 private:
  LocalLeases leases_;
};

// Reads a key for CheckKeyConditions: its value, nullopt when absent, or the read's error.
using KeyReader = absl::FunctionRef<absl::StatusOr<std::optional<std::string>>(absl::string_view)>;

// OK when every key condition of `batch` holds (as `read` sees the keys), else ABORTED naming
// the key, or the read's error.
absl::Status CheckKeyConditions(const WriteBatch& batch, absl::string_view backend,
                                KeyReader read);

}  // namespace rwkv::server

#endif  // RWKV_SERVER_STORE_LOCAL_LEASES_H_
