// The Lua scripts of RedisStateStore (the key layout they assume is in redis_state_store.h).
// Each runs atomically in Redis: no other client's command runs between its first and last step.
#ifndef RWKV_SERVER_STORE_REDIS_SCRIPTS_H_
#define RWKV_SERVER_STORE_REDIS_SCRIPTS_H_

#include "server/store/redis_connection.h"

namespace rwkv::server::redis_scripts {

// ARGV: data key. Reply: the value (a pointer followed to its blob), or nil.
// ARGV: prefix, the key conditions (count, then key, "1"/"0" for present/absent, value each),
// the fence conditions (count, then lease, fence each), the ops (count, then "P"/"D", key, stored
// value, expiry in Unix ms or "" each). Reply: {0} applied; {1, i, state} key condition i
// failed (state 0: absent, 1: present, 2: another value); {2, i, fence, owner} fence condition
// i failed (the lease's current fence and owner). Nothing is written unless all conditions hold.
extern const RedisScript kGet;
extern const RedisScript kWrite;
// ARGV: prefix, ZRANGEBYLEX min, max, limit. Reply: {key, value, key, value, ...}, up to limit
// pairs; index entries of keys that are gone (expired) are removed on the way.
extern const RedisScript kScan;
// ARGV: lease key, owner, ttl ms, retention ms. Reply: {1, fence} granted; {0, owner, ms left}.
extern const RedisScript kAcquireLease;
// ARGV: lease key, fence, ttl ms, retention ms. Reply: {1} renewed; {0, fence, owner} superseded;
// {2} released (until_ms 0).
extern const RedisScript kRenewLease;
// ARGV: lease key, fence. Reply: 1 released (until_ms set to 0), 0 not the current lease.
extern const RedisScript kReleaseLease;

}  // namespace rwkv::server::redis_scripts

#endif  // RWKV_SERVER_STORE_REDIS_SCRIPTS_H_
