// WaitFor: a bounded poll for tests that wait on something they cannot be notified of (another
// process, a metric), so that a test fails with a message instead of hanging.
//
//   ASSERT_TRUE(WaitFor(kWaitLimit, [&] { return Metrics().find("waiting 1") != npos; }))
//       << "the server never reported the queued request";
//
// The limit is a hang guard, not a timing assertion: make it generous.
#ifndef RWKV_TESTS_UTIL_WAIT_FOR_H_
#define RWKV_TESTS_UTIL_WAIT_FOR_H_

#include <functional>

#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace rwkv::testing {

// A generous bound for waits on a server or a scheduler.
inline constexpr absl::Duration kWaitLimit = absl::Seconds(120);

// Calls `done` every `poll` until it returns true (true) or `limit` has passed (false).
inline bool WaitFor(absl::Duration limit, const std::function<bool()>& done,
                    absl::Duration poll = absl::Milliseconds(10)) {
  const absl::Time deadline = absl::Now() + limit;
  while (!done()) {
    if (absl::Now() >= deadline) return false;
    absl::SleepFor(poll);
  }
  return true;
}

}  // namespace rwkv::testing

#endif  // RWKV_TESTS_UTIL_WAIT_FOR_H_
