// TestTurnSink: a TurnSink for tests of the TurnRunner. It collects the deltas and the result,
// can refuse deltas (not Ready) until resumed, and offers bounded waits that fail with a message
// instead of hanging.
//
//   TestTurnSink sink;
//   TurnRunner turn(services, &sink);
//   turn.Start(std::move(request));
//   absl::StatusOr<TurnResult> result = sink.WaitForResult();
//   ASSERT_TRUE(result.ok()) << result.status();   // DEADLINE_EXCEEDED: never finished
//
// A second OnFinished, or a delta after OnFinished, is a test failure (ADD_FAILURE).
//
// Threading: the TurnSink methods run on the runner's threads; the rest from any thread.
// Header-only, so that it needs no build target of its own.
#ifndef RWKV_TESTS_FAKES_TEST_TURN_SINK_H_
#define RWKV_TESTS_FAKES_TEST_TURN_SINK_H_

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "server/turns/turn_sink.h"
#include "tests/util/wait_for.h"

namespace rwkv::testing {

class TestTurnSink final : public server::TurnSink {
 public:
  bool Ready() const override ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    return !paused_;
  }
  void OnDelta(server::GenerationDelta delta) override ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    if (finished_calls_ > 0) ADD_FAILURE() << "OnDelta after OnFinished";
    text_ += delta.text;
    tokens_.insert(tokens_.end(), delta.token_ids.begin(), delta.token_ids.end());
    ++deltas_;
  }
  void OnFinished(server::TurnResult result) override ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    if (++finished_calls_ > 1) {
      ADD_FAILURE() << "OnFinished called " << finished_calls_ << " times";
      return;
    }
    result_ = std::move(result);
  }

  // Not Ready until Resume(); the caller then wakes the turn (TurnRunner::Wake).
  void Pause() ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    paused_ = true;
  }
  void Resume() ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    paused_ = false;
  }

  // The result once OnFinished has been called; DEADLINE_EXCEEDED if not within `timeout`.
  absl::StatusOr<server::TurnResult> WaitForResult(absl::Duration timeout = kWaitLimit) const
      ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    auto done = [this]() {
      mu_.AssertReaderHeld();
      return result_.has_value();
    };
    if (!mu_.AwaitWithTimeout(absl::Condition(&done), timeout)) {
      return absl::DeadlineExceededError(
          absl::StrCat("the turn never finished (", deltas_, " deltas: \"", text_, "\")"));
    }
    return *result_;
  }
  // Waits until at least `count` deltas have arrived; false if `timeout` passed first.
  bool WaitForDeltas(int count, absl::Duration timeout = kWaitLimit) const
      ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    auto arrived = [this, count]() {
      mu_.AssertReaderHeld();
      return deltas_ >= count;
    };
    return mu_.AwaitWithTimeout(absl::Condition(&arrived), timeout);
  }

  std::string text() const ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    return text_;
  }
  std::vector<int32_t> tokens() const ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    return tokens_;
  }
  int deltas() const ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    return deltas_;
  }

 private:
  mutable absl::Mutex mu_;
  bool paused_ ABSL_GUARDED_BY(mu_) = false;
  std::string text_ ABSL_GUARDED_BY(mu_);
  std::vector<int32_t> tokens_ ABSL_GUARDED_BY(mu_);
  int deltas_ ABSL_GUARDED_BY(mu_) = 0;
  int finished_calls_ ABSL_GUARDED_BY(mu_) = 0;
  std::optional<server::TurnResult> result_ ABSL_GUARDED_BY(mu_);
};

}  // namespace rwkv::testing

#endif  // RWKV_TESTS_FAKES_TEST_TURN_SINK_H_
