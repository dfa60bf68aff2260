// RedisConnectionPool: up to N RedisConnections shared by the threads of one RedisStateStore.
//
//   RWKV_ASSIGN_OR_RETURN(RedisConnectionPool::Handle connection, pool.Acquire("Get \"k\""));
//   RWKV_ASSIGN_OR_RETURN(RedisReply reply, connection->Command({"GET", key}, "Get \"k\""));
//   // the Handle goes back to the pool when destroyed (or is discarded if it broke)
//
// Connections are made lazily, when a caller finds none idle and fewer than N open. A caller
// waits for a free one at most the command timeout, then gets UNAVAILABLE ("all N connections
// busy"). A connection that saw an I/O error, or whose peer closed it while idle (Redis
// restarted), is discarded and a fresh one made next time: the store recovers by itself when
// Redis comes back, without a failed command per stale connection.
//
// Thread-safe.
#ifndef RWKV_SERVER_STORE_REDIS_CONNECTION_POOL_H_
#define RWKV_SERVER_STORE_REDIS_CONNECTION_POOL_H_

#include <memory>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "server/store/redis_connection.h"

namespace rwkv::server {

class RedisConnectionPool {
 public:
  // A connection lent to one caller; returned to the pool (or discarded) when destroyed.
  class Handle {
   public:
    Handle(Handle&& other) noexcept
        : pool_(other.pool_), connection_(std::move(other.connection_)) {}
    Handle& operator=(Handle&&) = delete;
    ~Handle() {
      if (connection_ != nullptr) pool_->Return(std::move(connection_));
    }
    RedisConnection* operator->() const { return connection_.get(); }
    RedisConnection& operator*() const { return *connection_; }

   private:
    friend class RedisConnectionPool;
    Handle(RedisConnectionPool* pool, std::unique_ptr<RedisConnection> connection)
        : pool_(pool), connection_(std::move(connection)) {}
    RedisConnectionPool* pool_;
    std::unique_ptr<RedisConnection> connection_;
  };

  // `connections` >= 1.
  RedisConnectionPool(RedisConnectionOptions options, int connections);

  // A connection, idle or new; UNAVAILABLE when none frees up within the command timeout or a
  // new one cannot connect. `what` names the operation in messages.
  absl::StatusOr<Handle> Acquire(absl::string_view what) ABSL_LOCKS_EXCLUDED(mu_);

  // Connections open now (idle and lent), for tests.
  int open() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  void Return(std::unique_ptr<RedisConnection> connection) ABSL_LOCKS_EXCLUDED(mu_);
  // Gives up a slot reserved for a connection that does not exist (any more).
  void Forget() ABSL_LOCKS_EXCLUDED(mu_);

  const RedisConnectionOptions options_;
  const int capacity_;
  mutable absl::Mutex mu_;
  absl::CondVar freed_;  // signalled when a connection goes idle or a slot frees
  std::vector<std::unique_ptr<RedisConnection>> idle_ ABSL_GUARDED_BY(mu_);
  // Connections idle, lent, or being made: never above capacity_.
  int open_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace rwkv::server

#endif  // RWKV_SERVER_STORE_REDIS_CONNECTION_POOL_H_
