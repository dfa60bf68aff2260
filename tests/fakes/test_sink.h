// TestSink: a GenerationSink for tests. It collects the deltas and the result, can be paused
// (not Ready) and resumed (which wakes the scheduler), can be cancelled, and offers bounded
// waits that fail with a message instead of hanging.
//
//   TestSink sink(&scheduler);
//   ASSERT_TRUE(scheduler.Submit(std::move(request), &sink).ok());
//   absl::StatusOr<GenerationResult> result = sink.WaitForResult();
//   ASSERT_TRUE(result.ok()) << result.status();      // DEADLINE_EXCEEDED: never finished
//   EXPECT_EQ(result->finish_reason, FinishReason::kLength);
//
// The sink checks the scheduler's contract as it goes: a second OnFinished, or a delta after
// OnFinished, is a test failure (ADD_FAILURE).
//
// Threading: the GenerationSink methods run on the scheduler's thread; the rest from any thread.
#ifndef RWKV_TESTS_FAKES_TEST_SINK_H_
#define RWKV_TESTS_FAKES_TEST_SINK_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/scheduler/generation.h"
#include "server/scheduler/scheduler.h"
#include "tests/util/wait_for.h"

namespace rwkv::testing {

class TestSink final : public server::GenerationSink {
 public:
  // `scheduler` (may be null) is woken by Resume(); it must outlive the sink's use.
  explicit TestSink(server::Scheduler* scheduler = nullptr) : scheduler_(scheduler) {}

  bool Ready() const override ABSL_LOCKS_EXCLUDED(mu_);
  bool Cancelled() const override ABSL_LOCKS_EXCLUDED(mu_);
  void OnDelta(server::GenerationDelta delta) override ABSL_LOCKS_EXCLUDED(mu_);
  void OnFinished(server::GenerationResult result) override ABSL_LOCKS_EXCLUDED(mu_);

  // Not Ready until Resume(), which also wakes the scheduler.
  void Pause() ABSL_LOCKS_EXCLUDED(mu_);
  void Resume() ABSL_LOCKS_EXCLUDED(mu_);
  void Cancel() ABSL_LOCKS_EXCLUDED(mu_);

  // The result, once OnFinished has been called; DEADLINE_EXCEEDED (saying how far the stream
  // got) if it has not been within `timeout`.
  absl::StatusOr<server::GenerationResult> WaitForResult(absl::Duration timeout = kWaitLimit) const
      ABSL_LOCKS_EXCLUDED(mu_);
  // Waits until at least `count` deltas have arrived; false if `timeout` passed first.
  bool WaitForDeltas(int count, absl::Duration timeout = kWaitLimit) const ABSL_LOCKS_EXCLUDED(mu_);

  bool finished() const ABSL_LOCKS_EXCLUDED(mu_);
  int finished_calls() const ABSL_LOCKS_EXCLUDED(mu_);  // OnFinished calls so far (should be <= 1)
  int deltas() const ABSL_LOCKS_EXCLUDED(mu_);
  std::string text() const ABSL_LOCKS_EXCLUDED(mu_);
  std::vector<int32_t> tokens() const ABSL_LOCKS_EXCLUDED(mu_);
  std::vector<std::string> delta_texts() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  server::Scheduler* const scheduler_;
  mutable absl::Mutex mu_;
  bool paused_ ABSL_GUARDED_BY(mu_) = false;
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::string> delta_texts_ ABSL_GUARDED_BY(mu_);
  std::vector<int32_t> tokens_ ABSL_GUARDED_BY(mu_);
  int finished_calls_ ABSL_GUARDED_BY(mu_) = 0;
  std::optional<server::GenerationResult> result_ ABSL_GUARDED_BY(mu_);
};

}  // namespace rwkv::testing

#endif  // RWKV_TESTS_FAKES_TEST_SINK_H_
