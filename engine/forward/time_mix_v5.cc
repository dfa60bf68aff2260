// RWKV-5.1 and 5.2 time mix (architecture doc §4.2): per-head matrix-valued WKV state with a
// constant per-channel decay, GroupNorm, and (5.2) a SiLU gate.
#include "engine/compute/ops.h"
#include "engine/forward/time_mix_base.h"
#include "engine/forward/wkv.h"

namespace rwkv::engine {
namespace {

class TimeMixV5 final : public TimeMixBase {
 public:
  TimeMixV5(const ModelConfig& config, int layer)
      : TimeMixBase(config, layer), gated_(config.version == ArchVersion::kV5_2) {}

  absl::Status Load(WeightReader& reader) {
    RWKV_RETURN_IF_ERROR(LoadVectors(
        reader,
        {"att.time_mix_k", "att.time_mix_v", "att.time_mix_r", "att.ln_x.weight", "att.ln_x.bias"},
        {&mix_k_, &mix_v_, &mix_r_, &ln_x_weight_, &ln_x_bias_}));
    const std::vector<int64_t> per_channel = {1, head_size_, heads_};
    if (gated_) {
      // 5.2: per-channel decay exp(-exp(w)) and raw bonus, both [1, N, H].
      RWKV_ASSIGN_OR_RETURN(decay_, reader.Vector(Name("att.time_decay"), per_channel));
      RWKV_ASSIGN_OR_RETURN(bonus_, reader.Vector(Name("att.time_faaaa"), per_channel));
      RWKV_RETURN_IF_ERROR(LoadVectors(reader, {"att.time_mix_g"}, {&mix_g_}));
      RWKV_ASSIGN_OR_RETURN(gate_, reader.Matrix(Name("att.gate.weight"), width_, width_));
    } else {
      // 5.1: one decay and one bonus (already exp'd) per head, [1, 1, H].
      RWKV_ASSIGN_OR_RETURN(std::vector<float> decay,
                            reader.Vector(Name("att.time_decay"), {1, 1, heads_}));
      RWKV_ASSIGN_OR_RETURN(std::vector<float> first,
                            reader.Vector(Name("att.time_first"), {1, 1, heads_}));
      decay_ = PerChannel(decay);
      bonus_ = PerChannel(first);
    }
    return LoadProjections(reader);
  }

  absl::Status Forward(StepContext& step, const float* a, float* x) const override {
    const int64_t rows = step.batch.rows;
    const int64_t n = rows * width_;
    const float* prev = ShiftedInput(step, a);
    const MixTarget gate_mix{mix_g_.data(), gated_ ? step.scratch.Alloc(n) : nullptr};
    RWKV_ASSIGN_OR_RETURN(Rkv rkv, LerpProject(step, a, prev, mix_k_, mix_v_, mix_r_,
                                               Epilogue::kNone, gated_ ? &gate_mix : nullptr));
    float* y = step.scratch.Alloc(n);
    WkvV5(step.batch, {heads_, head_size_, wkv_offset_}, rkv.r, rkv.k, rkv.v, decay_.data(),
          /*w_per_row=*/false, bonus_.data(), y);
    GroupNormRows(y, rows, width_, heads_, ln_x_weight_.data(), ln_x_bias_.data(), eps_, y);
    if (gated_) {
      float* g = step.scratch.Alloc(n);
      RWKV_RETURN_IF_ERROR(gate_.Apply(step.matmul, gate_mix.out, rows, g, Epilogue::kSilu));
      MultiplyRows(rows, width_, g, y);
    }
    return Output(step, y, x);
  }

 private:
  std::vector<float> PerChannel(const std::vector<float>& per_head) const {
    std::vector<float> out(width_);
    for (int64_t c = 0; c < width_; ++c) out[c] = per_head[c / head_size_];
    return out;
  }

  bool gated_;
  std::vector<float> mix_k_, mix_v_, mix_r_, mix_g_, decay_, bonus_, ln_x_weight_, ln_x_bias_;
  Linear gate_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<TimeMix>> LoadTimeMixV5(WeightReader& reader,
                                                       const ModelConfig& config, int layer) {
  auto module = std::make_unique<TimeMixV5>(config, layer);
  RWKV_RETURN_IF_ERROR(module->Load(reader));
  return module;
}

}  // namespace rwkv::engine
