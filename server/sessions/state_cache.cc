#include "server/sessions/state_cache.h"

#include <utility>

namespace rwkv::server {

StateCache::State StateCache::Lookup(const rwkv::v1::Session& record) {
  const std::string& id = record.id();
  auto it = index_.find(id);
  if (it != index_.end() && it->second->version == record.version() &&
      it->second->updated_at == record.updated_at()) {
    lru_.splice(lru_.begin(), lru_, it->second);
    ++stats_.hits;
    return it->second->state;
  }
  if (it != index_.end()) Erase(id);
  ++stats_.misses;
  return nullptr;
}

void StateCache::Insert(const rwkv::v1::Session& record, State state) {
  Erase(record.id());
  const int64_t bytes = Bytes(*state);
  if (bytes > budget_bytes_) return;
  lru_.push_front({record.id(), record.version(), record.updated_at(), std::move(state)});
  index_[record.id()] = lru_.begin();
  stats_.bytes += bytes;
  ++stats_.entries;
  while (stats_.bytes > budget_bytes_) Erase(lru_.back().id);
}

void StateCache::Erase(absl::string_view id) {
  auto it = index_.find(id);
  if (it == index_.end()) return;
  stats_.bytes -= Bytes(*it->second->state);
  --stats_.entries;
  lru_.erase(it->second);
  index_.erase(it);
}

}  // namespace rwkv::server
