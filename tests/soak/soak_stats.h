// SoakStats: the kill soak's counters and failed checks, shared by its threads, and the summary
// table printed at the end.
#ifndef RWKV_TESTS_SOAK_SOAK_STATS_H_
#define RWKV_TESTS_SOAK_SOAK_STATS_H_

#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace rwkv::soak {

struct SoakCounters {
  std::atomic<int64_t> turns_started{0};
  std::atomic<int64_t> turns_committed{0};  // Done received
  std::atomic<int64_t> turns_cancelled{0};  // the driver cancelled mid-stream
  std::atomic<int64_t> turns_deadline{0};   // the client deadline passed
  std::atomic<int64_t> turns_killed{0};     // broken by a SIGKILL of the server
  std::atomic<int64_t> kills{0};            // while serving
  std::atomic<int64_t> startup_kills{0};    // while starting (RocksDB recovery, model load)
  std::atomic<int64_t> restarts{0};
  std::atomic<int64_t> store_checks{0};  // a session's stored version and count checked
  std::atomic<int64_t> continuation_checks{0};
  std::atomic<int64_t> reference_tokens{0};  // tokens compared in continuation checks
  std::atomic<int64_t> pending_resolved{0};
  std::atomic<int64_t> pending_committed{0};  // ... found in the store
  std::atomic<int64_t> partial_prompts_kept{0};
  std::atomic<int64_t> discard_turns_committed{0};
  std::atomic<int64_t> discard_committed_after_cancel{0};  // ... of which the client cancelled
  std::atomic<int64_t> discard_committed_after_deadline{0};
  std::atomic<int64_t> tokens_reconstructed{0};
  std::atomic<int64_t> sessions_retired{0};
  std::atomic<int64_t> data_loss{0};  // calls that returned DATA_LOSS
};

class SoakStats {
 public:
  SoakCounters counters;

  // Records a failed check (printed, and the soak fails).
  void Fail(const std::string& what) ABSL_LOCKS_EXCLUDED(mu_);
  int64_t failures() const ABSL_LOCKS_EXCLUDED(mu_);
  // The summary table and the first failures.
  std::string Summary(double seconds) const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  static constexpr size_t kFailuresKept = 50;

  mutable absl::Mutex mu_;
  int64_t failures_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<std::string> first_failures_ ABSL_GUARDED_BY(mu_);
};

}  // namespace rwkv::soak

#endif  // RWKV_TESTS_SOAK_SOAK_STATS_H_
