// RedisServer: a real redis-server (Debian's, /usr/bin/redis-server) for tests, on a free port of
// 127.0.0.1, with its data in a temporary directory and the AOF synced on every write.
//
//   absl::StatusOr<std::unique_ptr<RedisServer>> redis = RedisServer::Start();
//   ASSERT_TRUE(redis.ok()) << redis.status();
//   auto store = OpenStateStore((*redis)->uri());
//   (*redis)->Kill();                        // SIGKILL: what it acknowledged is in its AOF
//   ASSERT_TRUE((*redis)->Restart().ok());   // same port and directory: reloads the AOF
//   EXPECT_EQ((*redis)->Command({"DBSIZE"})->integer, 3);
//
// The configuration (password included) is in a file, not on the command line. The server dies
// with the thread that started it (PR_SET_PDEATHSIG), so a crashed test leaves none behind:
// start it from the test's own thread. The destructor stops it (SIGTERM, then SIGKILL) by PID.
#ifndef RWKV_TESTS_UTIL_REDIS_SERVER_H_
#define RWKV_TESTS_UTIL_REDIS_SERVER_H_

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "tests/util/scoped_temp_dir.h"

namespace rwkv::testing {

// One reply of RedisServer::Command.
struct RedisValue {
  enum class Type { kNil, kString, kInteger, kArray, kStatus };
  Type type = Type::kNil;
  std::string text;                  // kString, kStatus
  long long integer = 0;             // kInteger
  std::vector<RedisValue> elements;  // kArray
};

class RedisServer {
 public:
  struct Options {
    std::string password;  // requirepass; "" = none
  };

  static absl::StatusOr<std::unique_ptr<RedisServer>> Start(const Options& options);
  static absl::StatusOr<std::unique_ptr<RedisServer>> Start() { return Start(Options()); }
  ~RedisServer();
  RedisServer(const RedisServer&) = delete;
  RedisServer& operator=(const RedisServer&) = delete;

  int port() const { return port_; }
  pid_t pid() const { return pid_; }  // -1 while stopped
  // "redis://127.0.0.1:PORT" (and "/DB" when db is not 0).
  std::string uri(int db = 0) const;

  // SIGKILL and wait: nothing is flushed beyond what the AOF already holds.
  void Kill();
  // SIGTERM and wait (SIGKILL after 20 s).
  void Stop();
  // Starts it again on the same port and directory (it reloads its AOF) after Kill or Stop, and
  // waits until it answers.
  absl::Status Restart();
  // SIGSTOP / SIGCONT: a server that accepts connections but never answers.
  void Pause();
  void Resume();

  // Runs one command on a fresh connection (AUTH first when a password is set); an error reply
  // is an error status with its text.
  absl::StatusOr<RedisValue> Command(const std::vector<std::string>& args) const;
  // What the server logged so far.
  std::string Log() const;

 private:
  RedisServer() = default;
  absl::Status Launch();
  void Signal(int signal, absl::Duration wait);

  Options options_;
  ScopedTempDir dir_;
  int port_ = 0;
  pid_t pid_ = -1;
  bool paused_ = false;
};

}  // namespace rwkv::testing

#endif  // RWKV_TESTS_UTIL_REDIS_SERVER_H_
