// RWKV-4 time mix (architecture doc §4.1): per-channel WKV with a numerator, a denominator and a
// running maximum exponent so nothing overflows.
#include <algorithm>
#include <cmath>

#include "engine/forward/time_mix_base.h"

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
    Recurrence(step.batch, rkv.r, rkv.k, rkv.v, y);
    return Output(step, y, x);
  }

 private:
  static constexpr int64_t kChannelBlock = 64;

  // y = r * wkv for every row, updating (aa, bb, pp) of every sequence.
  void Recurrence(const PackedBatch& batch, const float* r, const float* k, const float* v,
                  float* y) const {
    const int64_t blocks = (width_ + kChannelBlock - 1) / kChannelBlock;
    const int64_t tasks = static_cast<int64_t>(batch.sequences.size()) * blocks;
#pragma omp parallel for schedule(static) if (tasks > 1)
    for (int64_t task = 0; task < tasks; ++task) {
      const SequenceRows& seq = batch.sequences[task / blocks];
      const int64_t c0 = (task % blocks) * kChannelBlock;
      const int64_t c1 = std::min(width_, c0 + kChannelBlock);
      float* aa = seq.state + wkv_offset_;
      float* bb = aa + width_;
      float* pp = bb + width_;
      for (int64_t t = seq.begin; t < seq.begin + seq.count; ++t) {
        const int64_t row = t * width_;
        for (int64_t c = c0; c < c1; ++c) {
          const float kk = k[row + c];
          const float vv = v[row + c];
          float ww = first_[c] + kk;
          float q = std::max(pp[c], ww);
          float e1 = std::exp(pp[c] - q);
          float e2 = std::exp(ww - q);
          y[row + c] = r[row + c] * ((e1 * aa[c] + e2 * vv) / (e1 * bb[c] + e2));
          ww = pp[c] + decay_[c];
          q = std::max(ww, kk);
          e1 = std::exp(ww - q);
          e2 = std::exp(kk - q);
          aa[c] = e1 * aa[c] + e2 * vv;
          bb[c] = e1 * bb[c] + e2;
          pp[c] = q;
        }
      }
    }
  }

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
