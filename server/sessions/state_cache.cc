#include "server/sessions/state_cache.h"

#include <utility>

#include "server/sessions/session_scope.h"

namespace rwkv::server {

StateCache::State StateCache::Lookup(const SessionRecord& record) {
  const std::string key = SessionKey(record);
  absl::MutexLock lock(&mu_);
  auto it = index_.find(key);
  if (it != index_.end() && it->second->version == record.version &&
      it->second->updated_at == record.updated_at) {
    lru_.splice(lru_.begin(), lru_, it->second);
    ++stats_.hits;
    return it->second->state;
  }
  if (it != index_.end()) EraseLocked(key);
  ++stats_.misses;
  return nullptr;
}

void StateCache::Insert(const SessionRecord& record, absl::Span<const float> state) {
  const int64_t bytes = Bytes(state.size());
  std::string key = SessionKey(record);
  if (bytes > budget_bytes_) {
    Erase(key);  // whatever was cached is older than `record`
    return;
  }
  // Copied before taking the lock: other sessions' lookups need not wait for it.
  auto copy = std::make_shared<const std::vector<float>>(state.begin(), state.end());
  absl::MutexLock lock(&mu_);
  EraseLocked(key);
  lru_.push_front({std::move(key), record.version, record.updated_at, std::move(copy)});
  index_[lru_.front().key] = lru_.begin();
  stats_.bytes += bytes;
  ++stats_.entries;
  while (stats_.bytes > budget_bytes_) EraseLocked(lru_.back().key);
}

void StateCache::Erase(absl::string_view key) {
  absl::MutexLock lock(&mu_);
  EraseLocked(key);
}

StateCacheStats StateCache::stats() const {
  absl::MutexLock lock(&mu_);
  return stats_;
}

void StateCache::EraseLocked(absl::string_view key) {
  auto it = index_.find(key);
  if (it == index_.end()) return;
  stats_.bytes -= Bytes(it->second->state->size());
  --stats_.entries;
  lru_.erase(it->second);
  index_.erase(it);
}

}  // namespace rwkv::server
