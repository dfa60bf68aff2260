// RedisStateStore: the "redis://[USER@]HOST:PORT[/DB]" StateStore, shared by any number of
// replicas (Shared() is true).
//
//   RedisStateStore::Options options;
//   options.uri = ParseRedisUri("redis://10.0.0.5:6379").value();
//   options.password = password_from_file;      // never logged, never in a URI
//   RWKV_ASSIGN_OR_RETURN(std::unique_ptr<RedisStateStore> store,
//   RedisStateStore::Create(options));
//
// Key layout, everything under one prefix (Options::key_prefix, "rwkv:" by default), so that the
// store's keys never collide with anything else in the database:
//   rwkv:d:<key>     a data key. Its value is tagged: 'v' + the value itself, or, for values over
//                    Options::blob_threshold (64 KiB), 'p' + the name of its blob key.
//   rwkv:b:<16 hex>  a blob key: one large value, under a fresh random name per write.
//   rwkv:index       a sorted set of every data key (score 0), read by ZRANGEBYLEX: Scan reads
//                    one page by key range, never walks the keyspace (no KEYS, no SCAN).
//   rwkv:l:<name>    a lease: a hash {fence, owner, until_ms}.
// Redis Cluster is not supported (the scripts touch keys they compute); one primary is.
//
// Atomicity. Each Write is one Lua script: it checks every key and fence condition, then applies
// every op (SET/DEL of data keys, ZADD/ZREM of the index, expiry), so other clients see all of
// a batch or none of it. Scan (a script too) follows pointers to blobs atomically; Get reads the
// key and then its blob with plain GETs (no multi-megabyte copy through Lua), and falls back to
// a script if writes of the key keep switching it to new blobs in between.
// Large values are written BEFORE the script, with a plain SET under a fresh blob key: copying a
// multi-megabyte argument inside a script would block every other client of Redis for the copy,
// while a plain SET only blocks for its own. That SET is not atomic with the script, but nothing
// reads a blob until the script switches a data key's pointer to it. The blob carries a safety
// expiry (Options::blob_safety_ttl, 1 h) that the script removes (or sets to the key's own), so a
// writer that dies between the two leaves no orphan for long; a refused write deletes its blobs at
// once; the script deletes the blob a key pointed to before when it overwrites or deletes it. A
// write whose outcome is unknown (the connection broke before the reply) leaves its blobs alone:
// either the script ran and they are live, or their safety expiry removes them.
//
// Expiry. A Put's expires_at becomes PEXPIREAT of its data key and blob key: Redis drops them at
// that time by its own clock, a Get after it is NOT_FOUND, and Scan drops the index entry when
// it meets a key that is gone. Redis 7 freezes time during a script, so a data key and its blob
// (same expiry) are seen expired together.
//
// Leases are judged by Redis's clock (TIME inside the scripts), so replicas' clocks do not
// matter; a released lease has until_ms 0 (it cannot be renewed, an expired one can); a lease's fence only grows (HINCRBY), and a write with RequireFence checks it in the
// same script that applies the write. The hash expires after Options::lease_retention (30 days)
// without an acquire or renew, so lease hashes do not leak; a turn never lasts that long.
//
// Durability is Redis's: Flush() returns OK at once, and an acknowledged Write survives a crash
// of Redis as far as its AOF is synced (appendfsync always: every write; everysec: up to a
// second may be lost). StoreOptions::sync_writes is ignored.
//
// Errors name the backend, address and operation (RedisConnection): UNAVAILABLE while Redis is
// unreachable, slow past the command timeout, loading, read-only or refusing the password;
// RESOURCE_EXHAUSTED when it is out of memory; ABORTED when a condition or lease fails. The
// store recovers by itself when Redis returns (RedisConnectionPool).
//
// Thread-safe: up to Options::connections callers talk to Redis at once.
#ifndef RWKV_SERVER_STORE_REDIS_STATE_STORE_H_
#define RWKV_SERVER_STORE_REDIS_STATE_STORE_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "server/store/redis_connection_pool.h"
#include "server/store/redis_uri.h"
#include "server/store/state_store.h"

namespace rwkv::server {

class RedisStateStore : public StateStore {
 public:
  struct Options {
    RedisUri uri;
    std::string password;  // "" = none; never logged
    int connections = 8;
    absl::Duration connect_timeout = absl::Seconds(2);
    absl::Duration command_timeout = absl::Seconds(10);
    std::string key_prefix = "rwkv:";
    // Values longer than this go to blob keys (written outside the Write script).
    int64_t blob_threshold = int64_t{64} << 10;
    absl::Duration blob_safety_ttl = absl::Hours(1);
    absl::Duration lease_retention = absl::Hours(24 * 30);
  };

  // Connects lazily: no I/O here, so a Redis that is down shows at the first operation.
  static absl::StatusOr<std::unique_ptr<RedisStateStore>> Create(const Options& options);

  absl::string_view Backend() const override { return "redis"; }
  absl::StatusOr<std::string> Get(absl::string_view key) override;
  absl::Status Write(const WriteBatch& batch) override;
  absl::StatusOr<std::vector<KeyValue>> Scan(absl::string_view prefix,
                                             absl::string_view start_after, int limit) override;
  // ZLEXCOUNT of the index: keys that expired count until a Scan passes them.
  absl::StatusOr<int64_t> Count(absl::string_view prefix) override;
  absl::Status Flush() override { return absl::OkStatus(); }
  absl::StatusOr<int64_t> AcquireLease(absl::string_view name, absl::string_view owner,
                                       absl::Duration ttl) override;
  absl::Status RenewLease(absl::string_view name, int64_t fence, absl::Duration ttl) override;
  absl::Status ReleaseLease(absl::string_view name, int64_t fence) override;
  bool Shared() const override { return true; }

 private:
  explicit RedisStateStore(const Options& options);
  // The blobs of `batch`'s large values, each SET under a fresh key; `stored` gets every op's
  // tagged value. On failure the blobs written so far are in `blobs` (for cleanup).
  absl::Status WriteBlobs(RedisConnection& connection, const WriteBatch& batch,
                          std::vector<std::string>& stored, std::vector<std::string>& blobs,
                          absl::string_view what);
  void DropBlobs(RedisConnection& connection, const std::vector<std::string>& blobs);
  absl::Status Refused(const WriteBatch& batch, const redisReply& reply,
                       absl::string_view what) const;
  std::string DataKey(absl::string_view key) const;
  std::string LeaseKey(absl::string_view name) const;

  const Options options_;
  RedisConnectionPool pool_;
};

}  // namespace rwkv::server

#endif  // RWKV_SERVER_STORE_REDIS_STATE_STORE_H_
