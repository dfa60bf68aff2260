#include "server/store/redis_scripts.h"

// Stored values start with a tag byte: 'v' and the value itself, or 'p' and the name of the blob
// key holding it. A pointer whose blob is missing is corruption: DATA_LOSS.
#define RWKV_REDIS_VALUE_OF                                                       \
  "local function value_of(dk)\n"                                                 \
  "  local stored = redis.call('GET', dk)\n"                                      \
  "  if not stored then return nil end\n"                                         \
  "  if string.byte(stored, 1) == 118 then return string.sub(stored, 2) end\n"    \
  "  local blob = redis.call('GET', string.sub(stored, 2))\n"                     \
  "  if not blob then\n"                                                          \
  "    error({err = 'RWKVDATALOSS ' .. dk .. ' points to the missing blob ' ..\n" \
  "                 string.sub(stored, 2)})\n"                                    \
  "  end\n"                                                                       \
  "  return blob\n"                                                               \
  "end\n"

// Redis's own clock, in Unix milliseconds: every replica judges leases by the same clock.
#define RWKV_REDIS_NOW             \
  "local t = redis.call('TIME')\n" \
  "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"

namespace rwkv::server::redis_scripts {

// Get's fallback when plain GETs keep racing writes of the same key (RedisStateStore::Get).
const RedisScript kGet = {"get", "#!lua flags=no-writes\n" RWKV_REDIS_VALUE_OF
                                 "local v = value_of(ARGV[1])\n"
                                 "if v == nil then return false end\n"
                                 "return v\n"};

const RedisScript kWrite = {
    "write",
    "#!lua\n" RWKV_REDIS_VALUE_OF
    "local p = ARGV[1]\n"
    "local index = p .. 'index'\n"
    "local i = 2\n"
    "local n = tonumber(ARGV[i]); i = i + 1\n"
    "for c = 1, n do\n"
    "  local got = value_of(p .. 'd:' .. ARGV[i])\n"
    "  if ARGV[i + 1] == '0' then\n"
    "    if got then return {1, c, 1} end\n"
    "  elseif not got then return {1, c, 0}\n"
    "  elseif got ~= ARGV[i + 2] then return {1, c, 2} end\n"
    "  i = i + 3\n"
    "end\n"
    "n = tonumber(ARGV[i]); i = i + 1\n"
    "for c = 1, n do\n"
    "  local h = redis.call('HMGET', p .. 'l:' .. ARGV[i], 'fence', 'owner')\n"
    "  local current = tonumber(h[1] or '0')\n"
    "  if current ~= tonumber(ARGV[i + 1]) then return {2, c, current, h[2] or ''} end\n"
    "  i = i + 2\n"
    "end\n"
    // Every condition holds: apply the ops in order.
    "n = tonumber(ARGV[i]); i = i + 1\n"
    "for o = 1, n do\n"
    "  local kind, key, stored, at = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]\n"
    "  i = i + 4\n"
    "  local dk = p .. 'd:' .. key\n"
    "  local blob = nil\n"
    "  if kind == 'P' and string.byte(stored, 1) == 112 then blob = string.sub(stored, 2) end\n"
    "  local old = redis.call('GET', dk)\n"
    "  if old and string.byte(old, 1) == 112 and string.sub(old, 2) ~= blob then\n"
    "    redis.call('DEL', string.sub(old, 2))\n"
    "  end\n"
    "  if kind == 'D' then\n"
    "    redis.call('DEL', dk)\n"
    "    redis.call('ZREM', index, key)\n"
    "  else\n"
    "    redis.call('SET', dk, stored)\n"
    "    redis.call('ZADD', index, 0, key)\n"
    "    if at ~= '' then\n"
    "      redis.call('PEXPIREAT', dk, at)\n"
    "      if blob then redis.call('PEXPIREAT', blob, at) end\n"
    "    elseif blob then\n"
    "      redis.call('PERSIST', blob)\n"
    "    end\n"
    "  end\n"
    "end\n"
    "return {0}\n"};

// Removing index entries only frees memory, so it may run while Redis is out of memory.
const RedisScript kScan = {
    "scan", "#!lua flags=allow-oom\n" RWKV_REDIS_VALUE_OF
            "local p, min, max = ARGV[1], ARGV[2], ARGV[3]\n"
            "local limit = tonumber(ARGV[4])\n"
            "local index = p .. 'index'\n"
            "local out, found = {}, 0\n"
            "while found < limit do\n"
            "  local want = limit - found\n"
            "  local keys = redis.call('ZRANGEBYLEX', index, min, max, 'LIMIT', 0, want)\n"
            "  for _, key in ipairs(keys) do\n"
            "    local v = value_of(p .. 'd:' .. key)\n"
            "    if v then\n"
            "      out[#out + 1] = key\n"
            "      out[#out + 1] = v\n"
            "      found = found + 1\n"
            "    else\n"
            "      redis.call('ZREM', index, key)\n"
            "    end\n"
            "  end\n"
            "  if #keys < want then break end\n"
            "  min = '(' .. keys[#keys]\n"
            "end\n"
            "return out\n"};

const RedisScript kAcquireLease = {
    "acquire lease",
    "#!lua\n" RWKV_REDIS_NOW
    "local lk, owner, ttl, keep = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4]\n"
    "local h = redis.call('HMGET', lk, 'owner', 'until_ms')\n"
    "local until_ms = tonumber(h[2] or '0')\n"
    // An owner's own lease is granted again: its release was lost (state_store.h).
    "if until_ms > now and h[1] ~= owner then return {0, h[1] or '', until_ms - now} end\n"
    "local fence = redis.call('HINCRBY', lk, 'fence', 1)\n"
    "redis.call('HSET', lk, 'owner', owner, 'until_ms', string.format('%.0f', now + ttl))\n"
    "redis.call('PEXPIRE', lk, keep)\n"
    "return {1, fence}\n"};

const RedisScript kRenewLease = {
    "renew lease",
    "#!lua\n" RWKV_REDIS_NOW
    "local lk, fence, ttl, keep = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4]\n"
    "local h = redis.call('HMGET', lk, 'fence', 'owner', 'until_ms')\n"
    "local current = tonumber(h[1] or '0')\n"
    "if current ~= fence then return {0, current, h[2] or ''} end\n"
    // until_ms 0: released (an expired lease has a past time, and is revived).
    "if tonumber(h[3] or '0') == 0 then return {2} end\n"
    "redis.call('HSET', lk, 'until_ms', string.format('%.0f', now + ttl))\n"
    "redis.call('PEXPIRE', lk, keep)\n"
    "return {1}\n"};

const RedisScript kReleaseLease = {
    "release lease",
    "#!lua\n"
    "local lk = ARGV[1]\n"
    "if tonumber(redis.call('HGET', lk, 'fence') or '0') ~= tonumber(ARGV[2]) then return 0 end\n"
    "redis.call('HSET', lk, 'until_ms', 0)\n"
    "return 1\n"};

}  // namespace rwkv::server::redis_scripts
