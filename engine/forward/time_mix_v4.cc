// RWKV-4 time mix (architecture doc §4.1): per-channel WKV with a numerator, a denominator and a
// running maximum exponent so nothing overflows.
#include <algorithm>
#include <cmath>

#include "engine/forward/layer_modules.h"
#include "engine/forward/token_shift.h"
#include "engine/model/state_layout.h"
#include "engine/util/status_macros.h"

namespace rwkv::engine {
namespace {

class TimeMixV4 final : public TimeMix {
 public:
  TimeMixV4(const ModelConfig& config, int layer) : width_(config.n_embed) {
    StateLayout layout(config);
    shift_offset_ = layout.AttShift(layer);
    wkv_offset_ = layout.Wkv(layer);
  }

  absl::Status Load(WeightReader& reader, int layer) {
    const int64_t c = width_;
    auto name = [layer](const char* suffix) { return BlockTensor(layer, suffix); };
    RWKV_ASSIGN_OR_RETURN(mix_k_, reader.Vector(name("att.time_mix_k"), {c}));
    RWKV_ASSIGN_OR_RETURN(mix_v_, reader.Vector(name("att.time_mix_v"), {c}));
    RWKV_ASSIGN_OR_RETURN(mix_r_, reader.Vector(name("att.time_mix_r"), {c}));
    RWKV_ASSIGN_OR_RETURN(decay_, reader.Vector(name("att.time_decay"), {c}));
    RWKV_ASSIGN_OR_RETURN(first_, reader.Vector(name("att.time_first"), {c}));
    RWKV_ASSIGN_OR_RETURN(key_, reader.Matrix(name("att.key.weight"), c, c));
    RWKV_ASSIGN_OR_RETURN(value_, reader.Matrix(name("att.value.weight"), c, c));
    RWKV_ASSIGN_OR_RETURN(receptance_, reader.Matrix(name("att.receptance.weight"), c, c));
    RWKV_ASSIGN_OR_RETURN(output_, reader.Matrix(name("att.output.weight"), c, c));
    return absl::OkStatus();
  }

  absl::Status Forward(StepContext& step, const float* a, float* x) const override {
    const int64_t rows = step.batch.rows;
    const int64_t n = rows * width_;
    float* prev = step.scratch.Alloc(n);
    TokenShift(step.batch, a, width_, shift_offset_, prev);
    float* xk = step.scratch.Alloc(n);
    float* xv = step.scratch.Alloc(n);
    float* xr = step.scratch.Alloc(n);
    LerpMix(rows, width_, a, prev, {{mix_k_.data(), xk}, {mix_v_.data(), xv}, {mix_r_.data(), xr}});
    float* r = step.scratch.Alloc(n);
    float* k = step.scratch.Alloc(n);
    float* v = step.scratch.Alloc(n);
    RWKV_RETURN_IF_ERROR(receptance_.Apply(step.matmul, xr, rows, r, Epilogue::kSigmoid));
    RWKV_RETURN_IF_ERROR(key_.Apply(step.matmul, xk, rows, k));
    RWKV_RETURN_IF_ERROR(value_.Apply(step.matmul, xv, rows, v));
    float* y = step.scratch.Alloc(n);
    Recurrence(step.batch, r, k, v, y);
    return output_.Apply(step.matmul, y, rows, x, Epilogue::kAccumulate);
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

  int64_t width_;
  int64_t shift_offset_ = 0;
  int64_t wkv_offset_ = 0;
  std::vector<float> mix_k_, mix_v_, mix_r_, decay_, first_;
  Linear key_, value_, receptance_, output_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<TimeMix>> LoadTimeMixV4(WeightReader& reader,
                                                       const ModelConfig& config, int layer) {
  auto module = std::make_unique<TimeMixV4>(config, layer);
  RWKV_RETURN_IF_ERROR(module->Load(reader, layer));
  return module;
}

}  // namespace rwkv::engine
