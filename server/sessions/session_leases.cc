#include "server/sessions/session_leases.h"

#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"

namespace rwkv::server {

SessionLeases::Lease& SessionLeases::Lease::operator=(Lease&& other) noexcept {
  if (this != &other) {
    Release();
    leases_ = std::exchange(other.leases_, nullptr);
    id_ = std::move(other.id_);
    fence_ = other.fence_;
  }
  return *this;
}

void SessionLeases::Lease::Release() {
  if (leases_ == nullptr) return;
  std::exchange(leases_, nullptr)->Release(id_, fence_);
}

SessionLeases::SessionLeases(SessionRecords* records, Options options)
    : records_(*records), options_(std::move(options)) {
  renewer_ = std::thread([this] { RenewLoop(); });
}

SessionLeases::~SessionLeases() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  renewer_.join();
}

absl::StatusOr<SessionLeases::Lease> SessionLeases::Acquire(absl::string_view id) {
  absl::StatusOr<int64_t> fence = records_.AcquireLease(id, options_.owner, options_.ttl);
  if (absl::IsAborted(fence.status())) {
    return absl::AbortedError(absl::StrCat("session ", id,
                                           " already has a turn or change in flight elsewhere: ",
                                           fence.status().message()));
  }
  if (!fence.ok()) return fence.status();
  absl::MutexLock lock(&mu_);
  held_[id] = *fence;
  return Lease(this, std::string(id), *fence);
}

void SessionLeases::Release(const std::string& id, int64_t fence) {
  {
    absl::MutexLock lock(&mu_);
    auto it = held_.find(id);
    if (it != held_.end() && it->second == fence) held_.erase(it);
  }
  // A failed release only leaves the lease to expire: the session waits out its TTL.
  records_.ReleaseLease(id, fence).IgnoreError();
}

int64_t SessionLeases::lost() const {
  absl::MutexLock lock(&mu_);
  return lost_;
}

void SessionLeases::RenewLoop() {
  const absl::Duration period = options_.ttl / 3;
  for (;;) {
    {
      absl::MutexLock lock(&mu_);
      // Waits on the real clock: a renewal is due in real time, whatever a test's clock says.
      if (mu_.AwaitWithTimeout(absl::Condition(&stopping_), period)) return;
    }
    RenewAll();
  }
}

void SessionLeases::RenewAll() {
  std::vector<std::pair<std::string, int64_t>> held;
  {
    absl::MutexLock lock(&mu_);
    held.assign(held_.begin(), held_.end());
  }
  for (const auto& [id, fence] : held) {
    const absl::Status status = records_.RenewLease(id, fence, options_.ttl);
    // Unreachable store: try again next period (the commit's fence check decides anyway).
    if (!absl::IsAborted(status)) continue;
    absl::MutexLock lock(&mu_);
    auto it = held_.find(id);
    if (it == held_.end() || it->second != fence) continue;  // released meanwhile
    held_.erase(it);
    ++lost_;
  }
}

}  // namespace rwkv::server
