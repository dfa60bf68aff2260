// RWKV-5.1 and 5.2 time mix (architecture doc §4.2): per-head matrix-valued WKV state with a
// constant per-channel decay, GroupNorm, and (5.2) a SiLU gate.
#include <cmath>

#include "engine/compute/ops.h"
#include "engine/forward/layer_modules.h"
#include "engine/forward/token_shift.h"
#include "engine/forward/wkv.h"
#include "engine/model/state_layout.h"
#include "engine/util/status_macros.h"

namespace rwkv::engine {
namespace {

class TimeMixV5 final : public TimeMix {
 public:
  TimeMixV5(const ModelConfig& config, int layer)
      : width_(config.n_embed),
        heads_(config.n_head),
        head_size_(config.head_size),
        gated_(config.version == ArchVersion::kV5_2),
        eps_(config.group_norm_eps) {
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
    if (gated_) {
      // 5.2: per-channel decay exp(-exp(w)) and raw bonus, both [1, N, H].
      RWKV_ASSIGN_OR_RETURN(decay_, reader.Vector(name("att.time_decay"), {1, head_size_, heads_}));
      RWKV_ASSIGN_OR_RETURN(bonus_, reader.Vector(name("att.time_faaaa"), {1, head_size_, heads_}));
      RWKV_ASSIGN_OR_RETURN(mix_g_, reader.Vector(name("att.time_mix_g"), {c}));
      RWKV_ASSIGN_OR_RETURN(gate_, reader.Matrix(name("att.gate.weight"), c, c));
    } else {
      // 5.1: one decay and one bonus (already exp'd) per head, [1, 1, H].
      RWKV_ASSIGN_OR_RETURN(std::vector<float> decay,
                            reader.Vector(name("att.time_decay"), {1, 1, heads_}));
      RWKV_ASSIGN_OR_RETURN(std::vector<float> first,
                            reader.Vector(name("att.time_first"), {1, 1, heads_}));
      decay_ = PerChannel(decay);
      bonus_ = PerChannel(first);
    }
    RWKV_ASSIGN_OR_RETURN(ln_x_weight_, reader.Vector(name("att.ln_x.weight"), {c}));
    RWKV_ASSIGN_OR_RETURN(ln_x_bias_, reader.Vector(name("att.ln_x.bias"), {c}));
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
    RWKV_RETURN_IF_ERROR(receptance_.Apply(step.matmul, xr, rows, r));
    RWKV_RETURN_IF_ERROR(key_.Apply(step.matmul, xk, rows, k));
    RWKV_RETURN_IF_ERROR(value_.Apply(step.matmul, xv, rows, v));
    float* y = step.scratch.Alloc(n);
    WkvV5(step.batch, {heads_, head_size_, wkv_offset_}, r, k, v, decay_.data(),
          /*w_per_row=*/false, bonus_.data(), y);
    GroupNormRows(y, rows, width_, heads_, ln_x_weight_.data(), ln_x_bias_.data(), eps_, y);
    if (gated_) {
      float* xg = xk;  // xk is no longer needed
      LerpMix(rows, width_, a, prev, {{mix_g_.data(), xg}});
      float* g = k;
      RWKV_RETURN_IF_ERROR(gate_.Apply(step.matmul, xg, rows, g, Epilogue::kSilu));
      for (int64_t i = 0; i < n; ++i) y[i] *= g[i];
    }
    return output_.Apply(step.matmul, y, rows, x, Epilogue::kAccumulate);
  }

 private:
  std::vector<float> PerChannel(const std::vector<float>& per_head) const {
    std::vector<float> out(width_);
    for (int64_t c = 0; c < width_; ++c) out[c] = per_head[c / head_size_];
    return out;
  }

  int64_t width_, heads_, head_size_;
  bool gated_;
  float eps_;
  int64_t shift_offset_ = 0;
  int64_t wkv_offset_ = 0;
  std::vector<float> mix_k_, mix_v_, mix_r_, mix_g_, decay_, bonus_, ln_x_weight_, ln_x_bias_;
  Linear key_, value_, receptance_, gate_, output_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<TimeMix>> LoadTimeMixV5(WeightReader& reader,
                                                       const ModelConfig& config, int layer) {
  auto module = std::make_unique<TimeMixV5>(config, layer);
  RWKV_RETURN_IF_ERROR(module->Load(reader, layer));
  return module;
}

}  // namespace rwkv::engine
