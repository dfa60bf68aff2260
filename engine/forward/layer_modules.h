// The two modules of every RWKV layer, one implementation per architecture version.
//
// A layer is  x += TimeMix(LN1(x));  x += ChannelMix(LN2(x)).  Each module reads the normalized
// input of every packed row, adds its output to the residual rows `x`, and updates the state of
// every sequence in the batch (token-shift vector and, for TimeMix, the WKV recurrence).
// Modules own their weights and are immutable after loading; Forward is called from one thread
// at a time (it parallelizes internally).
#ifndef RWKV_ENGINE_FORWARD_LAYER_MODULES_H_
#define RWKV_ENGINE_FORWARD_LAYER_MODULES_H_

#include <memory>

#include "absl/status/statusor.h"
#include "engine/forward/batch.h"
#include "engine/forward/weight_reader.h"
#include "engine/model/model_config.h"

namespace rwkv::engine {

class TimeMix {
 public:
  virtual ~TimeMix() = default;
  // `a`: ln1 output [rows, C]. `x`: residual [rows, C], incremented in place.
  virtual absl::Status Forward(StepContext& step, const float* a, float* x) const = 0;
};

class ChannelMix {
 public:
  virtual ~ChannelMix() = default;
  // `b`: ln2 output [rows, C]. `x`: residual [rows, C], incremented in place.
  virtual absl::Status Forward(StepContext& step, const float* b, float* x) const = 0;
};

absl::StatusOr<std::unique_ptr<TimeMix>> LoadTimeMixV4(WeightReader& reader,
                                                       const ModelConfig& config, int layer);
absl::StatusOr<std::unique_ptr<TimeMix>> LoadTimeMixV5(WeightReader& reader,
                                                       const ModelConfig& config, int layer);
absl::StatusOr<std::unique_ptr<TimeMix>> LoadTimeMixV6(WeightReader& reader,
                                                       const ModelConfig& config, int layer);
absl::StatusOr<std::unique_ptr<TimeMix>> LoadTimeMixV7(WeightReader& reader,
                                                       const ModelConfig& config, int layer);

// Dispatches on config.version.
absl::StatusOr<std::unique_ptr<TimeMix>> LoadTimeMix(WeightReader& reader,
                                                     const ModelConfig& config, int layer);
absl::StatusOr<std::unique_ptr<ChannelMix>> LoadChannelMix(WeightReader& reader,
                                                           const ModelConfig& config, int layer);

}  // namespace rwkv::engine

#endif  // RWKV_ENGINE_FORWARD_LAYER_MODULES_H_
