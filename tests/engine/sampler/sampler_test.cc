#include "engine/sampler/sampler.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <map>
#include <new>
#include <numeric>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/config.h"
#include "absl/status/status.h"
#include "gtest/gtest.h"

// Counts heap allocations so a test can check that Sample() makes none. GCC flags the free()
// below once it inlines this delete next to a new-expression; the pairing is deliberate.
namespace {
std::atomic<int64_t> g_allocations{0};
}  // namespace

// TSan's runtime defines operator new and delete itself (it tracks every allocation), so the
// TSan build (scripts/build.sh --tsan) cannot count them: SampleDoesNotAllocate skips there.
#ifndef ABSL_HAVE_THREAD_SANITIZER
void* operator new(std::size_t size) {
  ++g_allocations;
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
// The nothrow form too (std::stable_sort's temporary buffer takes it): ASan reports a
// library-allocated block freed by the delete below as a mismatch.
void* operator new(std::size_t size, const std::nothrow_t&) noexcept {
  ++g_allocations;
  return std::malloc(size == 0 ? 1 : size);
}
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
#endif  // ABSL_HAVE_THREAD_SANITIZER

namespace rwkv::engine {
namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

Sampler MakeSampler(const SamplingParams& params, int32_t vocab_size) {
  absl::StatusOr<Sampler> sampler = Sampler::Create(params, vocab_size);
  EXPECT_TRUE(sampler.ok()) << sampler.status();
  return std::move(sampler).value();
}

SamplingParams Greedy() {
  SamplingParams params;
  params.temperature = 0.0f;
  return params;
}

// Deterministic pseudo-random logits in [-scale, scale], independent of the sampler's RNG.
std::vector<float> RandomLogits(int32_t vocab_size, uint32_t seed, float scale = 5.0f) {
  std::vector<float> logits(vocab_size);
  uint32_t x = seed * 2654435761u + 1u;
  for (float& logit : logits) {
    x = x * 1664525u + 1013904223u;
    logit = scale * (static_cast<float>(x >> 8) / static_cast<float>(1u << 24) * 2.0f - 1.0f);
  }
  return logits;
}

// How often each token is drawn from the same logits in `draws` samples.
std::map<int32_t, int> Histogram(Sampler& sampler, const std::vector<float>& logits, int draws) {
  std::map<int32_t, int> counts;
  for (int i = 0; i < draws; ++i) ++counts[sampler.Sample(logits)];
  return counts;
}

// The ids of the k largest logits.
std::set<int32_t> TopIds(const std::vector<float>& logits, int k) {
  std::vector<int32_t> ids(logits.size());
  std::iota(ids.begin(), ids.end(), 0);
  std::partial_sort(ids.begin(), ids.begin() + k, ids.end(),
                    [&](int32_t a, int32_t b) { return logits[a] > logits[b]; });
  return std::set<int32_t>(ids.begin(), ids.begin() + k);
}

TEST(SamplerTest, GreedyPicksArgmax) {
  Sampler sampler = MakeSampler(Greedy(), 5);
  EXPECT_EQ(sampler.Sample(std::vector<float>{0.1f, -3.0f, 2.5f, 2.4f, 0.0f}), 2);
  EXPECT_EQ(sampler.Sample(std::vector<float>{-5.0f, -4.0f, -6.0f, -7.0f, -4.5f}), 1);
}

TEST(SamplerTest, GreedyBreaksTiesToLowestId) {
  Sampler sampler = MakeSampler(Greedy(), 5);
  EXPECT_EQ(sampler.Sample(std::vector<float>{0.0f, 3.0f, 1.0f, 3.0f, 3.0f}), 1);
  EXPECT_EQ(sampler.Sample(std::vector<float>{kNegInf, kNegInf, 7.0f, 7.0f, 7.0f}), 2);
}

// The vectorized greedy pick (a block maximum, then the first ID reaching it) against the plain
// definition, on scores that stress it: ties inside and across blocks, NaN, +-inf, -0 and +0,
// sizes that are not a multiple of the block or the vector width.
TEST(SamplerTest, GreedyIsTheFirstMaximumOnAwkwardScores) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  const float pool[] = {0.0f, -0.0f, 1.0f, -1.0f, 3.5f, -inf, inf, nan, 1e30f, -1e30f, 2.0f};
  uint64_t state = 12345;
  for (const int32_t vocab : {1, 7, 255, 256, 257, 1000, 4099}) {
    for (int trial = 0; trial < 50; ++trial) {
      std::vector<float> logits(vocab);
      for (float& x : logits) {
        state = state * 6364136223846793005ULL + 1442695040888963407ULL;
        // Mostly from a few values (ties), sometimes from a wide range.
        const uint32_t r = static_cast<uint32_t>(state >> 33);
        x = r % 4 == 0 ? pool[r / 4 % std::size(pool)]
                       : static_cast<float>(static_cast<int32_t>(r % 2001) - 1000) / 100.0f;
      }
      int32_t expected = 0;  // NaN never wins; +inf wins as the largest float
      auto clean = [](float x) {
        return std::isnan(x) ? -std::numeric_limits<float>::infinity()
                             : std::min(x, std::numeric_limits<float>::max());
      };
      for (int32_t i = 1; i < vocab; ++i) {
        if (clean(logits[i]) > clean(logits[expected])) expected = i;
      }
      Sampler sampler = MakeSampler(Greedy(), vocab);
      ASSERT_EQ(sampler.Sample(logits), expected) << "vocab " << vocab << " trial " << trial;
    }
  }
}

TEST(SamplerTest, SameSeedGivesSameSequence) {
  constexpr int32_t kVocab = 1000;
  SamplingParams params;
  params.seed = 1234;
  params.top_k = 50;
  params.top_p = 0.9f;
  params.presence_penalty = 0.3f;
  Sampler a = MakeSampler(params, kVocab);
  Sampler b = MakeSampler(params, kVocab);
  std::vector<int32_t> tokens_a, tokens_b;
  for (uint32_t step = 0; step < 200; ++step) {
    const std::vector<float> logits = RandomLogits(kVocab, step, 3.0f);
    tokens_a.push_back(a.Sample(logits));
    tokens_b.push_back(b.Sample(logits));
    a.Accept(tokens_a.back());
    b.Accept(tokens_b.back());
  }
  EXPECT_EQ(tokens_a, tokens_b);
}

// Temperature alone takes a shortcut that lists no candidates; a top-k as large as the
// vocabulary (past the heap's reach) keeps every ID too but lists them first. Same draws.
TEST(SamplerTest, TemperatureOnlyDrawsAsWhenEveryIdIsListed) {
  constexpr int32_t kVocab = 5000;  // past kMaxHeapTopK, and not a multiple of the draw block
  SamplingParams params;
  params.seed = 99;
  params.temperature = 0.8f;
  params.logit_bias = {{7, -100.0f}, {4999, 3.0f}};
  SamplingParams listed = params;
  listed.top_k = kVocab;
  Sampler a = MakeSampler(params, kVocab);
  Sampler b = MakeSampler(listed, kVocab);
  for (uint32_t step = 0; step < 300; ++step) {
    std::vector<float> logits = RandomLogits(kVocab, step, 4.0f);
    logits[step % kVocab] = kNegInf;  // a banned ID weighs nothing either way
    const int32_t token = a.Sample(logits);
    ASSERT_EQ(token, b.Sample(logits)) << "step " << step;
    a.Accept(token);
    b.Accept(token);
  }
}

// With nothing added to the logits the sampler reads them in place, sanitizing on the fly; a
// zero bias makes it copy and sanitize them first. Same picks, NaN and infinities included.
TEST(SamplerTest, LogitsReadInPlaceSampleAsCopiedOnes) {
  constexpr int32_t kVocab = 3000;
  for (const float temperature : {0.0f, 1.0f}) {
    SamplingParams params;
    params.seed = 5;
    params.temperature = temperature;
    SamplingParams copied = params;
    copied.logit_bias = {{0, 0.0f}};
    Sampler a = MakeSampler(params, kVocab);
    Sampler b = MakeSampler(copied, kVocab);
    for (uint32_t step = 0; step < 200; ++step) {
      std::vector<float> logits = RandomLogits(kVocab, step, 4.0f);
      logits[(step * 7) % kVocab] = std::numeric_limits<float>::quiet_NaN();
      logits[(step * 11) % kVocab] = kNegInf;
      if (step % 5 == 0) logits[(step * 13) % kVocab] = -kNegInf;
      ASSERT_EQ(a.Sample(logits), b.Sample(logits)) << "T " << temperature << " step " << step;
    }
  }
}

TEST(SamplerTest, DifferentSeedsGiveDifferentSequences) {
  constexpr int32_t kVocab = 1000;
  SamplingParams params;
  params.seed = 1;
  Sampler a = MakeSampler(params, kVocab);
  params.seed = 2;
  Sampler b = MakeSampler(params, kVocab);
  std::vector<int32_t> tokens_a, tokens_b;
  for (uint32_t step = 0; step < 200; ++step) {
    const std::vector<float> logits = RandomLogits(kVocab, step, 1.0f);
    tokens_a.push_back(a.Sample(logits));
    tokens_b.push_back(b.Sample(logits));
  }
  EXPECT_NE(tokens_a, tokens_b);
}

TEST(SamplerTest, TemperatureSharpensAndFlattens) {
  // p(token 0) = 1 / (1 + exp(-1 / T)): 0.731 at T = 1, 0.881 at T = 0.5, 0.622 at T = 2.
  const std::vector<float> logits = {1.0f, 0.0f};
  constexpr int kDraws = 20000;
  const std::vector<std::pair<float, double>> cases = {{1.0f, 0.731}, {0.5f, 0.881}, {2.0f, 0.622}};
  for (const auto& [temperature, expected] : cases) {
    SamplingParams params;
    params.temperature = temperature;
    params.seed = 42;
    Sampler sampler = MakeSampler(params, 2);
    const double frequency = Histogram(sampler, logits, kDraws)[0] / static_cast<double>(kDraws);
    EXPECT_NEAR(frequency, expected, 0.02) << "temperature " << temperature;
  }
}

TEST(SamplerTest, HighTemperatureIsNearlyUniform) {
  const std::vector<float> logits = {2.0f, 1.0f, 0.0f, -1.0f};
  SamplingParams params;
  params.temperature = 100.0f;
  params.seed = 7;
  Sampler sampler = MakeSampler(params, 4);
  for (const auto& [token, count] : Histogram(sampler, logits, 20000)) {
    EXPECT_NEAR(count / 20000.0, 0.25, 0.03) << "token " << token;
  }
}

TEST(SamplerTest, TopK1EqualsGreedy) {
  constexpr int32_t kVocab = 500;
  SamplingParams params;
  params.top_k = 1;
  params.seed = 3;
  Sampler top1 = MakeSampler(params, kVocab);
  Sampler greedy = MakeSampler(Greedy(), kVocab);
  for (uint32_t step = 0; step < 100; ++step) {
    const std::vector<float> logits = RandomLogits(kVocab, step);
    EXPECT_EQ(top1.Sample(logits), greedy.Sample(logits)) << "step " << step;
  }
}

TEST(SamplerTest, TopKOnlyYieldsTheKBest) {
  constexpr int32_t kVocab = 300;
  const std::vector<float> logits = RandomLogits(kVocab, 11, 1.0f);
  const std::set<int32_t> allowed = TopIds(logits, 5);
  SamplingParams params;
  params.top_k = 5;
  params.temperature = 5.0f;  // flatten, so tokens outside the top 5 would show up if allowed
  params.seed = 9;
  Sampler sampler = MakeSampler(params, kVocab);
  const std::map<int32_t, int> counts = Histogram(sampler, logits, 5000);
  for (const auto& [token, count] : counts) EXPECT_TRUE(allowed.count(token)) << token;
  EXPECT_EQ(counts.size(), 5u);
}

TEST(SamplerTest, LargeTopKOnlyYieldsTheKBest) {
  // Above 1024, top-k takes the nth_element path instead of the heap.
  constexpr int32_t kVocab = 4096;
  const std::vector<float> logits = RandomLogits(kVocab, 12, 1.0f);
  const std::set<int32_t> allowed = TopIds(logits, 1500);
  SamplingParams params;
  params.top_k = 1500;
  params.temperature = 100.0f;
  params.seed = 19;
  Sampler sampler = MakeSampler(params, kVocab);
  const std::map<int32_t, int> counts = Histogram(sampler, logits, 2000);
  for (const auto& [token, count] : counts) EXPECT_TRUE(allowed.count(token)) << token;
  EXPECT_GT(counts.size(), 800u);  // nearly uniform: about 1100 distinct expected
}

TEST(SamplerTest, TopKBreaksTiesToLowestIds) {
  for (const int32_t k : {3, 2000}) {  // the heap path and the nth_element path
    SamplingParams params;
    params.top_k = k;
    params.seed = 20;
    Sampler sampler = MakeSampler(params, 4096);
    const std::map<int32_t, int> counts = Histogram(sampler, std::vector<float>(4096, 0.5f), 1000);
    EXPECT_LT(counts.rbegin()->first, k) << "top_k " << k;
  }
}

TEST(SamplerTest, TopPBreaksTiesToLowestIds) {
  // Ten equal tokens and top_p 0.35: the nucleus is the first four (0.3 < 0.35 <= 0.4).
  SamplingParams params;
  params.top_p = 0.35f;
  params.seed = 22;
  Sampler sampler = MakeSampler(params, 10);
  const std::map<int32_t, int> counts = Histogram(sampler, std::vector<float>(10, 1.0f), 4000);
  EXPECT_EQ(counts.size(), 4u);
  EXPECT_EQ(counts.rbegin()->first, 3);
}

TEST(SamplerTest, TinyTemperatureActsGreedy) {
  constexpr int32_t kVocab = 300;
  for (const float temperature : {1e-6f, std::numeric_limits<float>::denorm_min()}) {
    SamplingParams params;
    params.temperature = temperature;
    params.top_p = 0.9f;
    params.seed = 23;
    Sampler sampler = MakeSampler(params, kVocab);
    Sampler greedy = MakeSampler(Greedy(), kVocab);
    for (uint32_t step = 0; step < 20; ++step) {
      const std::vector<float> logits = RandomLogits(kVocab, step);
      EXPECT_EQ(sampler.Sample(logits), greedy.Sample(logits)) << "temperature " << temperature;
    }
  }
}

TEST(SamplerTest, SmallTopPYieldsOnlyTheBest) {
  const std::vector<float> logits = {0.5f, 0.9f, 0.8f, 0.1f};
  SamplingParams params;
  params.top_p = 0.01f;
  params.seed = 5;
  Sampler sampler = MakeSampler(params, 4);
  const std::map<int32_t, int> counts = Histogram(sampler, logits, 2000);
  EXPECT_EQ(counts, (std::map<int32_t, int>{{1, 2000}}));
}

TEST(SamplerTest, TopPKeepsSmallestSetReachingTheMass) {
  // Probabilities 0.4, 0.3, 0.2, 0.1: the nucleus for 0.5 is {0, 1} (0.4 < 0.5 <= 0.7).
  const std::vector<float> logits = {std::log(0.4f), std::log(0.3f), std::log(0.2f),
                                     std::log(0.1f)};
  SamplingParams params;
  params.top_p = 0.5f;
  params.seed = 6;
  Sampler sampler = MakeSampler(params, 4);
  std::map<int32_t, int> counts = Histogram(sampler, logits, 10000);
  EXPECT_EQ(counts.size(), 2u);
  EXPECT_NEAR(counts[0] / 10000.0, 0.4 / 0.7, 0.03);
  EXPECT_NEAR(counts[1] / 10000.0, 0.3 / 0.7, 0.03);
}

TEST(SamplerTest, TopPOnLargeVocabStaysInNucleus) {
  constexpr int32_t kVocab = 65536;
  // A peaked distribution: 20 tokens hold almost all of the mass.
  std::vector<float> logits = RandomLogits(kVocab, 17, 1.0f);
  for (int32_t id = 0; id < 20; ++id) logits[id * 3001] = 15.0f - 0.1f * id;
  const std::set<int32_t> top20 = TopIds(logits, 20);
  SamplingParams params;
  params.top_k = 1000;
  params.top_p = 0.9f;
  params.seed = 8;
  Sampler sampler = MakeSampler(params, kVocab);
  for (int i = 0; i < 200; ++i) EXPECT_TRUE(top20.count(sampler.Sample(logits)));
}

TEST(SamplerTest, MinPFiltersUnlikelyTokens) {
  // Probabilities 0.5, 0.3, 0.15, 0.05 with min_p 0.5: keep p >= 0.25, i.e. tokens 0 and 1.
  const std::vector<float> logits = {std::log(0.5f), std::log(0.3f), std::log(0.15f),
                                     std::log(0.05f)};
  SamplingParams params;
  params.min_p = 0.5f;
  params.seed = 10;
  Sampler sampler = MakeSampler(params, 4);
  std::map<int32_t, int> counts = Histogram(sampler, logits, 10000);
  EXPECT_EQ(counts.size(), 2u);
  EXPECT_NEAR(counts[0] / 10000.0, 0.5 / 0.8, 0.03);
}

TEST(SamplerTest, PresencePenaltyMakesARepeatLose) {
  SamplingParams params = Greedy();
  params.presence_penalty = 1.0f;
  Sampler sampler = MakeSampler(params, 2);
  const std::vector<float> logits = {1.0f, 0.5f};
  EXPECT_EQ(sampler.Sample(logits), 0);
  sampler.Accept(0);
  EXPECT_EQ(sampler.Sample(logits), 1);
}

TEST(SamplerTest, FrequencyPenaltyScalesWithCount) {
  SamplingParams params = Greedy();
  params.frequency_penalty = 1.0f;
  Sampler sampler = MakeSampler(params, 2);
  const std::vector<float> logits = {2.0f, 0.5f};
  sampler.Accept(0);
  EXPECT_EQ(sampler.Sample(logits), 0);  // 2 - 1 = 1 > 0.5
  sampler.Accept(0);
  EXPECT_EQ(sampler.Sample(logits), 1);  // 2 - 2 = 0 < 0.5
}

TEST(SamplerTest, RepetitionPenaltyDividesPositiveAndMultipliesNegative) {
  SamplingParams params = Greedy();
  params.repetition_penalty = 2.0f;
  Sampler sampler = MakeSampler(params, 2);
  sampler.Accept(0);
  EXPECT_EQ(sampler.Sample(std::vector<float>{2.0f, 1.5f}), 1);    // 2 / 2 = 1 < 1.5
  EXPECT_EQ(sampler.Sample(std::vector<float>{-1.0f, -1.5f}), 1);  // -1 * 2 = -2 < -1.5
  EXPECT_EQ(sampler.Sample(std::vector<float>{4.0f, 1.5f}), 0);    // 4 / 2 = 2 > 1.5
}

TEST(SamplerTest, PenaltyWindowCountsOnlyRecentTokens) {
  const std::vector<float> logits = {1.0f, 0.9f, 0.5f};
  SamplingParams params = Greedy();
  params.presence_penalty = 1.0f;
  params.penalty_window = 2;
  Sampler windowed = MakeSampler(params, 3);
  params.penalty_window = 0;
  Sampler unbounded = MakeSampler(params, 3);
  for (int32_t token : {0, 1, 1}) {
    windowed.Accept(token);
    unbounded.Accept(token);
  }
  EXPECT_EQ(windowed.Sample(logits), 0);   // token 0 left the window
  EXPECT_EQ(unbounded.Sample(logits), 2);  // 0 and 1 both penalised
  windowed.Accept(2);
  windowed.Accept(2);  // the window is now {2, 2}: token 1 left too
  EXPECT_EQ(windowed.Sample(logits), 0);
  windowed.Accept(0);  // window {2, 0}
  EXPECT_EQ(windowed.Sample(logits), 1);
}

TEST(SamplerTest, AcceptIgnoresOutOfRangeTokens) {
  SamplingParams params = Greedy();
  params.presence_penalty = 2.0f;
  Sampler sampler = MakeSampler(params, 2);
  sampler.Accept(-1);
  sampler.Accept(2);
  EXPECT_EQ(sampler.Sample(std::vector<float>{1.0f, 0.0f}), 0);
}

TEST(SamplerTest, LogitBiasForcesAToken) {
  SamplingParams params;
  params.logit_bias = {{3, 100.0f}};
  params.seed = 12;
  Sampler sampler = MakeSampler(params, 8);
  const std::vector<float> logits = RandomLogits(8, 4, 3.0f);
  EXPECT_EQ(Histogram(sampler, logits, 1000), (std::map<int32_t, int>{{3, 1000}}));
}

TEST(SamplerTest, LogitBiasBansAToken) {
  const std::vector<float> logits = {5.0f, 4.0f, 0.0f};
  SamplingParams params = Greedy();
  params.logit_bias = {{0, -100.0f}};
  Sampler greedy = MakeSampler(params, 3);
  EXPECT_EQ(greedy.Sample(logits), 1);

  // Even a flat distribution never yields a banned token.
  params.temperature = 100.0f;
  params.seed = 13;
  Sampler flat = MakeSampler(params, 3);
  EXPECT_EQ(Histogram(flat, logits, 5000).count(0), 0u);
}

TEST(SamplerTest, NegativeInfinityIsNeverSampled) {
  const std::vector<float> logits = {kNegInf, 0.0f, kNegInf, 0.0f, kNegInf};
  SamplingParams params;
  params.temperature = 100.0f;
  params.seed = 14;
  Sampler sampler = MakeSampler(params, 5);
  std::map<int32_t, int> counts = Histogram(sampler, logits, 5000);
  EXPECT_EQ(counts.size(), 2u);
  EXPECT_GT(counts[1], 0);
  EXPECT_GT(counts[3], 0);
}

TEST(SamplerTest, OnlyOneTokenLeftIsAlwaysChosen) {
  constexpr int32_t kVocab = 1000;
  std::vector<float> logits(kVocab, kNegInf);
  logits[777] = -50.0f;
  logits[5] = std::numeric_limits<float>::quiet_NaN();
  SamplingParams params;
  params.top_k = 10;
  params.top_p = 0.5f;
  params.min_p = 0.9f;
  params.seed = 15;
  Sampler sampler = MakeSampler(params, kVocab);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(sampler.Sample(logits), 777);
}

TEST(SamplerTest, AllBannedReturnsTokenZero) {
  SamplingParams params;
  params.logit_bias = {{1, -100.0f}};
  Sampler sampler = MakeSampler(params, 3);
  EXPECT_EQ(sampler.Sample(std::vector<float>{kNegInf, 1.0f, kNegInf}), 0);
}

TEST(SamplerTest, PositiveInfinityWins) {
  const float inf = std::numeric_limits<float>::infinity();
  SamplingParams params;
  params.seed = 16;
  Sampler sampler = MakeSampler(params, 3);
  EXPECT_EQ(Histogram(sampler, {0.0f, inf, 1.0f}, 100), (std::map<int32_t, int>{{1, 100}}));
}

TEST(SamplerTest, SerializedRngStateReproducesTheContinuation) {
  constexpr int32_t kVocab = 200;
  SamplingParams params;
  params.seed = 99;
  Sampler original = MakeSampler(params, kVocab);
  for (uint32_t step = 0; step < 50; ++step) original.Sample(RandomLogits(kVocab, step));
  const std::string state = original.SerializeRngState();

  params.seed = 12345;
  Sampler resumed = MakeSampler(params, kVocab);
  ASSERT_TRUE(resumed.RestoreRngState(state).ok());
  for (uint32_t step = 50; step < 150; ++step) {
    const std::vector<float> logits = RandomLogits(kVocab, step);
    EXPECT_EQ(resumed.Sample(logits), original.Sample(logits)) << "step " << step;
  }
}

TEST(SamplerTest, RestoreRejectsMalformedState) {
  Sampler sampler = MakeSampler(SamplingParams(), 10);
  const std::string good = sampler.SerializeRngState();
  EXPECT_EQ(sampler.RestoreRngState("").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(sampler.RestoreRngState(good.substr(1)).code(), absl::StatusCode::kInvalidArgument);
  std::string bad_magic = good;
  bad_magic[0] = 'X';
  EXPECT_EQ(sampler.RestoreRngState(bad_magic).code(), absl::StatusCode::kInvalidArgument);
  std::string all_zero = good.substr(0, 8) + std::string(32, '\0');
  EXPECT_EQ(sampler.RestoreRngState(all_zero).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(sampler.RestoreRngState(good).ok());
}

TEST(SamplerTest, MovedSamplerContinuesTheSameSequence) {
  SamplingParams params;
  params.seed = 21;
  Sampler a = MakeSampler(params, 50);
  Sampler b = MakeSampler(params, 50);
  const std::vector<float> logits = RandomLogits(50, 1, 1.0f);
  EXPECT_EQ(a.Sample(logits), b.Sample(logits));
  Sampler moved = std::move(a);
  for (int i = 0; i < 20; ++i) EXPECT_EQ(moved.Sample(logits), b.Sample(logits));
}

TEST(SamplerTest, SampleDoesNotAllocate) {
#ifdef ABSL_HAVE_THREAD_SANITIZER
  GTEST_SKIP() << "allocations are not counted under TSan";
#endif
  constexpr int32_t kVocab = 65536;
  SamplingParams params;
  params.top_k = 100;
  params.top_p = 0.95f;
  params.min_p = 0.05f;
  params.presence_penalty = 0.5f;
  params.frequency_penalty = 0.1f;
  params.repetition_penalty = 1.1f;
  params.penalty_window = 16;
  params.logit_bias = {{1, 2.0f}, {2, -100.0f}};
  Sampler sampler = MakeSampler(params, kVocab);
  std::vector<std::vector<float>> logits;
  for (uint32_t step = 0; step < 4; ++step) logits.push_back(RandomLogits(kVocab, step));
  for (int i = 0; i < 32; ++i) sampler.Accept(i);  // fill the window and the counts map
  params.top_k = 0;                                // the full-vocabulary path too
  Sampler no_top_k = MakeSampler(params, kVocab);
  const int64_t before = g_allocations.load();
  for (const std::vector<float>& step_logits : logits) {
    sampler.Sample(step_logits);
    no_top_k.Sample(step_logits);
  }
  EXPECT_EQ(g_allocations.load(), before);
}

TEST(SamplerTest, ShortLogitsCountMissingEntriesAsNegativeInfinity) {
  Sampler sampler = MakeSampler(Greedy(), 4);
  EXPECT_EQ(sampler.Sample(std::vector<float>{-3.0f, -2.0f}), 1);
}

struct InvalidCase {
  std::string name;
  SamplingParams params;
  std::string expected_substring;
};

constexpr float kNan = std::numeric_limits<float>::quiet_NaN();
constexpr float kInf = std::numeric_limits<float>::infinity();

// Validated against a vocabulary of 100.
std::vector<InvalidCase> InvalidCases() {
  std::vector<InvalidCase> cases;
  auto add = [&](std::string name, SamplingParams params, std::string expected) {
    cases.push_back({std::move(name), std::move(params), std::move(expected)});
  };
  add("NegativeTemperature", {.temperature = -0.1f}, "temperature must be in [0, 100], got -0.1");
  add("HugeTemperature", {.temperature = 101.0f}, "temperature");
  add("NanTemperature", {.temperature = kNan}, "temperature");
  add("InfTemperature", {.temperature = kInf}, "temperature");
  add("NegativeTopK", {.top_k = -1}, "top_k must be in [0, 100], got -1");
  add("TopKAboveVocab", {.top_k = 101}, "top_k");
  add("ZeroTopP", {.top_p = 0.0f}, "top_p must be in (0, 1], got 0");
  add("TopPAboveOne", {.top_p = 1.5f}, "top_p must be in (0, 1], got 1.5");
  add("NanTopP", {.top_p = kNan}, "top_p");
  add("NegativeMinP", {.min_p = -0.5f}, "min_p must be in [0, 1]");
  add("MinPAboveOne", {.min_p = 1.01f}, "min_p");
  add("PresenceTooLow", {.presence_penalty = -2.5f}, "presence_penalty must be in [-2, 2]");
  add("PresenceInf", {.presence_penalty = -kInf}, "presence_penalty");
  add("FrequencyTooHigh", {.frequency_penalty = 2.5f}, "frequency_penalty must be in [-2, 2]");
  add("FrequencyNan", {.frequency_penalty = kNan}, "frequency_penalty");
  add("ZeroRepetition", {.repetition_penalty = 0.0f}, "repetition_penalty must be in (0, 10]");
  add("RepetitionTooHigh", {.repetition_penalty = 11.0f}, "repetition_penalty");
  add("NegativeWindow", {.penalty_window = -1}, "penalty_window must be >= 0, got -1");
  add("BiasIdNegative", {.logit_bias = {{-1, 1.0f}}}, "logit_bias[0] token id must be in [0, 100)");
  add("BiasIdTooLarge", {.logit_bias = {{1, 1.0f}, {100, 1.0f}}}, "logit_bias[1] token id");
  add("BiasTooLarge", {.logit_bias = {{7, 150.0f}}},
      "logit_bias[0] bias for token 7 must be in [-100, 100], got 150");
  add("BiasNan", {.logit_bias = {{7, kNan}}}, "logit_bias[0] bias");
  return cases;
}

class InvalidParamsTest : public testing::TestWithParam<InvalidCase> {};

TEST_P(InvalidParamsTest, IsInvalidArgumentNamingTheField) {
  const InvalidCase& c = GetParam();
  const absl::Status status = ValidateSamplingParams(c.params, 100);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(status.message().find(c.expected_substring), std::string::npos) << status.message();
  EXPECT_EQ(Sampler::Create(c.params, 100).status().code(), absl::StatusCode::kInvalidArgument);
}

INSTANTIATE_TEST_SUITE_P(AllFields, InvalidParamsTest, testing::ValuesIn(InvalidCases()),
                         [](const testing::TestParamInfo<InvalidCase>& info) {
                           return info.param.name;
                         });

TEST(ValidateSamplingParamsTest, AcceptsDefaultsAndBoundaries) {
  EXPECT_TRUE(ValidateSamplingParams(SamplingParams(), 100).ok());
  SamplingParams params;
  params.temperature = 100.0f;
  params.top_k = 100;
  params.top_p = 1.0f;
  params.min_p = 1.0f;
  params.presence_penalty = -2.0f;
  params.frequency_penalty = 2.0f;
  params.repetition_penalty = 10.0f;
  params.penalty_window = 64;
  params.logit_bias = {{0, -100.0f}, {99, 100.0f}};
  EXPECT_TRUE(ValidateSamplingParams(params, 100).ok());
}

TEST(ValidateSamplingParamsTest, RejectsNonPositiveVocab) {
  const absl::Status status = ValidateSamplingParams(SamplingParams(), 0);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(status.message().find("vocab_size"), std::string::npos);
}

}  // namespace
}  // namespace rwkv::engine
