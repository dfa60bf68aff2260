// RedisConnection: one synchronous hiredis connection to the Redis of a state store, with every
// hiredis error and Redis error reply converted to an absl::Status in one place.
//
//   RWKV_ASSIGN_OR_RETURN(std::unique_ptr<RedisConnection> connection,
//                         RedisConnection::Open(options));     // connect, AUTH, SELECT
//   RWKV_ASSIGN_OR_RETURN(RedisReply reply, connection->Command({"GET", key}, "Get \"k\""));
//
// Statuses name the backend, the address and the operation: I/O errors, refused connections and
// timeouts are UNAVAILABLE, as are LOADING, READONLY, MASTERDOWN, BUSY and a refused or missing
// password (the password itself is never in a message); OOM is RESOURCE_EXHAUSTED; a script's
// "RWKVDATALOSS" error is DATA_LOSS; any other error reply is INTERNAL.
//
// Not thread-safe: one caller at a time (RedisConnectionPool hands it out). After an I/O error
// the connection is broken() (a reply may still be on its way) and must be discarded.
#ifndef RWKV_SERVER_STORE_REDIS_CONNECTION_H_
#define RWKV_SERVER_STORE_REDIS_CONNECTION_H_

#include <hiredis/hiredis.h>

#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "server/store/redis_uri.h"

namespace rwkv::server {

struct RedisReplyDeleter {
  void operator()(redisReply* reply) const {
    if (reply != nullptr) freeReplyObject(reply);
  }
};
using RedisReply = std::unique_ptr<redisReply, RedisReplyDeleter>;

// A Lua script run by EVALSHA (loaded into Redis on first use per connection, and again after
// NOSCRIPT, e.g. when Redis restarted).
struct RedisScript {
  const char* name;  // for messages
  const char* text;
};

struct RedisConnectionOptions {
  RedisUri uri;
  std::string password;  // "" = no AUTH unless uri.user is set
  absl::Duration connect_timeout = absl::Seconds(2);
  absl::Duration command_timeout = absl::Seconds(10);
};

class RedisConnection {
 public:
  // Connects within connect_timeout, then AUTH (when a user or password is set) and SELECT.
  static absl::StatusOr<std::unique_ptr<RedisConnection>> Open(
      const RedisConnectionOptions& options);
  ~RedisConnection();
  RedisConnection(const RedisConnection&) = delete;
  RedisConnection& operator=(const RedisConnection&) = delete;

  // Sends one command (arguments are binary-safe) and returns its reply; an error reply is
  // returned as its status. `what` names the operation and key in messages.
  absl::StatusOr<RedisReply> Command(const std::vector<absl::string_view>& args,
                                     absl::string_view what);
  absl::StatusOr<RedisReply> Command(std::initializer_list<absl::string_view> args,
                                     absl::string_view what) {
    return Command(std::vector<absl::string_view>(args), what);
  }
  // EVALSHA `script` with no KEYS and `args` as ARGV.
  absl::StatusOr<RedisReply> Eval(const RedisScript& script,
                                  const std::vector<absl::string_view>& args,
                                  absl::string_view what);

  // An I/O error happened: the connection's state is unknown, it must not be used again.
  bool broken() const { return context_->err != 0; }
  // Whether the peer closed (or wrote to) this idle connection, e.g. because Redis restarted:
  // checked before a pooled connection is reused, so that no command is sent into a dead socket.
  bool PeerClosed() const;

  // "redis state store at HOST:PORT: <what>: <problem>".
  std::string Message(absl::string_view what, absl::string_view problem) const;

 private:
  RedisConnection(redisContext* context, const RedisConnectionOptions& options)
      : context_(context), options_(options) {}
  // The reply, error replies included; a status only for I/O errors.
  absl::StatusOr<RedisReply> Send(const std::vector<absl::string_view>& args,
                                  absl::string_view what);
  absl::Status IoError(absl::string_view what) const;
  absl::Status ErrorReply(absl::string_view error, absl::string_view what) const;
  absl::StatusOr<std::string> Load(const RedisScript& script, absl::string_view what);
  absl::Status Handshake();

  redisContext* context_;
  RedisConnectionOptions options_;
  absl::flat_hash_map<const RedisScript*, std::string> shas_;
};

}  // namespace rwkv::server

#endif  // RWKV_SERVER_STORE_REDIS_CONNECTION_H_
