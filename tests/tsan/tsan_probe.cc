// tsan_probe: small two-thread programs that show whether the TSan build sees races and locks
// (tests/tsan/tsan_setup_test.cc runs it). Each mode has two threads add to one plain counter:
//
//   tsan_probe unlocked     no synchronization: TSan must report a data race
//   tsan_probe absl-mutex   under absl::MutexLock
//   tsan_probe absl-await   handed over with absl::Mutex::Await and absl::CondVar
//   tsan_probe notification handed over with absl::Notification
//   tsan_probe gpr-mutex    under gRPC's gpr_mu (absl::Mutex inside libgpr)
//
// The locked modes must be silent: with Debian's uninstrumented Abseil they are not, as TSan
// cannot see the locks, which is what scripts/tsan-abseil.sh is for.
#include <grpc/support/sync.h>

#include <cstdio>
#include <cstring>
#include <functional>
#include <thread>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"

namespace {

constexpr int kIterations = 1000;

// Runs `body` on two threads at once and returns when both are done.
void OnTwoThreads(const std::function<void(int)>& body) {
  std::thread first(body, 0);
  std::thread second(body, 1);
  first.join();
  second.join();
}

// Not inlined, so that a report names it.
__attribute__((noinline)) void RacyIncrement(long* counter) { ++*counter; }

long Unlocked() {
  long counter = 0;
  OnTwoThreads([&](int) {
    for (int i = 0; i < kIterations; ++i) RacyIncrement(&counter);
  });
  return counter;
}

long AbslMutex() {
  absl::Mutex mu;
  long counter = 0;
  OnTwoThreads([&](int) {
    for (int i = 0; i < kIterations; ++i) {
      absl::MutexLock lock(&mu);
      ++counter;
    }
  });
  return counter;
}

// Thread 0 writes, then thread 1 reads and writes, in turns: Await on one side, CondVar on the
// other, so both of absl's waiting paths order the plain accesses.
long AbslAwait() {
  absl::Mutex mu;
  absl::CondVar turn_changed;
  int turn = 0;  // guarded by mu
  long counter = 0;
  OnTwoThreads([&](int me) {
    for (int i = 0; i < kIterations; ++i) {
      absl::MutexLock lock(&mu);
      if (me == 0) {
        mu.Await(absl::Condition(+[](int* t) { return *t == 0; }, &turn));
      } else {
        while (turn != 1) turn_changed.Wait(&mu);
      }
      ++counter;
      turn = 1 - turn;
      turn_changed.Signal();
    }
  });
  return counter;
}

long NotificationHandOver() {
  long counter = 0;
  absl::Notification written;
  OnTwoThreads([&](int me) {
    if (me == 0) {
      counter += kIterations;
      written.Notify();
    } else {
      written.WaitForNotification();
      counter += kIterations;
    }
  });
  return counter;
}

long GprMutex() {
  gpr_mu mu;
  gpr_mu_init(&mu);
  long counter = 0;
  OnTwoThreads([&](int) {
    for (int i = 0; i < kIterations; ++i) {
      gpr_mu_lock(&mu);
      ++counter;
      gpr_mu_unlock(&mu);
    }
  });
  gpr_mu_destroy(&mu);
  return counter;
}

}  // namespace

int main(int argc, char** argv) {
  const char* mode = argc == 2 ? argv[1] : "";
  long counter;
  if (std::strcmp(mode, "unlocked") == 0) {
    counter = Unlocked();
  } else if (std::strcmp(mode, "absl-mutex") == 0) {
    counter = AbslMutex();
  } else if (std::strcmp(mode, "absl-await") == 0) {
    counter = AbslAwait();
  } else if (std::strcmp(mode, "notification") == 0) {
    counter = NotificationHandOver();
  } else if (std::strcmp(mode, "gpr-mutex") == 0) {
    counter = GprMutex();
  } else {
    std::fprintf(stderr,
                 "usage: tsan_probe unlocked|absl-mutex|absl-await|notification|gpr-mutex\n");
    return 2;
  }
  std::printf("counter %ld\n", counter);
  return 0;
}
