// KillSoak: the kill soak's supervisor (issue 11, item 12). It runs the real rwkv-server on
// RocksDB (--commit-durability sync, in `data_dir`) as a child process, lets SoakWorkers drive
// their sessions against it, SIGKILLs it at a random moment, restarts it on the same data
// directory (a fresh port), and has every worker check its session after each restart. Now and
// then it also kills a server while it starts (model load, RocksDB recovery). Each stretch
// between two starts is an epoch:
//
//   start (maybe killed once during start-up first) -> every worker checks its session ->
//   random turns for a random time -> SIGKILL -> next epoch
//
// After `duration` a last epoch only checks, then stops the server with SIGTERM (a drain that
// must exit 0). A server that dies by itself, any DATA_LOSS and any failed check are failures.
//
//   SoakStats stats;
//   KillSoak(options, stats).Run();
//   std::cout << stats.Summary(seconds);
#ifndef RWKV_TESTS_SOAK_KILL_SOAK_H_
#define RWKV_TESTS_SOAK_KILL_SOAK_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "tests/server/e2e/server_process.h"
#include "tests/soak/soak_stats.h"
#include "tests/soak/soak_worker.h"

namespace rwkv::soak {

struct SoakOptions {
  absl::Duration duration = absl::Seconds(120);
  int workers = 16;  // concurrent sessions
  std::string model;
  std::string data_dir;
  std::vector<std::string> server_args;  // appended to the server's command line
  // A kill comes this long after every worker has checked its session.
  absl::Duration min_kill_after = absl::Milliseconds(500);
  absl::Duration max_kill_after = absl::Seconds(5);
  double startup_kill_probability = 0.2;
  absl::Duration max_startup_kill_after = absl::Milliseconds(300);
  uint64_t seed = 1;
  WorkerOptions worker;
};

class KillSoak {
 public:
  KillSoak(const SoakOptions& options, SoakStats& stats);

  // Runs the whole soak; the outcome is in the stats.
  void Run();

 private:
  // Starts the server; with startup_kill_probability, one start is killed while starting first.
  absl::StatusOr<std::unique_ptr<testing::ServerProcess>> StartServer();
  // One epoch; false when the soak cannot go on (the server did not start).
  bool RunEpoch(bool last);
  // Sets `killing` and SIGKILLs the server at a random moment of the epoch; a server that had
  // died by itself fails.
  void KillAtRandom(testing::ServerProcess& server, std::atomic<bool>& killing);
  absl::Duration Uniform(absl::Duration low, absl::Duration high);

  const SoakOptions options_;
  SoakStats& stats_;
  std::mt19937_64 random_;
  std::vector<std::unique_ptr<SoakWorker>> workers_;
  int starts_ = 0;
};

}  // namespace rwkv::soak

#endif  // RWKV_TESTS_SOAK_KILL_SOAK_H_
