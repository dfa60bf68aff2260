#include "server/store/redis_state_store.h"

#include <algorithm>
#include <utility>

#include "absl/random/random.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/status_macros.h"
#include "server/store/redis_scripts.h"

namespace rwkv::server {
namespace {

std::string Quoted(absl::string_view key) {
  return absl::StrCat("\"", absl::CHexEscape(key), "\"");
}

// "Write of 3 ops (first \"s/abc\")": names a batch in messages.
std::string DescribeBatch(const WriteBatch& batch) {
  if (batch.ops().empty()) return "Write (conditions only)";
  return absl::StrCat("Write of ", batch.ops().size(), batch.ops().size() == 1 ? " op" : " ops",
                      " (first ", Quoted(batch.ops()[0].key), ")");
}

std::string Millis(absl::Duration duration) {
  return absl::StrCat(std::max<int64_t>(1, absl::ToInt64Milliseconds(duration)));
}

// The smallest string greater than every string starting with `prefix`: "" when none is (the
// prefix is empty or all 0xff).
std::string PrefixEnd(absl::string_view prefix) {
  std::string end(prefix);
  while (!end.empty() && static_cast<unsigned char>(end.back()) == 0xff) end.pop_back();
  if (!end.empty()) end.back() = static_cast<char>(static_cast<unsigned char>(end.back()) + 1);
  return end;
}

// Element `i` of an array reply as an integer (0 when it is not one).
int64_t IntegerAt(const redisReply& reply, size_t i) {
  if (reply.type != REDIS_REPLY_ARRAY || i >= reply.elements) return 0;
  return reply.element[i]->type == REDIS_REPLY_INTEGER ? reply.element[i]->integer : 0;
}

std::string StringAt(const redisReply& reply, size_t i) {
  if (reply.type != REDIS_REPLY_ARRAY || i >= reply.elements) return "";
  const redisReply* element = reply.element[i];
  return element->type == REDIS_REPLY_STRING ? std::string(element->str, element->len) : "";
}

absl::Status NotFound(absl::string_view key) {
  return absl::NotFoundError(absl::StrCat("redis state store: no key ", Quoted(key)));
}

absl::Status Unexpected(const RedisConnection& connection, absl::string_view what) {
  return absl::InternalError(connection.Message(what, "unexpected reply from a script"));
}

}  // namespace

absl::StatusOr<std::unique_ptr<RedisStateStore>> RedisStateStore::Create(const Options& options) {
  if (options.uri.host.empty() || options.uri.port <= 0) {
    return absl::InvalidArgumentError("redis state store: no HOST:PORT");
  }
  if (options.key_prefix.empty()) {
    return absl::InvalidArgumentError("redis state store: the key prefix is empty");
  }
  return std::unique_ptr<RedisStateStore>(new RedisStateStore(options));
}

RedisStateStore::RedisStateStore(const Options& options)
    : options_(options),
      pool_({options.uri, options.password, options.connect_timeout, options.command_timeout},
            options.connections) {}

std::string RedisStateStore::DataKey(absl::string_view key) const {
  return absl::StrCat(options_.key_prefix, "d:", key);
}

std::string RedisStateStore::LeaseKey(absl::string_view name) const {
  return absl::StrCat(options_.key_prefix, "l:", name);
}

absl::StatusOr<std::string> RedisStateStore::Get(absl::string_view key) {
  const std::string what = absl::StrCat("Get ", Quoted(key));
  RWKV_ASSIGN_OR_RETURN(RedisConnectionPool::Handle connection, pool_.Acquire(what));
  // Plain GETs first, not a script: a script copies a multi-megabyte state through Lua twice
  // (several ms for 2.4 MB). The blob a pointer names may vanish between the two GETs when a
  // write switches the key to a new blob; after two such races the script reads atomically.
  for (int attempt = 0; attempt < 2; ++attempt) {
    RWKV_ASSIGN_OR_RETURN(RedisReply stored, connection->Command({"GET", DataKey(key)}, what));
    if (stored->type == REDIS_REPLY_NIL) return NotFound(key);
    if (stored->type != REDIS_REPLY_STRING || stored->len < 1) break;  // the script says why
    const absl::string_view value(stored->str, stored->len);
    if (value[0] == 'v') return std::string(value.substr(1));
    if (value[0] != 'p') break;
    RWKV_ASSIGN_OR_RETURN(RedisReply blob,
                          connection->Command({"GET", value.substr(1)}, what));
    if (blob->type == REDIS_REPLY_STRING) return std::string(blob->str, blob->len);
    if (blob->type != REDIS_REPLY_NIL) return Unexpected(*connection, what);
  }
  RWKV_ASSIGN_OR_RETURN(RedisReply reply,
                        connection->Eval(redis_scripts::kGet, {DataKey(key)}, what));
  if (reply->type == REDIS_REPLY_NIL) return NotFound(key);
  if (reply->type != REDIS_REPLY_STRING) return Unexpected(*connection, what);
  return std::string(reply->str, reply->len);
}

absl::Status RedisStateStore::WriteBlobs(RedisConnection& connection, const WriteBatch& batch,
                                         std::vector<std::string>& stored,
                                         std::vector<std::string>& blobs, absl::string_view what) {
  thread_local absl::BitGen random;
  const std::string safety_ms = Millis(options_.blob_safety_ttl);
  for (const WriteBatch::Op& op : batch.ops()) {
    if (op.is_delete || static_cast<int64_t>(op.value.size()) <= options_.blob_threshold) {
      stored.push_back(op.is_delete ? std::string() : absl::StrCat("v", op.value));
      continue;
    }
    for (;;) {
      std::string blob =
          absl::StrFormat("%sb:%016x", options_.key_prefix, absl::Uniform<uint64_t>(random));
      // NX: a (vanishingly unlikely) name already taken gets another one.
      RWKV_ASSIGN_OR_RETURN(RedisReply reply,
                            connection.Command({"SET", blob, op.value, "PX", safety_ms, "NX"},
                                               absl::StrCat(what, ": blob of ", Quoted(op.key))));
      if (reply->type == REDIS_REPLY_NIL) continue;
      stored.push_back(absl::StrCat("p", blob));
      blobs.push_back(std::move(blob));
      break;
    }
  }
  return absl::OkStatus();
}

void RedisStateStore::DropBlobs(RedisConnection& connection,
                                const std::vector<std::string>& blobs) {
  if (blobs.empty() || connection.broken()) return;  // their safety expiry removes them
  std::vector<absl::string_view> command = {"DEL"};
  command.insert(command.end(), blobs.begin(), blobs.end());
  connection.Command(command, "delete the blobs of a refused write").IgnoreError();
}

absl::Status RedisStateStore::Refused(const WriteBatch& batch, const redisReply& reply,
                                      absl::string_view what) const {
  const int64_t kind = IntegerAt(reply, 0);
  const size_t i = static_cast<size_t>(std::max<int64_t>(1, IntegerAt(reply, 1))) - 1;
  if (kind == 1 && i < batch.key_conditions().size()) {
    const WriteBatch::KeyCondition& condition = batch.key_conditions()[i];
    const int64_t state = IntegerAt(reply, 2);
    return absl::AbortedError(
        absl::StrCat("redis state store: ", what, " not applied: key ", Quoted(condition.key),
                     state == 0   ? " is absent, the write expected a value"
                     : state == 1 ? " exists, the write expected it absent"
                                  : " holds another value than the write expected"));
  }
  if (kind == 2 && i < batch.fence_conditions().size()) {
    const WriteBatch::FenceCondition& condition = batch.fence_conditions()[i];
    return absl::AbortedError(absl::StrCat(
        "redis state store: ", what, " not applied: lease ", Quoted(condition.lease),
        " was granted after fence ", condition.fence, " (now fence ", IntegerAt(reply, 2),
        ", owner \"", absl::CHexEscape(StringAt(reply, 3)), "\")"));
  }
  return absl::InternalError(absl::StrCat("redis state store: ", what, ": unexpected reply"));
}

absl::Status RedisStateStore::Write(const WriteBatch& batch) {
  if (batch.empty() && !batch.conditional()) return absl::OkStatus();
  const std::string what = DescribeBatch(batch);
  RWKV_ASSIGN_OR_RETURN(RedisConnectionPool::Handle handle, pool_.Acquire(what));
  RedisConnection& connection = *handle;
  std::vector<std::string> stored;
  std::vector<std::string> blobs;
  if (absl::Status status = WriteBlobs(connection, batch, stored, blobs, what); !status.ok()) {
    DropBlobs(connection, blobs);
    return status;
  }
  // Keeps every number argument alive while `args` views it.
  std::vector<std::string> numbers = {absl::StrCat(batch.key_conditions().size()),
                                      absl::StrCat(batch.fence_conditions().size()),
                                      absl::StrCat(batch.ops().size())};
  for (const WriteBatch::FenceCondition& condition : batch.fence_conditions()) {
    numbers.push_back(absl::StrCat(condition.fence));
  }
  for (const WriteBatch::Op& op : batch.ops()) {
    numbers.push_back(op.is_delete || op.expires_at == absl::InfiniteFuture()
                          ? std::string()
                          : absl::StrCat(absl::ToUnixMillis(op.expires_at)));
  }
  std::vector<absl::string_view> args = {options_.key_prefix, numbers[0]};
  for (const WriteBatch::KeyCondition& condition : batch.key_conditions()) {
    args.insert(args.end(), {condition.key, condition.value.has_value() ? "1" : "0",
                             condition.value.has_value() ? absl::string_view(*condition.value)
                                                         : absl::string_view()});
  }
  args.push_back(numbers[1]);
  size_t next = 3;
  for (const WriteBatch::FenceCondition& condition : batch.fence_conditions()) {
    args.insert(args.end(), {condition.lease, numbers[next++]});
  }
  args.push_back(numbers[2]);
  for (size_t i = 0; i < batch.ops().size(); ++i) {
    const WriteBatch::Op& op = batch.ops()[i];
    args.insert(args.end(), {op.is_delete ? "D" : "P", op.key, stored[i], numbers[next++]});
  }
  absl::StatusOr<RedisReply> reply = connection.Eval(redis_scripts::kWrite, args, what);
  if (!reply.ok()) {
    DropBlobs(connection, blobs);  // only when Redis answered, i.e. the script did not run
    return reply.status();
  }
  if ((*reply)->type != REDIS_REPLY_ARRAY || (*reply)->elements == 0) {
    return Unexpected(connection, what);
  }
  if (IntegerAt(**reply, 0) == 0) return absl::OkStatus();
  DropBlobs(connection, blobs);
  return Refused(batch, **reply, what);
}

absl::StatusOr<std::vector<KeyValue>> RedisStateStore::Scan(absl::string_view prefix,
                                                            absl::string_view start_after,
                                                            int limit) {
  if (limit <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("redis state store: Scan limit must be positive, got ", limit));
  }
  const std::string what = absl::StrCat("Scan ", Quoted(prefix));
  std::string min = prefix.empty() ? "-" : absl::StrCat("[", prefix);
  if (!start_after.empty() && start_after >= prefix) min = absl::StrCat("(", start_after);
  const std::string end = PrefixEnd(prefix);
  const std::string max = end.empty() ? "+" : absl::StrCat("(", end);
  const std::string count = absl::StrCat(limit);
  RWKV_ASSIGN_OR_RETURN(RedisConnectionPool::Handle connection, pool_.Acquire(what));
  RWKV_ASSIGN_OR_RETURN(
      RedisReply reply,
      connection->Eval(redis_scripts::kScan, {options_.key_prefix, min, max, count}, what));
  if (reply->type != REDIS_REPLY_ARRAY || reply->elements % 2 != 0) {
    return Unexpected(*connection, what);
  }
  std::vector<KeyValue> entries;
  entries.reserve(reply->elements / 2);
  for (size_t i = 0; i < reply->elements; i += 2) {
    entries.push_back({StringAt(*reply, i), StringAt(*reply, i + 1)});
  }
  return entries;
}

