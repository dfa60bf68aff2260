#include "server/store/state_store.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "server/store/memory_state_store.h"
#include "server/store/redis_state_store.h"
#include "server/store/redis_uri.h"
#include "server/store/rocksdb_state_store.h"

namespace rwkv::server {

absl::StatusOr<std::unique_ptr<StateStore>> OpenStateStore(absl::string_view uri) {
  return OpenStateStore(uri, StoreOptions());
}

absl::StatusOr<std::unique_ptr<StateStore>> OpenStateStore(absl::string_view uri,
                                                           const StoreOptions& store_options) {
  constexpr absl::string_view kRocksDb = "rocksdb:";
  if (uri == "memory:") return std::make_unique<MemoryStateStore>();
  if (absl::StartsWith(uri, kRocksDb)) {
    RocksDbStateStore::Options options;
    options.path = std::string(uri.substr(kRocksDb.size()));
    options.sync_writes = store_options.sync_writes;
    if (options.path.empty()) {
      return absl::InvalidArgumentError(
          "state store \"rocksdb:\" needs a directory: use rocksdb:PATH");
    }
    auto store = RocksDbStateStore::Create(options);
    if (!store.ok()) return store.status();
    return std::unique_ptr<StateStore>(std::move(store).value());
  }
  if (absl::StartsWith(uri, kRedisScheme)) {
    absl::StatusOr<RedisUri> redis_uri = ParseRedisUri(uri);
    if (!redis_uri.ok()) return redis_uri.status();
    RedisStateStore::Options options;
    options.uri = *std::move(redis_uri);
    options.password = store_options.password;
    options.connections = store_options.connections;
    options.connect_timeout = store_options.connect_timeout;
    options.command_timeout = store_options.command_timeout;
    auto store = RedisStateStore::Create(options);
    if (!store.ok()) return store.status();
    return std::unique_ptr<StateStore>(std::move(store).value());
  }
  // Never echo user info (it may hold a password).
  return absl::InvalidArgumentError(absl::StrCat(
      "unknown state store \"", absl::StrContains(uri, '@') ? "(with user info, not shown)" : uri,
      "\"; accepted: \"memory:\", \"rocksdb:PATH\", \"redis://[USER@]HOST:PORT[/DB]\""));
}

absl::Status ProbeStateStore(StateStore& store) {
  absl::StatusOr<std::string> value = store.Get(absl::StrCat(kHealthKeyPrefix, "probe"));
  if (value.ok() || absl::IsNotFound(value.status())) return absl::OkStatus();
  return value.status();
}

}  // namespace rwkv::server
