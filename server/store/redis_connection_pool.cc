#include "server/store/redis_connection_pool.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace rwkv::server {

RedisConnectionPool::RedisConnectionPool(RedisConnectionOptions options, int connections)
    : options_(std::move(options)), capacity_(std::max(connections, 1)) {}

absl::StatusOr<RedisConnectionPool::Handle> RedisConnectionPool::Acquire(absl::string_view what) {
  const absl::Time deadline = absl::Now() + options_.command_timeout;
  std::unique_ptr<RedisConnection> connection;
  {
    absl::MutexLock lock(&mu_);
    while (idle_.empty() && open_ >= capacity_) {
      if (freed_.WaitWithDeadline(&mu_, deadline) && idle_.empty() && open_ >= capacity_) {
        return absl::UnavailableError(absl::StrCat(
            "redis state store at ", options_.uri.Address(), ": ", what, ": all ", capacity_,
            " connections busy for ", absl::FormatDuration(options_.command_timeout)));
      }
    }
    if (!idle_.empty()) {
      connection = std::move(idle_.back());
      idle_.pop_back();
    } else {
      ++open_;  // a slot for the connection made below, outside the lock
    }
  }
  if (connection != nullptr) {
    if (!connection->PeerClosed()) return Handle(this, std::move(connection));
    connection.reset();  // dead while idle: make a fresh one in its slot
  }
  absl::StatusOr<std::unique_ptr<RedisConnection>> fresh = RedisConnection::Open(options_);
  if (!fresh.ok()) {
    Forget();
    return fresh.status();
  }
  return Handle(this, *std::move(fresh));
}

void RedisConnectionPool::Return(std::unique_ptr<RedisConnection> connection) {
  if (connection->broken()) {
    connection.reset();  // outside the lock: closing a socket may take a moment
    Forget();
    return;
  }
  absl::MutexLock lock(&mu_);
  idle_.push_back(std::move(connection));
  freed_.Signal();
}

void RedisConnectionPool::Forget() {
  absl::MutexLock lock(&mu_);
  --open_;
  freed_.Signal();
}

int RedisConnectionPool::open() const {
  absl::MutexLock lock(&mu_);
  return open_;
}

}  // namespace rwkv::server
