// StateBudget: reservations up to the limit, RESOURCE_EXHAUSTED past it (naming the flag), each
// given back exactly once; what a turn counts; the default limit.
#include "server/turns/state_budget.h"

#include <atomic>
#include <optional>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "engine/sampler/sampler.h"
#include "gtest/gtest.h"
#include "tests/fakes/fake_engine.h"

namespace rwkv::server {
namespace {

constexpr int64_t kGiB = int64_t{1} << 30;

TEST(StateBudgetTest, ReservesUpToTheLimitAndRefusesPastIt) {
  StateBudget budget(1000);
  absl::StatusOr<StateBudget::Reservation> a = budget.Reserve(600);
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->bytes(), 600);
  absl::StatusOr<StateBudget::Reservation> b = budget.Reserve(400);
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(budget.used(), 1000);

  absl::StatusOr<StateBudget::Reservation> c = budget.Reserve(1);
  EXPECT_EQ(c.status().code(), absl::StatusCode::kResourceExhausted) << c.status();
  EXPECT_EQ(c.status().message(),
            "the server's in-flight turns hold 1000 bytes of states; this turn's 1 bytes would "
            "pass --max-inflight-state-bytes=1000 (1000 bytes); retry later");
  EXPECT_EQ(budget.used(), 1000);  // a refusal reserves nothing

  a->Release();
  EXPECT_EQ(budget.used(), 400);
  a->Release();  // once only
  EXPECT_EQ(budget.used(), 400);
  EXPECT_TRUE(budget.Reserve(600).ok());  // and given back at once, out of scope
  EXPECT_EQ(budget.used(), 400);
}

TEST(StateBudgetTest, ReservationsMoveAndAreGivenBackOnce) {
  StateBudget budget(100);
  std::optional<StateBudget::Reservation> a = *budget.Reserve(30);
  StateBudget::Reservation b = std::move(*a);
  EXPECT_EQ(b.bytes(), 30);
  EXPECT_EQ(a->bytes(), 0);
  a.reset();  // moved from: gives nothing back
  EXPECT_EQ(budget.used(), 30);
  StateBudget::Reservation c = *budget.Reserve(50);
  b = std::move(c);  // b's 30 go back, b now holds c's 50
  EXPECT_EQ(budget.used(), 50);
  b = StateBudget::Reservation();
  EXPECT_EQ(budget.used(), 0);
}

TEST(StateBudgetTest, ConcurrentReservationsNeverPassTheLimit) {
  StateBudget budget(10 * 64);
  std::atomic<int64_t> peak{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 2000; ++i) {
        absl::StatusOr<StateBudget::Reservation> r = budget.Reserve(64);
        if (!r.ok()) continue;
        int64_t used = budget.used();
        int64_t seen = peak.load();
        while (used > seen && !peak.compare_exchange_weak(seen, used)) {
        }
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_LE(peak.load(), 10 * 64);
  EXPECT_EQ(budget.used(), 0);
}

TEST(StateBudgetTest, ATurnCountsItsStateSamplerBuffersAndPrompt) {
  testing::FakeEngine engine;
  const engine::ModelConfig& config = engine.config();
  const int64_t sampler = engine::Sampler::ScratchBytes(config.n_vocab);
  EXPECT_GE(sampler, 16 * int64_t{config.n_vocab});  // four vocabulary-sized arrays
  EXPECT_EQ(StateBudget::TurnBytes(config, 0), config.StateBytes() + sampler);
  EXPECT_EQ(StateBudget::TurnBytes(config, 1000), config.StateBytes() + sampler + 4000);
  // Top-p and min-p hold their histograms and rank codes too; the largest turn counts them.
  engine::SamplingParams top_p;
  top_p.top_p = 0.9f;
  const int64_t cutting = engine::Sampler::ScratchBytes(config.n_vocab, top_p);
  EXPECT_GT(cutting, sampler);
  EXPECT_EQ(StateBudget::TurnBytes(config, 10, top_p), config.StateBytes() + cutting + 40);
  EXPECT_EQ(StateBudget::LargestTurnBytes(config, 10), config.StateBytes() + cutting + 40);
}

TEST(StateBudgetTest, DefaultLimitIsTwoBatchesOfTurnsButAtLeastOneGiB) {
  // A small model: the request limits bind first.
  EXPECT_EQ(StateBudget::DefaultLimit(200'000, 64), kGiB);
  // RWKV-7 1.5B: about 13 MB of state, 1 MB of sampler buffers, a 256 KiB prompt.
  const int64_t turn = 14'500'000;
  EXPECT_EQ(StateBudget::DefaultLimit(turn, 64), 128 * turn);
}

TEST(StateBudgetTest, HumanBytes) {
  EXPECT_EQ(HumanBytes(12), "12 bytes");
  EXPECT_EQ(HumanBytes(2048), "2.00 KiB");
  EXPECT_EQ(HumanBytes(3 * kGiB / 2), "1.50 GiB");
  EXPECT_EQ(HumanBytes(200 * (int64_t{1} << 20)), "200.0 MiB");
}

}  // namespace
}  // namespace rwkv::server
