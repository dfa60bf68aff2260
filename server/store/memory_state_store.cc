#include "server/store/memory_state_store.h"

#include <algorithm>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace rwkv::server {

absl::StatusOr<std::string> MemoryStateStore::Get(absl::string_view key) {
  absl::MutexLock lock(&mu_);
  auto it = data_.find(key);
  if (it == data_.end()) {
    return absl::NotFoundError(
        absl::StrCat("memory state store: key \"", absl::CHexEscape(key), "\" not found"));
  }
  return it->second;
}

absl::Status MemoryStateStore::Write(const WriteBatch& batch) {
  absl::MutexLock lock(&mu_);
  if (batch.conditional()) {
    if (absl::Status fences = leases().CheckFences(batch, Backend()); !fences.ok()) return fences;
    absl::Status keys = CheckKeyConditions(
        batch, Backend(),
        [&](absl::string_view key) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_)
            -> absl::StatusOr<std::optional<std::string>> {
          auto it = data_.find(key);
          if (it == data_.end()) return std::nullopt;
          return it->second;
        });
    if (!keys.ok()) return keys;
  }
  for (const WriteBatch::Op& op : batch.ops()) {
    if (op.is_delete) {
      data_.erase(op.key);
    } else {
      data_.insert_or_assign(op.key, op.value);
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<KeyValue>> MemoryStateStore::Scan(absl::string_view prefix,
                                                             absl::string_view start_after,
                                                             int limit) {
  if (limit <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("memory state store: scan limit must be positive, got ", limit));
  }
  std::vector<KeyValue> result;
  absl::MutexLock lock(&mu_);
  for (auto it = data_.lower_bound(std::max(prefix, start_after));
       it != data_.end() && static_cast<int>(result.size()) < limit; ++it) {
    if (!absl::StartsWith(it->first, prefix)) break;
    if (it->first == start_after) continue;
    result.push_back({it->first, it->second});
  }
  return result;
}

}  // namespace rwkv::server
