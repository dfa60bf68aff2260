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
// StoreOptions::sync_writes, the default, a power loss; one process at a time),
// RedisStateStore ("redis://HOST:PORT[/DB]", shared by any number of replicas) and
// MemoryStateStore ("memory:", for tests; gone with the process). Every backend passes the same
// conformance suite (tests/server/store/state_store_conformance_test.cc). Errors of the underlying library are converted
// to absl::Status inside each backend: NOT_FOUND for a missing key, DATA_LOSS for corruption,
// UNAVAILABLE / INTERNAL for I/O failures, each message naming the backend and the key.
//
// Thread-safe: every method may be called from any thread.
#ifndef RWKV_SERVER_STORE_STATE_STORE_H_
#define RWKV_SERVER_STORE_STATE_STORE_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace rwkv::server {

// Puts and deletes applied atomically by StateStore::Write, in order, if every condition of the
// batch holds when it is applied (a compare-and-set across keys and leases).
class WriteBatch {
 public:
  struct Op {
    std::string key;
    std::string value;  // unused for deletes
    bool is_delete = false;
    // Backends that expire keys (Redis) drop the key after this time; the others keep it (the
    // sessions layer deletes what expired itself). Unused for deletes.
    absl::Time expires_at = absl::InfiniteFuture();
  };
  // `key` must hold exactly `value` (nullopt: must be absent).
  struct KeyCondition {
    std::string key;
    std::optional<std::string> value;
  };
  // No lease on `lease` may have been granted after the one with `fence` (it may have expired or
  // been released since: what matters is that nobody else was granted it).
  struct FenceCondition {
    std::string lease;
    int64_t fence = 0;
  };

  void Put(absl::string_view key, std::string value,
           absl::Time expires_at = absl::InfiniteFuture()) {
    ops_.push_back({std::string(key), std::move(value), false, expires_at});
  }
  void Delete(absl::string_view key) { ops_.push_back({std::string(key), std::string(), true}); }
  void Require(absl::string_view key, std::optional<std::string> value) {
    key_conditions_.push_back({std::string(key), std::move(value)});
  }
  void RequireFence(absl::string_view lease, int64_t fence) {
    fence_conditions_.push_back({std::string(lease), fence});
  }

  const std::vector<Op>& ops() const { return ops_; }
  const std::vector<KeyCondition>& key_conditions() const { return key_conditions_; }
  const std::vector<FenceCondition>& fence_conditions() const { return fence_conditions_; }
  bool empty() const { return ops_.empty(); }
  bool conditional() const { return !key_conditions_.empty() || !fence_conditions_.empty(); }

 private:
  std::vector<Op> ops_;
  std::vector<KeyCondition> key_conditions_;
  std::vector<FenceCondition> fence_conditions_;
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

  // Applies every op of `batch` atomically (all or none), if every condition of the batch holds
  // at that moment; else applies nothing and returns ABORTED naming the first condition that
  // failed. Deleting a missing key is not an error.
  virtual absl::Status Write(const WriteBatch& batch) = 0;

  // Up to `limit` entries whose keys start with `prefix` and sort strictly after `start_after`
  // (empty: from the first), in key order.
  virtual absl::StatusOr<std::vector<KeyValue>> Scan(absl::string_view prefix,
                                                     absl::string_view start_after,
                                                     int limit) = 0;

  // How many keys start with `prefix`. Backends with an index answer at once (Redis: may count
  // keys that expired and were not scanned since); the default pages through Scan.
  virtual absl::StatusOr<int64_t> Count(absl::string_view prefix);

  // Makes every completed Write durable on disk (no-op for memory).
  virtual absl::Status Flush() = 0;

  // Asks a backend that stopped taking writes after a failure (RocksDB after a failed write,
  // e.g. on a full disk) to take them again: OK when it now does or never stopped, else why not
  // (the disk still fails). Store health probes call it after a failed write.
  virtual absl::Status Resume() { return absl::OkStatus(); }

  // Leases: at most one holder of a name at a time, across every process using the store, for a
  // bounded time. A lease alone does not make a write safe (its holder may be paused past its
  // expiry): writes check its fence with WriteBatch::RequireFence. Expiry is judged by one clock,
  // the store's (Redis's), or the process's for the embedded backends.
  //
  // Grants `name` to `owner` (one process: e.g. the replica's name) for `ttl` unless another
  // owner's unexpired lease on it exists, then ABORTED naming that owner. An owner's own unexpired
  // lease is granted again: a process serialises its own use of a name, so a lease of its own
  // that it asks for again is one whose release was lost (the store was down), not one in use.
  // Returns the lease's fence, greater than every fence granted on `name` before it.
  virtual absl::StatusOr<int64_t> AcquireLease(absl::string_view name, absl::string_view owner,
                                               absl::Duration ttl) = 0;
  // Extends the lease with `fence` on `name` to `ttl` from now, if no later lease was granted
  // and it was not released (one that expired with no one taking it over is revived); ABORTED
  // otherwise.
  virtual absl::Status RenewLease(absl::string_view name, int64_t fence, absl::Duration ttl) = 0;
  // Ends the lease with `fence` on `name`, if it is still the current one; OK either way.
  virtual absl::Status ReleaseLease(absl::string_view name, int64_t fence) = 0;

  // Whether other processes (other replicas) use the same data, so that a failure of the store
  // is every replica's alike (Redis), not this one's (an embedded database on a local disk).
  virtual bool Shared() const { return false; }
};

// How OpenStateStore opens a backend; backends ignore what does not apply to them.
struct StoreOptions {
  // Each Write is on stable storage (fsynced) before it returns, so that an acknowledged write
  // survives a power loss or kernel crash, not only a process crash. false: it is fsynced by the
  // next Flush (or by the OS, eventually). Memory ignores it.
  bool sync_writes = true;
  // Redis: the password of AUTH ("" = none). Never logged.
  std::string password;
  // Redis: the most connections open at once (each serves one caller at a time).
  int connections = 8;
  // Redis: the longest a connect, or a command's reply, may take before UNAVAILABLE.
  absl::Duration connect_timeout = absl::Seconds(2);
  absl::Duration command_timeout = absl::Seconds(10);
};

// "memory:", "rocksdb:PATH" (the directory is created if missing) or
// "redis://[USER@]HOST:PORT[/DB]". INVALID_ARGUMENT for an
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
