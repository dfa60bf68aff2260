#include "server/store/local_leases.h"

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

namespace rwkv::server {

absl::StatusOr<int64_t> LocalLeases::Acquire(absl::string_view name, absl::string_view owner,
                                             absl::Duration ttl, absl::string_view backend) {
  const absl::Time now = clock_.Now();
  absl::MutexLock lock(&mu_);
  auto [it, added] = leases_.try_emplace(name);
  if (!added && it->second.until > now && it->second.owner != owner) {
    return absl::AbortedError(absl::StrCat(backend, " state store: lease \"", absl::CHexEscape(name),
                                           "\" is held by ", it->second.owner, " for another ",
                                           absl::FormatDuration(it->second.until - now)));
  }
  it->second = Lease{++last_fence_, std::string(owner), now + ttl};
  return last_fence_;
}

absl::Status LocalLeases::Renew(absl::string_view name, int64_t fence, absl::Duration ttl,
                                absl::string_view backend) {
  const absl::Time now = clock_.Now();
  absl::MutexLock lock(&mu_);
  auto it = leases_.find(name);
  if (it != leases_.end() && it->second.fence == fence) {
    it->second.until = now + ttl;
    return absl::OkStatus();
  }
  // Forgotten after its release: reviving it is safe only if nobody was granted the name since,
  // which a missing entry cannot tell apart from a later grant that was released too.
  return absl::AbortedError(absl::StrCat(backend, " state store: lease \"",
                                         absl::CHexEscape(name), "\" with fence ", fence,
                                         " was released or granted to another holder"));
}

void LocalLeases::Release(absl::string_view name, int64_t fence) {
  absl::MutexLock lock(&mu_);
  auto it = leases_.find(name);
  if (it != leases_.end() && it->second.fence == fence) leases_.erase(it);
}

absl::Status LocalLeases::CheckFences(const WriteBatch& batch, absl::string_view backend) const {
  absl::MutexLock lock(&mu_);
  for (const WriteBatch::FenceCondition& condition : batch.fence_conditions()) {
    auto it = leases_.find(condition.lease);
    // No entry: the lease was released and nobody took it since (a grant would have an entry).
    if (it == leases_.end() ? condition.fence <= last_fence_ : it->second.fence == condition.fence) {
      continue;
    }
    const std::string holder =
        it == leases_.end() ? std::string("nobody")
                            : absl::StrCat(it->second.owner, " (fence ", it->second.fence, ")");
    return absl::AbortedError(absl::StrCat(backend, " state store: lease \"",
                                           absl::CHexEscape(condition.lease), "\" is held by ",
                                           holder, ", not fence ", condition.fence,
                                           ": the write is refused"));
  }
  return absl::OkStatus();
}

absl::Status CheckKeyConditions(const WriteBatch& batch, absl::string_view backend,
                                KeyReader read) {
  for (const WriteBatch::KeyCondition& condition : batch.key_conditions()) {
    absl::StatusOr<std::optional<std::string>> value = read(condition.key);
    if (!value.ok()) return value.status();
    if (*value == condition.value) continue;
    const std::string key = absl::CHexEscape(condition.key);
    return absl::AbortedError(
        !condition.value.has_value()
            ? absl::StrCat(backend, " state store: key \"", key, "\" exists: the write is refused")
        : !value->has_value()
            ? absl::StrCat(backend, " state store: key \"", key, "\" is gone: the write is refused")
            : absl::StrCat(backend, " state store: key \"", key,
                           "\" was changed by another writer: the write is refused"));
  }
  return absl::OkStatus();
}

}  // namespace rwkv::server