absl::StatusOr<int64_t> RedisStateStore::Count(absl::string_view prefix) {
  const std::string what = absl::StrCat("Count ", Quoted(prefix));
  const std::string min = prefix.empty() ? "-" : absl::StrCat("[", prefix);
  const std::string end = PrefixEnd(prefix);
  const std::string max = end.empty() ? "+" : absl::StrCat("(", end);
  const std::string index = absl::StrCat(options_.key_prefix, "index");
  RWKV_ASSIGN_OR_RETURN(RedisConnectionPool::Handle connection, pool_.Acquire(what));
  RWKV_ASSIGN_OR_RETURN(RedisReply reply,
                        connection->Command({"ZLEXCOUNT", index, min, max}, what));
  if (reply->type != REDIS_REPLY_INTEGER) return Unexpected(*connection, what);
  return static_cast<int64_t>(reply->integer);
}

absl::StatusOr<int64_t> RedisStateStore::AcquireLease(absl::string_view name,
                                                      absl::string_view owner, absl::Duration ttl) {
  const std::string what = absl::StrCat("AcquireLease ", Quoted(name));
  RWKV_ASSIGN_OR_RETURN(RedisConnectionPool::Handle connection, pool_.Acquire(what));
  RWKV_ASSIGN_OR_RETURN(RedisReply reply,
                        connection->Eval(redis_scripts::kAcquireLease,
                                         {LeaseKey(name), owner, Millis(ttl),
                                          Millis(std::max(options_.lease_retention, 2 * ttl))},
                                         what));
  if (reply->type != REDIS_REPLY_ARRAY || reply->elements < 2) {
    return Unexpected(*connection, what);
  }
  if (IntegerAt(*reply, 0) == 1) return IntegerAt(*reply, 1);
  return absl::AbortedError(absl::StrCat("redis state store: lease ", Quoted(name),
                                         " is held by \"", absl::CHexEscape(StringAt(*reply, 1)),
                                         "\" for another ", IntegerAt(*reply, 2), " ms"));
}

