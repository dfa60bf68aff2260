// FakeEngine: an Engine whose output a test scripts, for scheduler tests that need to say
// exactly what each sequence emits, see every Forward the scheduler made, and inject failures.
//
//   FakeEngine engine;
//   engine.Script(Bytes("A"), Bytes("xyz"));   // a state whose history is "A" emits x, y, z
//   engine.FailForwardAt(2, absl::InternalError("device lost"));
//   engine.Hold();                             // Forward waits at its start ...
//   engine.AllowCalls(1);                      // ... until let through, one call at a time
//   Scheduler scheduler(&engine, &tokenizer, options);
//   ...
//   EXPECT_EQ(FakeEngine::History(result.state), Bytes("Axyz"));   // what the state was fed
//   std::vector<FakeEngine::Call> calls = engine.calls();          // batching order
//
// The model is a real RWKV-7 shape with the byte vocabulary (256 tokens, as ByteTokenizer), so
// StateFloats, InitialState and ResetState behave as for a real engine. The state records what
// it has been fed: float 0 counts the tokens and floats 1, 2, ... hold them in order (at most
// kHistoryCapacity; Forward fails with OUT_OF_RANGE beyond that).
//
// Logits: every row asked for is all zeros except one 1.0, at the token the script picks for the
// history fed so far (so greedy sampling takes it). A Script whose prefix and continuation-so-far
// match the history wins; otherwise the policy decides (by default 'a' + history length % 26).
//
// Forward checks its batch with ValidateBatch, and on any error (validation or injected) modifies
// no state. Every call is recorded, failed ones included.
//
// Threading: Forward from one thread at a time (the scheduler's); everything else from any thread.
#ifndef RWKV_TESTS_FAKES_FAKE_ENGINE_H_
#define RWKV_TESTS_FAKES_FAKE_ENGINE_H_

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "engine/engine.h"

namespace rwkv::testing {

class FakeEngine final : public engine::Engine {
 public:
  // Given every token a state has been fed (oldest first), the token to put the highest logit on.
  using Policy = std::function<int32_t(absl::Span<const int32_t> history)>;

  // One sequence of one Forward call.
  struct Input {
    const float* state = nullptr;
    // The first token the state was ever fed: tests tell sequences apart by their prompts'
    // first tokens.
    int32_t first_token = -1;
    int64_t fed_before = 0;  // tokens the state held before this call
    std::vector<int32_t> tokens;
    engine::LogitsMode logits = engine::LogitsMode::kLast;
  };
  struct Call {
    int64_t index = 0;  // 0 for the engine's first Forward
    std::vector<Input> inputs;
    absl::Status status;  // what Forward returned
  };

  static constexpr int32_t kVocab = 256;
  static constexpr int64_t kHistoryCapacity = 4351;  // StateFloats() - 1

  FakeEngine();

  // Every token `state` has been fed, oldest first.
  static std::vector<int32_t> History(absl::Span<const float> state);

  // A state whose history is `prefix` + the first k tokens of `continuation` gets
  // continuation[k] next. Later scripts are tried first.
  void Script(std::vector<int32_t> prefix, std::vector<int32_t> continuation)
      ABSL_LOCKS_EXCLUDED(mu_);
  // Decides every history no script matches. Called on the Forward thread under the engine's
  // lock: it must not call back into the engine.
  void SetPolicy(Policy policy) ABSL_LOCKS_EXCLUDED(mu_);
  // Forward call number `index` (0-based, counting every call) returns `status`.
  void FailForwardAt(int64_t index, absl::Status status) ABSL_LOCKS_EXCLUDED(mu_);
  // The next Forward call returns `status`.
  void FailNextForward(absl::Status status) ABSL_LOCKS_EXCLUDED(mu_);
  // Runs at the start of every Forward, on its thread, before anything is checked (e.g. to
  // advance a FakeClock by a step's duration). Not under the engine's lock.
  void OnForward(std::function<void(int64_t index)> hook) ABSL_LOCKS_EXCLUDED(mu_);

