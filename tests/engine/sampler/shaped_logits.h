// Logit rows of named shapes for the sampler's tests: roughly normal, peaked, tied, non-finite,
// nearly equal, far-tailed, mostly or wholly banned, or signed zeros. Deterministic by seed.
//
//   for (uint32_t step = 0; step < 10; ++step) {
//     const std::vector<float> logits = ShapedLogits(Shape::kTies, 5003, step);
//     ...
//   }
#ifndef RWKV_TESTS_ENGINE_SAMPLER_SHAPED_LOGITS_H_
#define RWKV_TESTS_ENGINE_SAMPLER_SHAPED_LOGITS_H_

#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "engine/sampler/sampler.h"

namespace rwkv::engine {

enum class Shape {
  kFlat,         // standard deviation 0.6
  kPeaked,       // standard deviation 4
  kTies,         // kFlat rounded to quarters
  kNonFinite,    // kFlat with NaN, -inf, the largest float and +inf at fixed IDs
  kNearlyEqual,  // standard deviation 1e-4
  kFarTail,      // two thirds of the IDs 40 to 90 below the rest
  kFewFinite,    // one ID in 512 finite (where, varies by seed); the others NaN, -NaN or -inf
  kAllBanned,    // NaN, -NaN and -inf only
  kSignedZeros,  // +0 and -0 alternating: one score
};

// "flat", "non-finite", ...
std::string ShapeName(Shape shape);

// Roughly normal logits (a sum of four uniforms), then shaped.
std::vector<float> ShapedLogits(Shape shape, int32_t vocab_size, uint32_t seed);

// A parameterized test's row shape and vocabulary size, and its name ("non_finite_5003").
struct ShapeCase {
  Shape shape;
  int32_t vocab_size;
};
std::string ShapeCaseName(const ShapeCase& c);
void PrintTo(const ShapeCase& c, std::ostream* os);  // for GoogleTest's messages

// Sampler::Create that fails the test on an error.
Sampler MakeSampler(const SamplingParams& params, int32_t vocab_size);

}  // namespace rwkv::engine

#endif  // RWKV_TESTS_ENGINE_SAMPLER_SHAPED_LOGITS_H_
