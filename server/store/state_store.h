// StateStore: the durable key-value store behind sessions.
//
//   RWKV_ASSIGN_OR_RETURN(std::unique_ptr<StateStore> store, OpenStateStore("rocksdb:/var/lib/rwkv"));
//   WriteBatch batch;
//   batch.Put("s/abc", blob);
//   batch.Put("m/abc", meta);
//   RWKV_RETURN_IF_ERROR(store->Write(batch));     // both or neither
//   RWKV_ASSIGN_OR_RETURN(std::string blob, store->Get("s/abc"));
//
// Backends are named after their technology: RocksDbStateStore ("rocksdb:PATH", embedded,
// crash-safe: a write that returned OK survives a SIGKILL of the process, and with
// StoreOptions::sync_writes, the default, a power loss) and MemoryStateStore
// ("memory:", for tests; gone with the process). Errors of the underlying library are converted
// to absl::Status inside each backend: NOT_FOUND for a missing key, DATA_LOSS for corruption,
// UNAVAILABLE / INTERNAL for I/O failures, each message naming the backend and the key.
//
// Thread-safe: every method may be called from any thread.
#ifndef RWKV_SERVER_STORE_STATE_STORE_H_
#define RWKV_SERVER_STORE_STATE_STORE_H_

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace rwkv::server {

// Puts and deletes applied atomically by StateStore::Write, in order.
class WriteBatch {
 public:
  struct Op {
    std::string key;
    std::string value;  // unused for deletes
    bool is_delete = false;
  };
  void Put(absl::string_view key, std::string value) {
    ops_.push_back({std::string(key), std::move(value), false});
  }
  void Delete(absl::string_view key) { ops_.push_back({std::string(key), std::string(), true}); }
  const std::vector<Op>& ops() const { return ops_; }
  bool empty() const { return ops_.empty(); }

 private:
  std::vector<Op> ops_;
};

struct KeyValue {
  std::string key;
  std::string value;
};

class StateStore {
 public:
  virtual ~StateStore() = default;

  // "rocksdb", "memory": the backend label used in logs and metrics.
  virtual absl::string_view Backend() const = 0;

  // NOT_FOUND when the key is absent.
  virtual absl::StatusOr<std::string> Get(absl::string_view key) = 0;

  // Applies every op of `batch` atomically (all or none). Deleting a missing key is not an error.
  virtual absl::Status Write(const WriteBatch& batch) = 0;

  // Up to `limit` entries whose keys start with `prefix` and sort strictly after `start_after`
  // (empty: from the first), in key order.
  virtual absl::StatusOr<std::vector<KeyValue>> Scan(absl::string_view prefix,
                                                     absl::string_view start_after,
                                                     int limit) = 0;

  // Makes every completed Write durable on disk (no-op for memory).
  virtual absl::Status Flush() = 0;

  // Asks a backend that stopped taking writes after a failure (RocksDB after a failed write,
  // e.g. on a full disk) to take them again: OK when it now does or never stopped, else why not
  // (the disk still fails). Store health probes call it after a failed write.
  virtual absl::Status Resume() { return absl::OkStatus(); }
};

// How OpenStateStore opens a backend; backends ignore what does not apply to them.
struct StoreOptions {
  // Each Write is on stable storage (fsynced) before it returns, so that an acknowledged write
  // survives a power loss or kernel crash, not only a process crash. false: it is fsynced by the
  // next Flush (or by the OS, eventually). Memory ignores it.
  bool sync_writes = true;
};

// "memory:" or "rocksdb:PATH" (the directory is created if missing). INVALID_ARGUMENT for an
// unknown scheme, naming the accepted ones; the backend's error when it cannot open.
absl::StatusOr<std::unique_ptr<StateStore>> OpenStateStore(absl::string_view uri,
                                                           const StoreOptions& options);
// With the default StoreOptions (synced writes).
absl::StatusOr<std::unique_ptr<StateStore>> OpenStateStore(absl::string_view uri);

// The key space of the server's own probes ("health/..."), apart from every session key.
inline constexpr absl::string_view kHealthKeyPrefix = "health/";

// Asks `store` for a key that is never written: OK when it answers (NOT_FOUND is an answer),
// else its error. Readiness waits for this at start-up; StoreHealth probes while serving.
absl::Status ProbeStateStore(StateStore& store);

}  // namespace rwkv::server

#endif  // RWKV_SERVER_STORE_STATE_STORE_H_
