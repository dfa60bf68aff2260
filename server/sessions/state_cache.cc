#include "server/sessions/state_cache.h"

#include <utility>

namespace rwkv::server {

StateCache::State StateCache::Lookup(const SessionRecord& record) {
  absl::MutexLock lock(&mu_);
  auto it = index_.find(record.id);
  if (it != index_.end() && it->second->version == record.version &&
      it->second->updated_at == record.updated_at) {
    lru_.splice(lru_.begin(), lru_, it->second);
    ++stats_.hits;
    return it->second->state;
  }
  if (it != index_.end()) EraseLocked(record.id);
  ++stats_.misses;
  return nullptr;
}

void StateCache::Insert(const SessionRecord& record, absl::Span<const float> state) {
  const int64_t bytes = Bytes(state.size());
  if (bytes > budget_bytes_) {
    Erase(record.id);  // whatever was cached is older than `record`
    return;
  }
  // Copied before taking the lock: other sessions' lookups need not wait for it.
  auto copy = std::make_shared<const std::vector<float>>(state.begin(), state.end());
  absl::MutexLock lock(&mu_);
  EraseLocked(record.id);
  lru_.push_front({record.id, record.version, record.updated_at, std::move(copy)});
  index_[record.id] = lru_.begin();
  stats_.bytes += bytes;
  ++stats_.entries;
  while (stats_.bytes > budget_bytes_) EraseLocked(lru_.back().id);
}

void StateCache::Erase(absl::string_view id) {
  absl::MutexLock lock(&mu_);
  EraseLocked(id);
}

StateCacheStats StateCache::stats() const {
  absl::MutexLock lock(&mu_);
  return stats_;
}

void StateCache::EraseLocked(absl::string_view id) {
  auto it = index_.find(id);
  if (it == index_.end()) return;
  stats_.bytes -= Bytes(it->second->state->size());
  --stats_.entries;
  lru_.erase(it->second);
  index_.erase(it);
}

}  // namespace rwkv::server
