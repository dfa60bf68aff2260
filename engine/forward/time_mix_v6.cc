// RWKV-6 time mix (architecture doc §4.3): data-dependent token shift (a LoRA over the shifted
// input) and a data-dependent decay, then the RWKV-5 recurrence with a per-token decay.
#include <cstring>

#include "engine/compute/ops.h"
#include "engine/forward/time_mix_base.h"
#include "engine/forward/time_mix_kernels.h"
#include "engine/forward/wkv.h"

namespace rwkv::engine {
namespace {

// The five data-dependent mixes, in the order of time_maa_w2's outer dimension.
enum Mix { kW = 0, kK, kV, kR, kG, kMixes };

class TimeMixV6 final : public TimeMixBase {
 public:
  TimeMixV6(const ModelConfig& config, int layer)
      : TimeMixBase(config, layer), lora_mix_(config.lora_mix), lora_decay_(config.lora_decay) {}

  absl::Status Load(WeightReader& reader) {
    const int64_t c = width_;
    auto name = [this](const char* suffix) { return Name(suffix); };
    RWKV_RETURN_IF_ERROR(
        LoadVectors(reader,
                    {"att.time_maa_x", "att.time_maa_w", "att.time_maa_k", "att.time_maa_v",
                     "att.time_maa_r", "att.time_maa_g", "att.ln_x.weight", "att.ln_x.bias"},
                    {&maa_x_, &maa_[kW], &maa_[kK], &maa_[kV], &maa_[kR], &maa_[kG], &ln_x_weight_,
                     &ln_x_bias_}));
    RWKV_ASSIGN_OR_RETURN(maa_w1_, reader.Matrix(name("att.time_maa_w1"), c, kMixes * lora_mix_));
    RWKV_ASSIGN_OR_RETURN(std::vector<float> w2,
                          reader.Vector(name("att.time_maa_w2"), {lora_mix_, c, kMixes}));
    for (int m = 0; m < kMixes; ++m) {
      RWKV_ASSIGN_OR_RETURN(maa_w2_[m], reader.Pack(w2.data() + m * c * lora_mix_, lora_mix_, c));
    }
    RWKV_ASSIGN_OR_RETURN(decay_, reader.Vector(name("att.time_decay"), {1, head_size_, heads_}));
    RWKV_ASSIGN_OR_RETURN(decay_w1_, reader.Matrix(name("att.time_decay_w1"), c, lora_decay_));
    RWKV_ASSIGN_OR_RETURN(decay_w2_, reader.Matrix(name("att.time_decay_w2"), lora_decay_, c));
    RWKV_ASSIGN_OR_RETURN(bonus_, reader.Vector(name("att.time_faaaa"), {1, head_size_, heads_}));
    RWKV_ASSIGN_OR_RETURN(gate_, reader.Matrix(name("att.gate.weight"), c, c));
    return LoadProjections(reader);
  }

  absl::Status Forward(StepContext& step, const float* a, float* x) const override {
    const int64_t rows = step.batch.rows;
    const int64_t n = rows * width_;
    const float* prev = ShiftedInput(step, a);
    float* mixed[kMixes];
    RWKV_RETURN_IF_ERROR(DataDependentMixes(step, a, prev, mixed));
    RWKV_ASSIGN_OR_RETURN(Rkv rkv, Project(step, mixed[kR], mixed[kK], mixed[kV], Epilogue::kNone));
    float* g = step.scratch.Alloc(n);
    RWKV_RETURN_IF_ERROR(gate_.Apply(step.matmul, mixed[kG], rows, g, Epilogue::kSilu));
    float* w = step.scratch.Alloc(n);
    RWKV_RETURN_IF_ERROR(Decay(step, mixed[kW], w));
    float* y = step.scratch.Alloc(n);
    WkvV5(step.batch, {heads_, head_size_, wkv_offset_}, rkv.r, rkv.k, rkv.v, w,
          /*w_per_row=*/true, bonus_.data(), y);
    GroupNormRows(y, rows, width_, heads_, ln_x_weight_.data(), ln_x_bias_.data(), eps_, y);
    MultiplyRows(rows, width_, g, y);
    return Output(step, y, x);
  }

 private:
  // mixed[m] = a + (prev - a) * (maa_m + tanh(xi @ W1)_m @ W2_m), xi = a + (prev - a) * maa_x.
  absl::Status DataDependentMixes(StepContext& step, const float* a, const float* prev,
                                  float* mixed[kMixes]) const {
    const int64_t rows = step.batch.rows;
    float* xi = step.scratch.Alloc(rows * width_);
    MaaMix(rows, width_, a, prev, {{maa_x_.data(), xi}});
    float* z = step.scratch.Alloc(rows * kMixes * lora_mix_);
    RWKV_RETURN_IF_ERROR(maa_w1_.Apply(step.matmul, xi, rows, z, Epilogue::kTanh));
    float* z_m = step.scratch.Alloc(rows * lora_mix_);
    MixTarget targets[kMixes];
    for (int m = 0; m < kMixes; ++m) {
      for (int64_t row = 0; row < rows; ++row) {
        std::memcpy(z_m + row * lora_mix_, z + (row * kMixes + m) * lora_mix_,
                    sizeof(float) * lora_mix_);
      }
      float* mu = step.scratch.Alloc(rows * width_);
      RWKV_RETURN_IF_ERROR(maa_w2_[m].Apply(step.matmul, z_m, rows, mu));
      mixed[m] = step.scratch.Alloc(rows * width_);
      targets[m] = {maa_[m].data(), mixed[m], mu};
    }
    MaaMix(rows, width_, a, prev, targets);
    return absl::OkStatus();
  }

  // w = exp(-exp(time_decay + tanh(xw @ W1) @ W2)), per row and channel.
  absl::Status Decay(StepContext& step, const float* xw, float* w) const {
    const int64_t rows = step.batch.rows;
    float* hidden = step.scratch.Alloc(rows * lora_decay_);
    RWKV_RETURN_IF_ERROR(decay_w1_.Apply(step.matmul, xw, rows, hidden, Epilogue::kTanh));
    RWKV_RETURN_IF_ERROR(decay_w2_.Apply(step.matmul, hidden, rows, w));
    DecayV6Rows(rows, width_, decay_.data(), w);
    return absl::OkStatus();
  }

  int64_t lora_mix_, lora_decay_;
  std::vector<float> maa_x_, maa_[kMixes], decay_, bonus_, ln_x_weight_, ln_x_bias_;
  Linear maa_w1_, maa_w2_[kMixes], decay_w1_, decay_w2_, gate_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<TimeMix>> LoadTimeMixV6(WeightReader& reader,
                                                       const ModelConfig& config, int layer) {
  auto module = std::make_unique<TimeMixV6>(config, layer);
  RWKV_RETURN_IF_ERROR(module->Load(reader));
  return module;
}

}  // namespace rwkv::engine
