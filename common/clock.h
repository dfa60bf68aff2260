// Clock: the one seam through which the server reads the time, so that tests can drive it.
//
//   Clock& clock = Clock::Real();          // production: absl::Now()
//   const absl::Time start = clock.Now();
//
// Tests pass a FakeClock (tests/fakes/fake_clock.h) that moves only when told. Only reading the
// time goes through here: waiting (condition variables with timeouts, sleeps) stays on the real
// clock, since a fake one could never wake a blocked thread.
//
// Thread-safe: Now() may be called from any thread.
#ifndef RWKV_COMMON_CLOCK_H_
#define RWKV_COMMON_CLOCK_H_

#include "absl/time/time.h"

namespace rwkv {

class Clock {
 public:
  virtual ~Clock() = default;
  virtual absl::Time Now() const = 0;

  // The process's real clock (absl::Now()); never destroyed.
  static Clock& Real();
};

}  // namespace rwkv

#endif  // RWKV_COMMON_CLOCK_H_
