// SoakWorker: one of the kill soak's concurrent users. It owns one session at a time and, while
// the server runs, sends it random greedy turns (random prompts and lengths, CANCEL_POLICY_KEEP
// or DISCARD, some cancelled mid-stream, some given short deadlines), checking every Done. After
// each restart of the server it checks its session: the stored version and token count against
// what it knows (a turn whose outcome it does not know is resolved first), then a continuation:
// a greedy turn on the resumed session must equal a stateless greedy run over the session's
// whole token history plus the same prompt.
//
// Thread-compatible: each worker runs on one thread at a time (the soak's epochs hand it from
// one thread to the next).
#ifndef RWKV_TESTS_SOAK_SOAK_WORKER_H_
#define RWKV_TESTS_SOAK_SOAK_WORKER_H_

#include <atomic>
#include <cstdint>
#include <random>
#include <string>

#include "absl/status/status.h"
#include "client/rwkv_client.h"
#include "tests/soak/soak_calls.h"
#include "tests/soak/soak_stats.h"
#include "tests/soak/tracked_session.h"

namespace rwkv::soak {

struct WorkerOptions {
  int32_t max_prompt_tokens = 24;
  int32_t max_new_tokens = 48;
  double keep_probability = 0.5;       // CANCEL_POLICY_KEEP, else DISCARD
  double cancel_probability = 0.2;     // cancelled after a random number of tokens
  double deadline_probability = 0.15;  // a random client deadline up to max_deadline
  absl::Duration max_deadline = absl::Milliseconds(200);
  // A session whose history passes this is deleted and replaced (bounds the checks' prefill).
  int64_t max_history_tokens = 3000;
};

class SoakWorker {
 public:
  SoakWorker(int index, const WorkerOptions& options, uint64_t seed, SoakStats& stats);

  // After a (re)start, with no turn running: resolves, checks and continues the session.
  void CheckAfterRestart(client::RwkvClient& client);
  // Random turns until `killing` is set (a SIGKILL of the server is about to be sent).
  void RunUntilKilled(client::RwkvClient& client, const std::atomic<bool>& killing);

 private:
  // Makes the session's state known again after a turn without a Done on a running server.
  // False when the server went away first (the turn stays pending for the next restart).
  bool SettleLive(client::RwkvClient& client, const std::atomic<bool>& killing);
  // Applies the stored session to the tracking; a failed check replaces the session. False when
  // a call failed (then counted as a failure unless `killing` is set; null: never set).
  bool ApplyStored(client::RwkvClient& client, const StoredSession& stored,
                   const std::atomic<bool>* killing);
  void CheckContinuation(client::RwkvClient& client);
  void RunRandomTurn(client::RwkvClient& client, const std::atomic<bool>& killing);
  // Deletes the session and starts a new one (history limit, or a session that failed a check).
  void Retire(client::RwkvClient& client, const std::atomic<bool>* killing);
  void NewSession();

  TurnPlan RandomPlan();
  Interruption RandomInterruption(const TurnPlan& plan);
  // Records a call's unexpected status; DATA_LOSS is counted apart.
  void FailCall(const std::string& what, const absl::Status& status);
  // The same, unless the server is being killed (`killing` set; null: never) and the status is
  // not DATA_LOSS.
  void CallFailed(const std::string& what, const absl::Status& status,
                  const std::atomic<bool>* killing);

  const int index_;
  const WorkerOptions options_;
  SoakStats& stats_;
  std::mt19937_64 random_;
  int generation_ = 0;  // sessions this worker has had
  int probes_ = 0;
  // What broke the pending turn (counted when a DISCARD turn turns out stored whole).
  absl::StatusCode pending_break_ = absl::StatusCode::kOk;
  TrackedSession session_;
};

}  // namespace rwkv::soak

#endif  // RWKV_TESTS_SOAK_SOAK_WORKER_H_
