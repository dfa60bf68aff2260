// Top-p and min-p without a top-k cut the whole vocabulary at once (engine/sampler/top_p.h).
// These check that the cut keeps the same tokens as the candidate list does (a top-k as large
// as the vocabulary forces the list), against a reference nucleus computed here, and on ties,
// non-finite logits and the edges of top_p.
#include "engine/sampler/top_p.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <map>
#include <numeric>
#include <set>
#include <vector>

#include "engine/sampler/sampler.h"
#include "gtest/gtest.h"
#include "tests/engine/sampler/shaped_logits.h"

namespace rwkv::engine {
namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr float kNan = std::numeric_limits<float>::quiet_NaN();

// -inf everywhere but at `ids`, whose logits are the logs of `probabilities`.
std::vector<float> SparseLogits(int32_t vocab_size, const std::vector<int32_t>& ids,
                                const std::vector<float>& probabilities) {
  std::vector<float> logits(vocab_size, -kInf);
  for (size_t i = 0; i < ids.size(); ++i) logits[ids[i]] = std::log(probabilities[i]);
  return logits;
}

using CutCase = ShapeCase;

class DenseCutTest : public testing::TestWithParam<CutCase> {};

// The same draws, step after step, from a sampler without top-k (the whole-vocabulary cut) and
// one whose top-k is the vocabulary (the candidate list), in place and with a logit bias.
TEST_P(DenseCutTest, DrawsAsWhenEveryIdIsListed) {
  const CutCase c = GetParam();
  const int steps = c.vocab_size > 10000 ? 4 : 25;
  struct Cut {
    float temperature, top_p, min_p;
  };
  const Cut cuts[] = {{1.0f, 0.9f, 0.0f},  {0.7f, 0.95f, 0.0f},  {2.0f, 0.5f, 0.0f},
                      {1.0f, 1e-6f, 0.0f}, {1.0f, 0.999f, 0.0f}, {1.0f, 0.99999994f, 0.0f},
                      {1.0f, 0.9f, 0.05f}, {0.7f, 1.0f, 0.2f},   {1.0f, 0.35f, 0.0f}};
  for (const Cut& cut : cuts) {
    for (const bool bias : {false, true}) {
      SamplingParams params;
      params.seed = 41;
      params.temperature = cut.temperature;
      params.top_p = cut.top_p;
      params.min_p = cut.min_p;
      if (bias) params.logit_bias = {{1, 0.5f}, {c.vocab_size - 1, -100.0f}};
      SamplingParams listed = params;
      listed.top_k = c.vocab_size;
      Sampler dense = MakeSampler(params, c.vocab_size);
      Sampler reference = MakeSampler(listed, c.vocab_size);
      for (int step = 0; step < steps; ++step) {
        const std::vector<float> logits = ShapedLogits(c.shape, c.vocab_size, step);
        ASSERT_EQ(dense.Sample(logits), reference.Sample(logits))
            << "T " << cut.temperature << " top_p " << cut.top_p << " min_p " << cut.min_p
            << " bias " << bias << " step " << step;
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, DenseCutTest,
    testing::Values(CutCase{Shape::kFlat, 5003}, CutCase{Shape::kPeaked, 5003},
                    CutCase{Shape::kTies, 5003}, CutCase{Shape::kNonFinite, 5003},
                    CutCase{Shape::kNearlyEqual, 5003}, CutCase{Shape::kFarTail, 5003},
                    CutCase{Shape::kFlat, 65536}, CutCase{Shape::kTies, 65536},
                    CutCase{Shape::kNearlyEqual, 65536}, CutCase{Shape::kNonFinite, 65536}),
    [](const testing::TestParamInfo<CutCase>& info) { return ShapeCaseName(info.param); });

// The nucleus in double precision: the fewest tokens, best first (lowest ID among equals),
// whose probability reaches top_p; `slack` widens it for rounding at its edge.
std::set<int32_t> ReferenceNucleus(const std::vector<float>& logits, double top_p, double slack) {
  std::vector<int32_t> ids(logits.size());
  std::iota(ids.begin(), ids.end(), 0);
  std::sort(ids.begin(), ids.end(), [&](int32_t a, int32_t b) {
    return logits[a] > logits[b] || (logits[a] == logits[b] && a < b);
  });
  const double best = logits[ids.front()];
  double total = 0.0;
  for (const float logit : logits) total += std::exp(logit - best);
  std::set<int32_t> nucleus;
  double mass = 0.0;
  for (const int32_t id : ids) {
    if (mass >= (top_p + slack) * total) break;
    nucleus.insert(id);
    mass += std::exp(logits[id] - best);
  }
  return nucleus;
}

TEST(TopPTest, FlatDrawsStayInTheReferenceNucleus) {
  constexpr int32_t kVocab = 65536;
  const std::vector<float> logits = ShapedLogits(Shape::kFlat, kVocab, 3);
  const std::set<int32_t> nucleus = ReferenceNucleus(logits, 0.9, 1e-5);
  const std::set<int32_t> inner = ReferenceNucleus(logits, 0.9, -1e-5);
  ASSERT_GT(inner.size(), 10000u);  // flat: most of the vocabulary
  SamplingParams params;
  params.top_p = 0.9f;
  params.seed = 9;
  Sampler sampler = MakeSampler(params, kVocab);
  int outside_inner = 0;
  for (int i = 0; i < 3000; ++i) {
    const int32_t token = sampler.Sample(logits);
    ASSERT_TRUE(nucleus.count(token)) << token;
    outside_inner += !inner.count(token);
  }
  EXPECT_LT(outside_inner, 10);
}

TEST(TopPTest, PeakedDrawsStayInTheReferenceNucleus) {
  constexpr int32_t kVocab = 65536;
  const std::vector<float> logits = ShapedLogits(Shape::kPeaked, kVocab, 4);
  const std::set<int32_t> nucleus = ReferenceNucleus(logits, 0.9, 1e-5);
  SamplingParams params;
  params.top_p = 0.9f;
  params.seed = 10;
  Sampler sampler = MakeSampler(params, kVocab);
  std::set<int32_t> drawn;
  for (int i = 0; i < 2000; ++i) {
    const int32_t token = sampler.Sample(logits);
    ASSERT_TRUE(nucleus.count(token)) << token;
    drawn.insert(token);
  }
  EXPECT_GT(drawn.size(), 1u);
}

TEST(TopPTest, EqualLogitsKeepTheLowestIds) {
  // 65536 equal tokens (one bucket, past the packed ranking's reach) and top_p 0.5: the
  // nucleus is IDs 0..32767.
  constexpr int32_t kVocab = 65536;
  SamplingParams params;
  params.top_p = 0.5f;
  params.seed = 11;
  Sampler sampler = MakeSampler(params, kVocab);
  const std::vector<float> logits(kVocab, 0.25f);
  int32_t highest = 0;
  for (int i = 0; i < 500; ++i) highest = std::max(highest, sampler.Sample(logits));
  EXPECT_LT(highest, kVocab / 2);
  EXPECT_GT(highest, kVocab / 2 - 1000);
}

TEST(TopPTest, TiesAtTheBoundaryKeepTheLowestIds) {
  // Eight tokens at 0 and 24 at -1 (a different bucket); top_p puts the boundary in the middle
  // of the second group: of the tied tokens, the lowest IDs are kept.
  constexpr int32_t kVocab = 2000;
  std::vector<float> logits(kVocab, -kInf);
  for (int32_t i = 0; i < 8; ++i) logits[i * 100 + 50] = 0.0f;
  for (int32_t i = 0; i < 24; ++i) logits[i * 60 + 7] = -1.0f;
  const double e = std::exp(-1.0);
  const double total = 8 + 24 * e;
  SamplingParams params;
  params.top_p = static_cast<float>((8 + 10.5 * e) / total);  // 11 of the 24
  params.seed = 12;
  Sampler sampler = MakeSampler(params, kVocab);
  std::set<int32_t> tied;
  for (int i = 0; i < 4000; ++i) {
    const int32_t token = sampler.Sample(logits);
    if (logits[token] == -1.0f) tied.insert(token);
  }
  std::set<int32_t> expected;
  for (int32_t i = 0; i < 11; ++i) expected.insert(i * 60 + 7);
  EXPECT_EQ(tied, expected);
}

TEST(TopPTest, TinyTopPIsGreedy) {
  constexpr int32_t kVocab = 65536;
  for (const float top_p : {std::numeric_limits<float>::denorm_min(), 1e-6f}) {
    SamplingParams params;
    params.top_p = top_p;
    params.seed = 13;
    Sampler sampler = MakeSampler(params, kVocab);
    SamplingParams greedy;
    greedy.temperature = 0.0f;
    Sampler argmax = MakeSampler(greedy, kVocab);
    for (uint32_t step = 0; step < 10; ++step) {
      std::vector<float> logits = ShapedLogits(Shape::kFlat, kVocab, step);
      if (step % 2) logits[kVocab - 5] = logits[77] = 9.0f;  // a tie for the best
      EXPECT_EQ(sampler.Sample(logits), argmax.Sample(logits)) << "top_p " << top_p;
    }
  }
}

TEST(TopPTest, TopPOneWithMinPKeepsTokensAtLeastMinPOfTheBest) {
  // Probabilities 0.5, 0.3, 0.15, 0.05 spread over blocks; min_p 0.5 keeps p >= 0.25.
  constexpr int32_t kVocab = 1000;
  const std::vector<float> logits =
      SparseLogits(kVocab, {900, 3, 300, 511}, {0.5f, 0.3f, 0.15f, 0.05f});
  SamplingParams params;
  params.min_p = 0.5f;
  params.seed = 14;
  Sampler sampler = MakeSampler(params, kVocab);
  std::set<int32_t> drawn;
  for (int i = 0; i < 2000; ++i) drawn.insert(sampler.Sample(logits));
  EXPECT_EQ(drawn, (std::set<int32_t>{3, 900}));
}

TEST(TopPTest, NegativeZeroMinPCutsNothing) {
  // -0 passes validation (it is >= 0); found by tests/fuzz/sampler_fuzzer.cc.
  constexpr int32_t kVocab = 700;
  SamplingParams params;
  params.top_p = 0.7f;
  params.min_p = -0.0f;
  params.seed = 18;
  SamplingParams listed = params;
  listed.top_k = kVocab;
  Sampler dense = MakeSampler(params, kVocab);
  Sampler reference = MakeSampler(listed, kVocab);
  for (uint32_t step = 0; step < 20; ++step) {
    const std::vector<float> logits = ShapedLogits(Shape::kFlat, kVocab, step);
    ASSERT_EQ(dense.Sample(logits), reference.Sample(logits)) << "step " << step;
  }
}

TEST(TopPTest, FrequenciesMatchTheRenormalizedNucleus) {
  // Probabilities 0.4, 0.3, 0.2, 0.1 at IDs in three draw blocks; top_p 0.8 keeps the first
  // three (0.7 < 0.8 <= 0.9), drawn in proportion 4 : 3 : 2.
  constexpr int32_t kVocab = 600;
  constexpr int kDraws = 20000;
  const std::vector<float> logits =
      SparseLogits(kVocab, {599, 3, 300, 301}, {0.4f, 0.3f, 0.2f, 0.1f});
  SamplingParams params;
  params.top_p = 0.8f;
  params.seed = 15;
  Sampler sampler = MakeSampler(params, kVocab);
  std::map<int32_t, int> counts;
  for (int i = 0; i < kDraws; ++i) ++counts[sampler.Sample(logits)];
  EXPECT_EQ(counts.size(), 3u);
  EXPECT_NEAR(counts[599] / static_cast<double>(kDraws), 0.4 / 0.9, 0.015);
  EXPECT_NEAR(counts[3] / static_cast<double>(kDraws), 0.3 / 0.9, 0.015);
  EXPECT_NEAR(counts[300] / static_cast<double>(kDraws), 0.2 / 0.9, 0.015);
}

TEST(TopPTest, TopKThenTopPKeepsTheNucleusOfTheTopK) {
  constexpr int32_t kVocab = 5000;
  SamplingParams params;
  params.top_k = 40;
  params.top_p = 0.5f;
  params.temperature = 0.7f;
  params.seed = 16;
  Sampler sampler = MakeSampler(params, kVocab);
  for (uint32_t step = 0; step < 20; ++step) {
    const std::vector<float> logits = ShapedLogits(Shape::kPeaked, kVocab, step);
    // The top 40 at temperature 0.7, everything else banned: its nucleus is the reference.
    std::vector<int32_t> order(kVocab);
    std::iota(order.begin(), order.end(), 0);
    std::partial_sort(order.begin(), order.begin() + 40, order.end(),
                      [&](int32_t a, int32_t b) { return logits[a] > logits[b]; });
    std::vector<float> scaled(kVocab, -kInf);
    for (int i = 0; i < 40; ++i) scaled[order[i]] = logits[order[i]] / 0.7f;
    const std::set<int32_t> nucleus = ReferenceNucleus(scaled, 0.5, 1e-5);
    for (int i = 0; i < 50; ++i) {
      const int32_t token = sampler.Sample(logits);
      ASSERT_TRUE(nucleus.count(token)) << "step " << step << " token " << token;
    }
  }
}

TEST(TopPTest, NonFiniteLogits) {
  constexpr int32_t kVocab = 3000;
  std::vector<float> logits = ShapedLogits(Shape::kFlat, kVocab, 5);
  for (int32_t id = 0; id < kVocab; id += 7) logits[id] = kNan;
  logits[9] = kInf;  // counts as the largest float: ties with ID 4, which ranks first
  logits[4] = std::numeric_limits<float>::max();
  for (const float top_p : {0.5f, 0.9f}) {
    SamplingParams params;
    params.top_p = top_p;
    params.seed = 17;
    Sampler sampler = MakeSampler(params, kVocab);
    std::set<int32_t> drawn;
    for (int i = 0; i < 500; ++i) drawn.insert(sampler.Sample(logits));
    const std::set<int32_t> expected =
        top_p == 0.5f ? std::set<int32_t>{4} : std::set<int32_t>{4, 9};
    EXPECT_EQ(drawn, expected) << "top_p " << top_p;
  }
  SamplingParams params;
  params.top_p = 0.9f;
  params.min_p = 0.1f;
  Sampler sampler = MakeSampler(params, kVocab);
  EXPECT_EQ(sampler.Sample(std::vector<float>(kVocab, kNan)), 0);  // everything banned
  const std::vector<float> one_left = {-kInf, kNan, 2.0f, -kInf};
  EXPECT_EQ(MakeSampler(params, 4).Sample(one_left), 2);
}

TEST(TopPTest, BucketsFollowTheScoreDistance) {
  const float per_score = TopPBucketsPerScore(1.0f);
  EXPECT_EQ(TopPBucket(0.0f, per_score), 0);
  EXPECT_EQ(TopPBucket(-0.0f, per_score), 0);
  EXPECT_EQ(TopPBucket(1.0f / 32.0f, per_score), 1);
  EXPECT_EQ(TopPBucket(1.0f, per_score), 32);
  EXPECT_EQ(TopPBucket(31.99f, per_score), 1023);
  EXPECT_EQ(TopPBucket(1e30f, per_score), kTopPBuckets - 1);
  EXPECT_EQ(TopPBucket(kInf, per_score), kTopPBuckets - 1);
  EXPECT_EQ(TopPBucket(kNan, per_score), kTopPBuckets - 1);
  // A denormal temperature caps the multiplier; the best token stays in bucket 0.
  const float capped = TopPBucketsPerScore(std::numeric_limits<float>::denorm_min());
  EXPECT_EQ(capped, std::numeric_limits<float>::max());
  EXPECT_EQ(TopPBucket(0.0f, capped), 0);
  EXPECT_EQ(TopPBucket(1e-30f, capped), kTopPBuckets - 1);
}

TEST(TopPTest, BoundaryBucketIsWhereTheMassReachesTheTarget) {
  const std::vector<double> masses = {1.0, 0.0, 2.0, 0.5};
  double mass = 0.0;
  EXPECT_EQ(BoundaryBucket(masses, 1.0, &mass), 0);
  EXPECT_EQ(mass, 0.0);
  mass = 0.0;
  EXPECT_EQ(BoundaryBucket(masses, 2.5, &mass), 2);
  EXPECT_EQ(mass, 1.0);
  mass = 0.0;
  EXPECT_EQ(BoundaryBucket(masses, 3.6, &mass), 4);  // never reached
}

}  // namespace
}  // namespace rwkv::engine
