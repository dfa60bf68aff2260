#include "tests/engine/sampler/shaped_logits.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace rwkv::engine {
namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr float kNan = std::numeric_limits<float>::quiet_NaN();

// Mostly or wholly banned rows: every banned form the sampler must treat alike.
float Banned(int32_t id) { return id % 3 == 0 ? kNan : id % 3 == 1 ? -kNan : -kInf; }

}  // namespace

std::string ShapeName(Shape shape) {
  switch (shape) {
    case Shape::kFlat:
      return "flat";
    case Shape::kPeaked:
      return "peaked";
    case Shape::kTies:
      return "ties";
    case Shape::kNonFinite:
      return "non-finite";
    case Shape::kNearlyEqual:
      return "nearly-equal";
    case Shape::kFarTail:
      return "far-tail";
    case Shape::kFewFinite:
      return "few-finite";
    case Shape::kAllBanned:
      return "all-banned";
    case Shape::kSignedZeros:
      return "signed-zeros";
  }
  return "unknown";
}

std::vector<float> ShapedLogits(Shape shape, int32_t vocab_size, uint32_t seed) {
  const float sd = shape == Shape::kPeaked ? 4.0f : shape == Shape::kNearlyEqual ? 1e-4f : 0.6f;
  std::vector<float> logits(vocab_size);
  uint64_t x = seed * 0x9e3779b97f4a7c15ULL + 7;
  for (int32_t id = 0; id < vocab_size; ++id) {
    float sum = 0.0f;
    for (int k = 0; k < 4; ++k) {
      x = x * 6364136223846793005ULL + 1442695040888963407ULL;
      sum += static_cast<float>(x >> 40) / static_cast<float>(1 << 24) - 0.5f;
    }
    float logit = sum * sd * 1.7320508f;  // four uniforms on [-0.5, 0.5] have sd 1/sqrt(3)
    if (shape == Shape::kTies) logit = std::round(logit * 4.0f) / 4.0f;
    if (shape == Shape::kNonFinite) {
      if (id % 97 == 5) logit = kNan;
      if (id % 89 == 3) logit = -kInf;
      if (id % 1013 == 11) logit = std::numeric_limits<float>::max();
      if (id % 2027 == 13) logit = kInf;
    }
    if (shape == Shape::kFarTail && id % 3 != 0) logit = -40.0f - static_cast<float>(id % 50);
    if (shape == Shape::kFewFinite && (id + seed) % 512 != 0) logit = Banned(id);
    if (shape == Shape::kAllBanned) logit = Banned(id);
    if (shape == Shape::kSignedZeros) logit = id % 2 == 0 ? 0.0f : -0.0f;
    logits[id] = logit;
  }
  return logits;
}

std::string ShapeCaseName(const ShapeCase& c) {
  std::string name = absl::StrCat(ShapeName(c.shape), "_", c.vocab_size);
  std::replace(name.begin(), name.end(), '-', '_');
  return name;
}

void PrintTo(const ShapeCase& c, std::ostream* os) { *os << ShapeCaseName(c); }

Sampler MakeSampler(const SamplingParams& params, int32_t vocab_size) {
  absl::StatusOr<Sampler> sampler = Sampler::Create(params, vocab_size);
  EXPECT_TRUE(sampler.ok()) << sampler.status();
  return std::move(sampler).value();
}

}  // namespace rwkv::engine