absl::Status RedisStateStore::RenewLease(absl::string_view name, int64_t fence,
                                         absl::Duration ttl) {
  const std::string what = absl::StrCat("RenewLease ", Quoted(name));
  const std::string fence_text = absl::StrCat(fence);
  RWKV_ASSIGN_OR_RETURN(RedisConnectionPool::Handle connection, pool_.Acquire(what));
  RWKV_ASSIGN_OR_RETURN(RedisReply reply,
                        connection->Eval(redis_scripts::kRenewLease,
                                         {LeaseKey(name), fence_text, Millis(ttl),
                                          Millis(std::max(options_.lease_retention, 2 * ttl))},
                                         what));
  if (reply->type != REDIS_REPLY_ARRAY || reply->elements < 1) {
    return Unexpected(*connection, what);
  }
  if (IntegerAt(*reply, 0) == 1) return absl::OkStatus();
  if (IntegerAt(*reply, 0) == 2) {
    return absl::AbortedError(absl::StrCat("redis state store: lease ", Quoted(name),
                                           " with fence ", fence, " was released"));
  }
  return absl::AbortedError(absl::StrCat("redis state store: lease ", Quoted(name), " with fence ",
                                         fence, " was taken over (now fence ", IntegerAt(*reply, 1),
                                         ", owner \"", absl::CHexEscape(StringAt(*reply, 2)),
                                         "\")"));
}

absl::Status RedisStateStore::ReleaseLease(absl::string_view name, int64_t fence) {
  const std::string what = absl::StrCat("ReleaseLease ", Quoted(name));
  const std::string fence_text = absl::StrCat(fence);
  RWKV_ASSIGN_OR_RETURN(RedisConnectionPool::Handle connection, pool_.Acquire(what));
  return connection->Eval(redis_scripts::kReleaseLease, {LeaseKey(name), fence_text}, what)
      .status();
}

}  // namespace rwkv::server