  // Held, every Forward waits at its start (before the hook) until AllowCalls lets it through
  // or Release ends the hold: a request then stays running, its engine thread parked, as long
  // as the test wants. Release before the engine's users are destroyed.
  void Hold() ABSL_LOCKS_EXCLUDED(gate_mu_);
  void AllowCalls(int64_t count) ABSL_LOCKS_EXCLUDED(gate_mu_);
  void Release() ABSL_LOCKS_EXCLUDED(gate_mu_);
  // Waits until a Forward waits at the hold; false if `timeout` passed first.
  bool WaitUntilHeld(absl::Duration timeout) const ABSL_LOCKS_EXCLUDED(gate_mu_);

  // ParallelFor's tasks run on `threads` threads of their own (1, the default: in order on the
  // caller's), each taking every threads-th task from the last, so that tests see draws made
  // concurrently and out of order.
  void RunTasksOnThreads(int threads) ABSL_LOCKS_EXCLUDED(mu_);
  // The most tasks one ParallelFor call was given.
  int64_t most_parallel_tasks() const ABSL_LOCKS_EXCLUDED(mu_);

  std::vector<Call> calls() const ABSL_LOCKS_EXCLUDED(mu_);
  int64_t call_count() const ABSL_LOCKS_EXCLUDED(mu_);
  // Waits until `count` Forward calls have finished; false if `timeout` passed first.
  bool WaitForCalls(int64_t count, absl::Duration timeout) const ABSL_LOCKS_EXCLUDED(mu_);

  const engine::ModelConfig& config() const override { return config_; }
  const std::string& fingerprint() const override { return fingerprint_; }
  int64_t parameters() const override { return 0; }
  int threads() const override { return 1; }
  engine::Precision precision() const override { return engine::Precision::kF32; }
  std::string KernelSummary() const override { return "fake"; }
  int64_t MatrixBytesPerToken() const override { return 0; }
  int64_t MatrixFlopsPerToken() const override { return 0; }

  absl::StatusOr<engine::LogitsView> Forward(absl::Span<const engine::SequenceInput> batch) override
      ABSL_LOCKS_EXCLUDED(mu_);
  void ParallelFor(int64_t count, absl::FunctionRef<void(int64_t)> task) override
      ABSL_LOCKS_EXCLUDED(mu_);

 private:
  struct ScriptEntry {
    std::vector<int32_t> prefix;
    std::vector<int32_t> continuation;
  };

  // Waits while held, unless a call is allowed (taking it).
  void PassTheHold() ABSL_LOCKS_EXCLUDED(gate_mu_);
  // The failure injected for call `index`, if any (consumed).
  std::optional<absl::Status> TakeFailure(int64_t index) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status CheckCapacity(absl::Span<const engine::SequenceInput> batch) const;
  // Feeds `input` into its state, appending the logits rows it asks for.
  void Feed(const engine::SequenceInput& input) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  int32_t NextToken(absl::Span<const int32_t> history) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const engine::ModelConfig config_;
  const std::string fingerprint_ = "fa4e0e1191e00000";  // 16 hex digits, as real ones are

  mutable absl::Mutex mu_;
  std::vector<ScriptEntry> scripts_ ABSL_GUARDED_BY(mu_);
  Policy policy_ ABSL_GUARDED_BY(mu_);
  std::map<int64_t, absl::Status> failures_ ABSL_GUARDED_BY(mu_);
  std::optional<absl::Status> next_failure_ ABSL_GUARDED_BY(mu_);
  std::function<void(int64_t)> hook_ ABSL_GUARDED_BY(mu_);
  int task_threads_ ABSL_GUARDED_BY(mu_) = 1;
  int64_t most_parallel_tasks_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<Call> calls_ ABSL_GUARDED_BY(mu_);

  // The hold, apart from mu_ so that calls() and the rest answer while a Forward waits.
  mutable absl::Mutex gate_mu_;
  bool held_ ABSL_GUARDED_BY(gate_mu_) = false;
  int64_t allowed_ ABSL_GUARDED_BY(gate_mu_) = 0;
  int64_t waiting_ ABSL_GUARDED_BY(gate_mu_) = 0;

  // Forward's thread only: the rows of the last call, which its LogitsView points into.
  std::vector<float> logits_;
  std::vector<int64_t> first_row_;
  std::vector<const float*> scratch_;
  std::vector<int32_t> history_;
};

}  // namespace rwkv::testing

#endif  // RWKV_TESTS_FAKES_FAKE_ENGINE_H_
