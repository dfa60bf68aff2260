// Top-k up to the heap's k without a logit bias or penalties ranks the caller's logits row where
// it is; with one (or a larger k), the sampler first prepares a sanitized copy. A bias of 0 on one
// token changes no score, so the same params with it must draw the same tokens: these check that,
// token for token, over many seeds, shapes of logits (non-finite and all-banned rows included) and
// every cut after top-k.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <set>
#include <utility>
#include <vector>

#include "engine/sampler/sampler.h"
#include "gtest/gtest.h"
#include "tests/engine/sampler/shaped_logits.h"

namespace rwkv::engine {
namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr float kNan = std::numeric_limits<float>::quiet_NaN();
// The sampler's heap top-k goes up to this k (sampler.cc's kMaxHeapTopK); above, it lists.
constexpr int32_t kMaxHeapTopK = 1024;

// A sampler with `params`, and one with a bias of 0 on `id`: on the prepared scores.
std::pair<Sampler, Sampler> InPlaceAndPrepared(SamplingParams params, int32_t vocab_size,
                                               int32_t id) {
  Sampler in_place = MakeSampler(params, vocab_size);
  params.logit_bias = {{id, 0.0f}};
  return {std::move(in_place), MakeSampler(params, vocab_size)};
}

class TopKInPlaceTest : public testing::TestWithParam<ShapeCase> {};

// The same draws, step after step, from top-k on the row in place and on the prepared copy
// (forced by a bias of 0), for k from 1 to the vocabulary (past the heap's k both prepare)
// and every cut after it.
TEST_P(TopKInPlaceTest, DrawsAsThePreparedScores) {
  const ShapeCase c = GetParam();
  const int steps = c.vocab_size > 10000 ? 3 : 12;
  const int32_t top_ks[] = {1, 2, 40, kMaxHeapTopK, kMaxHeapTopK + 1, c.vocab_size};
  struct Cut {
    float temperature, top_p, min_p;
  };
  const Cut cuts[] = {{0.0f, 1.0f, 0.0f}, {1.0f, 1.0f, 0.0f},   {0.7f, 0.95f, 0.0f},
                      {1.5f, 0.5f, 0.0f}, {1.0f, 1e-6f, 0.0f},  {1.0f, 0.9f, 0.05f},
                      {0.7f, 1.0f, 0.2f}, {1e-30f, 0.9f, 0.0f}, {100.0f, 0.99f, 0.01f}};
  for (const int32_t top_k : top_ks) {
    for (const Cut& cut : cuts) {
      SamplingParams params;
      params.seed = 1000 + top_k;
      params.top_k = top_k;
      params.temperature = cut.temperature;
      params.top_p = cut.top_p;
      params.min_p = cut.min_p;
      auto [in_place, prepared] = InPlaceAndPrepared(params, c.vocab_size, c.vocab_size / 2);
      for (int step = 0; step < steps; ++step) {
        const std::vector<float> logits = ShapedLogits(c.shape, c.vocab_size, step);
        ASSERT_EQ(in_place.Sample(logits), prepared.Sample(logits))
            << "top_k " << top_k << " T " << cut.temperature << " top_p " << cut.top_p << " min_p "
            << cut.min_p << " step " << step;
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, TopKInPlaceTest,
    testing::Values(ShapeCase{Shape::kFlat, 5003}, ShapeCase{Shape::kPeaked, 5003},
                    ShapeCase{Shape::kTies, 5003}, ShapeCase{Shape::kNonFinite, 5003},
                    ShapeCase{Shape::kNearlyEqual, 5003}, ShapeCase{Shape::kFarTail, 5003},
                    ShapeCase{Shape::kFewFinite, 5003}, ShapeCase{Shape::kAllBanned, 5003},
                    ShapeCase{Shape::kSignedZeros, 5003}, ShapeCase{Shape::kFlat, 65536},
                    ShapeCase{Shape::kTies, 65536}, ShapeCase{Shape::kNonFinite, 65536}),
    [](const testing::TestParamInfo<ShapeCase>& info) { return ShapeCaseName(info.param); });

// Many seeds on the settings chat clients send: the in-place top-k keeps every draw.
TEST(TopKTest, ManySeedsDrawAsThePreparedScores) {
  constexpr int32_t kVocab = 4099;
  for (uint64_t seed = 0; seed < 64; ++seed) {
    SamplingParams params;
    params.seed = seed;
    params.top_k = 40;
    params.temperature = 0.7f;
    params.top_p = 0.95f;
    auto [in_place, prepared] = InPlaceAndPrepared(params, kVocab, seed % kVocab);
    for (uint32_t step = 0; step < 16; ++step) {
      const Shape shape = step % 2 == 0 ? Shape::kFlat : Shape::kPeaked;
      const std::vector<float> logits = ShapedLogits(shape, kVocab, step + 31 * seed);
      ASSERT_EQ(in_place.Sample(logits), prepared.Sample(logits))
          << "seed " << seed << " step " << step;
    }
  }
}

// Non-finite logits rank as the prepared scores do: NaN never, +inf as the largest float (above
// every finite score, ties to the lowest ID), -inf never while a finite score remains.
TEST(TopKTest, NonFiniteLogitsRankAsSanitized) {
  std::vector<float> logits(300, -kInf);
  logits[3] = kNan;
  logits[7] = 1.0f;
  logits[9] = kInf;
  logits[12] = kInf;
  logits[20] = std::numeric_limits<float>::max();
  SamplingParams params;
  params.top_k = 1;
  params.seed = 5;
  Sampler sampler = MakeSampler(params, 300);
  for (int i = 0; i < 20; ++i) EXPECT_EQ(sampler.Sample(logits), 9);
  params.top_k = 10;  // only 7, 9, 12 and 20 are finite once sanitized; 7 weighs e^-max = 0
  sampler = MakeSampler(params, 300);
  for (int i = 0; i < 50; ++i) {
    const int32_t token = sampler.Sample(logits);
    EXPECT_TRUE(token == 9 || token == 12 || token == 20) << token;
  }
}

// The k best by (sanitized score, then lower ID), computed here the slow way.
std::set<int32_t> ReferenceTopK(const std::vector<float>& logits, int32_t k) {
  auto sanitized = [&](int32_t id) {
    const float x = logits[id];
    return std::isnan(x) ? -kInf : x == kInf ? std::numeric_limits<float>::max() : x;
  };
  std::vector<int32_t> ids;
  for (int32_t id = 0; id < static_cast<int32_t>(logits.size()); ++id) {
    if (sanitized(id) != -kInf) ids.push_back(id);
  }
  std::stable_sort(ids.begin(), ids.end(),
                   [&](int32_t a, int32_t b) { return sanitized(a) > sanitized(b); });
  ids.resize(std::min<size_t>(ids.size(), k));
  return std::set<int32_t>(ids.begin(), ids.end());
}

// Zeros of both signs tie (the lowest IDs win), NaN of either sign and -inf never make the
// cut, +inf beats every finite score: around the heap's root, in blocks it might skip.
TEST(TopKTest, KeepsTheReferenceTopKAroundZerosAndNonFinite) {
  constexpr int32_t kVocab = 1000;
  for (uint32_t seed = 0; seed < 8; ++seed) {
    std::vector<float> logits(kVocab, -1.0f);
    for (int32_t id = 0; id < kVocab; ++id) {
      const uint32_t r = (id * 2654435761u + seed * 40503u) % 11;
      if (r < 3) logits[id] = r == 0 ? 0.0f : -0.0f;
      if (r == 3) logits[id] = id % 2 == 0 ? kNan : -kNan;
      if (r == 4 && id % 50 == static_cast<int32_t>(seed)) logits[id] = kInf;
      if (r == 5) logits[id] = -kInf;
      if (r == 6 && id % 7 == 0) logits[id] = 0.5f;
    }
    for (const int32_t k : {1, 5, 30, 200}) {
      const std::set<int32_t> expected = ReferenceTopK(logits, k);
      SamplingParams params;
      params.seed = seed;
      params.top_k = k;
      params.temperature = 100.0f;  // nearly uniform over the kept tokens (+inf's weigh 1)
      Sampler sampler = MakeSampler(params, kVocab);
      for (int draw = 0; draw < 300; ++draw) {
        const int32_t token = sampler.Sample(logits);
        ASSERT_TRUE(expected.count(token)) << "seed " << seed << " k " << k << " token " << token;
      }
    }
  }
}

// A block whose best score is -0 still beats a negative root: -0 ranks as +0.
TEST(TopKTest, NegativeZeroBeatsANegativeRoot) {
  std::vector<float> logits(256, -5.0f);
  logits[0] = logits[1] = -1.0f;  // the heap's first root
  logits[100] = -0.0f;            // alone in its block of 64
  logits[150] = -0.0f;
  logits[200] = kNan;
  SamplingParams params;
  params.top_k = 2;
  params.temperature = 100.0f;
  Sampler sampler = MakeSampler(params, 256);
  std::set<int32_t> drawn;
  for (int draw = 0; draw < 100; ++draw) drawn.insert(sampler.Sample(logits));
  EXPECT_EQ(drawn, (std::set<int32_t>{100, 150}));
}

// Every logit -inf or NaN: nothing to draw, token 0, as on the prepared path.
TEST(TopKTest, AllBannedRowGivesTokenZero) {
  const std::vector<float> logits = ShapedLogits(Shape::kAllBanned, 777, 0);
  for (const int32_t top_k : {1, 40, 777}) {
    SamplingParams params;
    params.top_k = top_k;
    params.top_p = 0.9f;
    Sampler sampler = MakeSampler(params, 777);
    EXPECT_EQ(sampler.Sample(logits), 0) << "top_k " << top_k;
  }
}

// The heap's k rank codes count in a top-k sampler's scratch, and never past a cutting
// sampler's (the server's largest turn assumes one: server/turns/state_budget.cc).
TEST(TopKTest, ScratchBytesCountTheHeap) {
  for (const int32_t vocab : {100, 5003, 65536}) {
    const int64_t plain = Sampler::ScratchBytes(vocab);
    SamplingParams cutting;
    cutting.top_p = 0.5f;
    for (const int32_t k : {1, 40, 100, kMaxHeapTopK, kMaxHeapTopK + 1}) {
      if (k > vocab) continue;
      SamplingParams params;
      params.top_k = k;
      const int64_t heap = k <= kMaxHeapTopK ? k * int64_t{sizeof(uint64_t)} : 0;
      EXPECT_EQ(Sampler::ScratchBytes(vocab, params), plain + heap) << vocab << " " << k;
      EXPECT_LE(Sampler::ScratchBytes(vocab, params), Sampler::ScratchBytes(vocab, cutting));
      params.top_p = 0.5f;
      EXPECT_EQ(Sampler::ScratchBytes(vocab, params), Sampler::ScratchBytes(vocab, cutting));
    }
  }
}

}  // namespace
}  // namespace rwkv::engine
