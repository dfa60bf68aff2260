// RWKV-4 time mix (architecture doc §4.1): per-channel WKV with a numerator, a denominator and a
// running maximum exponent so nothing overflows.
#include "engine/forward/time_mix_base.h"
#include "engine/forward/wkv.h"

namespace rwkv::engine {
namespace {

class TimeMixV4 final : public TimeMixBase {
 public:
  TimeMixV4(const ModelConfig& config, int layer) : TimeMixBase(config, layer) {}

  absl::Status Load(WeightReader& reader) {
    RWKV_RETURN_IF_ERROR(LoadVectors(
        reader,
        {"att.time_mix_k", "att.time_mix_v", "att.time_mix_r", "att.time_decay", "att.time_first"},
        {&mix_k_, &mix_v_, &mix_r_, &decay_, &first_}));
    return LoadProjections(reader);
  }

  absl::Status Forward(StepContext& step, const float* a, float* x) const override {
    const float* prev = ShiftedInput(step, a);
    RWKV_ASSIGN_OR_RETURN(Rkv rkv,
                          LerpProject(step, a, prev, mix_k_, mix_v_, mix_r_, Epilogue::kSigmoid));
    float* y = step.scratch.Alloc(step.batch.rows * width_);
    WkvV4(step.batch, width_, wkv_offset_, first_.data(), decay_.data(), rkv.r, rkv.k, rkv.v, y);
    return Output(step, y, x);
  }

 private:
  std::vector<float> mix_k_, mix_v_, mix_r_, decay_, first_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<TimeMix>> LoadTimeMixV4(WeightReader& reader,
                                                       const ModelConfig& config, int layer) {
  auto module = std::make_unique<TimeMixV4>(config, layer);
  RWKV_RETURN_IF_ERROR(module->Load(reader));
  return module;
}

}  // namespace rwkv::engine
