// IoExecutor: new work (TryPost) is bounded and refused when the queue is full; the completion
// of accepted work (Post) is never refused; everything posted runs.
#include "server/turns/io_executor.h"

#include <atomic>
#include <memory>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/synchronization/notification.h"
#include "gtest/gtest.h"
#include "tests/util/wait_for.h"

namespace rwkv::server {
namespace {

using testing::kWaitLimit;
using testing::WaitFor;

TEST(IoExecutorTest, NewWorkIsRefusedWhenTheQueueIsFull) {
  auto io = std::make_unique<IoExecutor>(/*threads=*/1, /*max_queued=*/2);
  absl::Notification started, gate;
  std::atomic<int> ran{0};
  // The only thread is busy with this task, so what follows waits in the queue.
  ASSERT_TRUE(io->TryPost([&] {
                  started.Notify();
                  gate.WaitForNotification();
                  ++ran;
                }).ok());
  started.WaitForNotification();
  EXPECT_TRUE(io->TryPost([&] { ++ran; }).ok());
  EXPECT_TRUE(io->TryPost([&] { ++ran; }).ok());
  EXPECT_EQ(io->queued_new_work(), 2);
  bool refused_ran = false;
  const absl::Status refused = io->TryPost([&] { refused_ran = true; });
  EXPECT_EQ(refused.code(), absl::StatusCode::kResourceExhausted) << refused;
  EXPECT_TRUE(absl::StrContains(refused.message(), "--max-io-queue=2")) << refused;
  // Completions are never refused, and do not count against the bound.
  for (int i = 0; i < 5; ++i) io->Post([&] { ++ran; });
  EXPECT_EQ(io->queued_new_work(), 2);

  gate.Notify();
  ASSERT_TRUE(WaitFor(kWaitLimit, [&] { return ran.load() == 1 + 2 + 5; })) << ran.load();
  EXPECT_EQ(io->queued_new_work(), 0);
  // Room again.
  EXPECT_TRUE(io->TryPost([&] { ++ran; }).ok());
  io.reset();  // runs everything still posted
  EXPECT_EQ(ran.load(), 9);
  EXPECT_FALSE(refused_ran);
}

TEST(IoExecutorTest, UnboundedByDefault) {
  absl::Notification gate;
  std::atomic<int> ran{0};
  {
    IoExecutor io(/*threads=*/1);
    ASSERT_TRUE(io.TryPost([&] { gate.WaitForNotification(); }).ok());
    for (int i = 0; i < 10'000; ++i) ASSERT_TRUE(io.TryPost([&] { ++ran; }).ok());
    gate.Notify();
  }
  EXPECT_EQ(ran.load(), 10'000);
}

}  // namespace
}  // namespace rwkv::server
