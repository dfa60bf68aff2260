// rwkv-bench's sampling figures: what picking one token costs on the engine thread, per
// sequence and step, for the usual settings (greedy, temperature, nucleus, top-k with
// penalties), on logits the model itself produced.
#ifndef RWKV_ENGINE_TOOLS_SAMPLING_BENCH_H_
#define RWKV_ENGINE_TOOLS_SAMPLING_BENCH_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace rwkv::engine {

struct SamplingCost {
  std::string setting;  // "greedy", "temperature 1", ...
  double microseconds = 0;  // per Sample call
};

// `logits` rescaled to a standard deviation of 4: a peaked distribution whose top-p 0.9
// nucleus holds a handful of tokens, as a trained model's often does (the random models'
// logits are nearly flat: the nucleus holds most of the vocabulary).
std::vector<float> PeakedLogits(absl::Span<const float> logits);

// Each setting timed for at least `min_seconds` on `logits` (one row of the vocabulary).
absl::StatusOr<std::vector<SamplingCost>> MeasureSampling(absl::Span<const float> logits,
                                                          double min_seconds);

}  // namespace rwkv::engine

#endif  // RWKV_ENGINE_TOOLS_SAMPLING_BENCH_H_
