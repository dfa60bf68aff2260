// FakeClock: a Clock that moves only when the test says so.
//
//   FakeClock clock(absl::FromUnixSeconds(1'700'000'000));
//   SessionManager::Options options;
//   options.clock = &clock;
//   clock.Advance(absl::Hours(2));   // every reader sees the new time at once
//
// Thread-safe: the code under test may read it from its own threads.
#ifndef RWKV_TESTS_FAKES_FAKE_CLOCK_H_
#define RWKV_TESTS_FAKES_FAKE_CLOCK_H_

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/clock.h"

namespace rwkv::testing {

class FakeClock final : public Clock {
 public:
  explicit FakeClock(absl::Time start = absl::FromUnixSeconds(1'700'000'000)) : now_(start) {}

  absl::Time Now() const override {
    absl::MutexLock lock(&mu_);
    return now_;
  }
  void Set(absl::Time now) {
    absl::MutexLock lock(&mu_);
    now_ = now;
  }
  void Advance(absl::Duration by) {
    absl::MutexLock lock(&mu_);
    now_ += by;
  }

 private:
  mutable absl::Mutex mu_;
  absl::Time now_ ABSL_GUARDED_BY(mu_);
};

}  // namespace rwkv::testing

#endif  // RWKV_TESTS_FAKES_FAKE_CLOCK_H_
