// StateCache: the hot tier in front of the state store (design §4, "Tiers").
//
//   StateCache cache(/*budget_bytes=*/int64_t{1} << 30);
//   if (StateCache::State state = cache.Lookup(record)) return *state;   // a hit
//   ... load it from the store ...
//   cache.Insert(record, state);
//
// An LRU of decoded states, bounded by their bytes, kept by session key (SessionKey: two tenants'
// sessions of one ID are two entries). Entries carry the version and update time of
// the record they belong to, and a lookup for any other record drops the entry, so a stale state
// is never served (even if the session was deleted and re-created). States are shared, so that
// callers copy them outside the cache's lock.
//
// Thread-safe; owns its lock and its statistics.
#ifndef RWKV_SERVER_SESSIONS_STATE_CACHE_H_
#define RWKV_SERVER_SESSIONS_STATE_CACHE_H_

#include <cstdint>
#include <list>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/types/span.h"
#include "server/sessions/session_record.h"

namespace rwkv::server {

struct StateCacheStats {
  int64_t bytes = 0;
  int64_t entries = 0;
  int64_t hits = 0;
  int64_t misses = 0;
};

class StateCache {
 public:
  using State = std::shared_ptr<const std::vector<float>>;

  explicit StateCache(int64_t budget_bytes) : budget_bytes_(budget_bytes) {}

  // The state of `record`, or null (a miss).
  State Lookup(const SessionRecord& record) ABSL_LOCKS_EXCLUDED(mu_);
  // Caches a copy of `state` as `record`'s, evicting least recently used entries to stay within
  // the budget; a state larger than the whole budget is not cached (nor copied).
  void Insert(const SessionRecord& record, absl::Span<const float> state) ABSL_LOCKS_EXCLUDED(mu_);
  // Drops the state of the session `key` (SessionKey).
  void Erase(absl::string_view key) ABSL_LOCKS_EXCLUDED(mu_);
  StateCacheStats stats() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  struct Entry {
    std::string key;
    int64_t version;
    double updated_at;
    State state;
  };

  static int64_t Bytes(size_t floats) { return static_cast<int64_t>(floats * sizeof(float)); }
  void EraseLocked(absl::string_view key) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const int64_t budget_bytes_;
  mutable absl::Mutex mu_;
  std::list<Entry> lru_ ABSL_GUARDED_BY(mu_);  // most recently used first
  absl::flat_hash_map<std::string, std::list<Entry>::iterator> index_ ABSL_GUARDED_BY(mu_);
  StateCacheStats stats_ ABSL_GUARDED_BY(mu_);
};

}  // namespace rwkv::server

#endif  // RWKV_SERVER_SESSIONS_STATE_CACHE_H_
