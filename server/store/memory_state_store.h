// MemoryStateStore: the "memory:" StateStore, an ordered map in process memory.
//
//   std::unique_ptr<StateStore> store = std::make_unique<MemoryStateStore>();
//
// For tests and ephemeral servers: everything is gone with the process, and Flush() does nothing.
// Keys never expire (WriteBatch::Op::expires_at is ignored); leases are LocalLeases.
// Thread-safe; one mutex makes every Write atomic with respect to every Get and Scan.
#ifndef RWKV_SERVER_STORE_MEMORY_STATE_STORE_H_
#define RWKV_SERVER_STORE_MEMORY_STATE_STORE_H_

#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/btree_map.h"
#include "absl/synchronization/mutex.h"
#include "server/store/local_leases.h"
#include "server/store/state_store.h"

namespace rwkv::server {

class MemoryStateStore : public LocallyLeasedStore {
 public:
  // `clock` judges lease expiry; it must outlive the store.
  explicit MemoryStateStore(const Clock* clock = &Clock::Real()) : LocallyLeasedStore(clock) {}

  absl::string_view Backend() const override { return "memory"; }
  absl::StatusOr<std::string> Get(absl::string_view key) override;
  absl::Status Write(const WriteBatch& batch) override;
  absl::StatusOr<std::vector<KeyValue>> Scan(absl::string_view prefix,
                                             absl::string_view start_after, int limit) override;
  absl::Status Flush() override { return absl::OkStatus(); }

 private:
  mutable absl::Mutex mu_;
  absl::btree_map<std::string, std::string> data_ ABSL_GUARDED_BY(mu_);
};

}  // namespace rwkv::server

#endif  // RWKV_SERVER_STORE_MEMORY_STATE_STORE_H_
