#ifndef RWKV_SERVER_SESSIONS_STATE_CACHE_H_
#define RWKV_SERVER_SESSIONS_STATE_CACHE_H_

#include <cstdint>
#include <list>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"
#include "rwkv/v1/rwkv.pb.h"
#include "server/sessions/session_manager.h"

namespace rwkv::server {

// StateCache: the hot tier in front of the state store (design §4, "Tiers").
// An LRU of decoded states, bounded by their bytes. Entries carry the version and update time of
// the record they belong to, and a lookup for any other record drops the entry, so a stale state
// is never served (even if the session was deleted and re-created). States are shared so that
// callers copy them outside the manager's lock.
class StateCache {
 public:
  using State = std::shared_ptr<const std::vector<float>>;

  explicit StateCache(int64_t budget_bytes) : budget_bytes_(budget_bytes) {}

  // The state of `record`, or null (a miss).
  State Lookup(const rwkv::v1::Session& record);
  // Evicts least recently used entries to stay within the budget; a state larger than the whole
  // budget is not cached.
  void Insert(const rwkv::v1::Session& record, State state);
  void Erase(absl::string_view id);
  SessionManager::CacheStats stats() const { return stats_; }

 private:
  struct Entry {
    std::string id;
    int64_t version;
    double updated_at;
    State state;
  };

  static int64_t Bytes(const std::vector<float>& state) {
    return static_cast<int64_t>(state.size() * sizeof(float));
  }

  const int64_t budget_bytes_;
  std::list<Entry> lru_;  // most recently used first
  absl::flat_hash_map<std::string, std::list<Entry>::iterator> index_;
  SessionManager::CacheStats stats_;
};

}  // namespace rwkv::server

#endif  // RWKV_SERVER_SESSIONS_STATE_CACHE_H_
