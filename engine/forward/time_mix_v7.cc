// RWKV-7 time mix (architecture doc §4.4): the generalized delta rule, with LoRAs for decay,
// in-context learning rate, value residual and gate, and a per-head bonus after the norm.
#include <cstring>

#include "engine/compute/ops.h"
#include "engine/forward/time_mix_base.h"
#include "engine/forward/time_mix_kernels.h"
#include "engine/forward/wkv.h"
#include "engine/forward/wkv7_chunked.h"

namespace rwkv::engine {
namespace {

// Chunks of att.x_rwkvag, in rwkv.cpp's order.
enum Mix { kR = 0, kW, kK, kV, kA, kG, kMixes };

struct Lora {
  Linear down, up;
};

class TimeMixV7 final : public TimeMixBase {
 public:
  TimeMixV7(const ModelConfig& config, int layer) : TimeMixBase(config, layer) {}

  absl::Status Load(WeightReader& reader, const ModelConfig& config) {
    const int64_t c = width_;
    auto name = [this](const char* suffix) { return Name(suffix); };
    RWKV_ASSIGN_OR_RETURN(mix_, reader.Vector(name("att.x_rwkvag"), {c, 1, kMixes}));
    RWKV_ASSIGN_OR_RETURN(w0_, reader.Vector(name("att.w0"), {c, 1, 1}));
    RWKV_ASSIGN_OR_RETURN(a0_, reader.Vector(name("att.a0"), {c, 1, 1}));
    RWKV_ASSIGN_OR_RETURN(k_k_, reader.Vector(name("att.k_k"), {c, 1, 1}));
    RWKV_ASSIGN_OR_RETURN(k_a_, reader.Vector(name("att.k_a"), {c, 1, 1}));
    RWKV_ASSIGN_OR_RETURN(r_k_, reader.Vector(name("att.r_k"), {head_size_, heads_}));
    RWKV_ASSIGN_OR_RETURN(w_, LoadLora(reader, "att.w1", "att.w2", config.lora_w));
    RWKV_ASSIGN_OR_RETURN(a_, LoadLora(reader, "att.a1", "att.a2", config.lora_a));
    RWKV_ASSIGN_OR_RETURN(g_, LoadLora(reader, "att.g1", "att.g2", config.lora_g));
    if (layer_ > 0) {
      RWKV_ASSIGN_OR_RETURN(v0_, reader.Vector(name("att.v0"), {c, 1, 1}));
      RWKV_ASSIGN_OR_RETURN(v_, LoadLora(reader, "att.v1", "att.v2", config.lora_v));
    }
    RWKV_RETURN_IF_ERROR(
        LoadVectors(reader, {"att.ln_x.weight", "att.ln_x.bias"}, {&ln_x_weight_, &ln_x_bias_}));
    return LoadProjections(reader);
  }

  absl::Status Forward(StepContext& step, const float* a, float* x) const override;

 private:
  absl::StatusOr<Lora> LoadLora(WeightReader& reader, const char* down, const char* up,
                                int64_t rank) const {
    Lora lora;
    RWKV_ASSIGN_OR_RETURN(lora.down, reader.Matrix(BlockTensor(layer_, down), width_, rank));
    RWKV_ASSIGN_OR_RETURN(lora.up, reader.Matrix(BlockTensor(layer_, up), rank, width_));
    return lora;
  }

  // out = up(act(down(in))) with the activation fused into the first matmul.
  absl::Status ApplyLora(StepContext& step, const Lora& lora, const float* in, Epilogue inner,
                         float* out) const {
    float* hidden = step.scratch.Alloc(step.batch.rows * lora.down.out());
    RWKV_RETURN_IF_ERROR(lora.down.Apply(step.matmul, in, step.batch.rows, hidden, inner));
    return lora.up.Apply(step.matmul, hidden, step.batch.rows, out);
  }

  std::vector<float> mix_, w0_, a0_, v0_, k_k_, k_a_, r_k_, ln_x_weight_, ln_x_bias_;
  Lora w_, a_, v_, g_;
};

absl::Status TimeMixV7::Forward(StepContext& step, const float* a, float* x) const {
  const int64_t rows = step.batch.rows;
  const int64_t n = rows * width_;
  const float* prev = ShiftedInput(step, a);
  float* mixed[kMixes];
  MixTarget targets[kMixes];
  for (int m = 0; m < kMixes; ++m) {
    mixed[m] = step.scratch.Alloc(n);
    targets[m] = {mix_.data() + m * width_, mixed[m]};
  }
  MaaMix(rows, width_, a, prev, targets);
  RWKV_ASSIGN_OR_RETURN(Rkv rkv, Project(step, mixed[kR], mixed[kK], mixed[kV], Epilogue::kNone));

  V7Rows in{step.scratch.Alloc(n),
            step.scratch.Alloc(n),
            rkv.k,
            rkv.v,
            nullptr,
            step.v_first,
            step.scratch.Alloc(n),
            step.scratch.Alloc(n),
            step.scratch.Alloc(n)};
  RWKV_RETURN_IF_ERROR(ApplyLora(step, w_, mixed[kW], Epilogue::kTanh, in.w));
  RWKV_RETURN_IF_ERROR(ApplyLora(step, a_, mixed[kA], Epilogue::kNone, in.alpha));
  float* g = step.scratch.Alloc(n);
  RWKV_RETURN_IF_ERROR(ApplyLora(step, g_, mixed[kG], Epilogue::kSigmoid, g));
  if (layer_ == 0) {
    std::memcpy(step.v_first, rkv.v, sizeof(float) * n);
  } else {
    float* nu = step.scratch.Alloc(n);
    RWKV_RETURN_IF_ERROR(ApplyLora(step, v_, mixed[kV], Epilogue::kNone, nu));
    in.nu = nu;
  }
  const V7Params params{width_,     head_size_,  w0_.data(),  a0_.data(),
                        v0_.data(), k_k_.data(), k_a_.data(), r_k_.data()};
  PrepareV7Rows(rows, params, in);

  float* y = step.scratch.Alloc(n);
  const WkvShape shape{heads_, head_size_, wkv_offset_};
  if (step.batch.wkv7_chunk > 0) {
    WkvV7Chunked(step.batch, shape, step.batch.wkv7_chunk, rkv.r, in.w, in.k_tilde, rkv.v,
                 in.k_hat_neg, in.k_hat_alpha, y);
  } else {
    WkvV7(step.batch, shape, rkv.r, in.w, in.k_tilde, rkv.v, in.k_hat_neg, in.k_hat_alpha, y);
  }
  GroupNormRows(y, rows, width_, heads_, ln_x_weight_.data(), ln_x_bias_.data(), eps_, y);
  BonusAndGateV7Rows(rows, params, rkv.r, in.k_tilde, rkv.v, g, y);
  return Output(step, y, x);
}

}  // namespace

absl::StatusOr<std::unique_ptr<TimeMix>> LoadTimeMixV7(WeightReader& reader,
                                                       const ModelConfig& config, int layer) {
  auto module = std::make_unique<TimeMixV7>(config, layer);
  RWKV_RETURN_IF_ERROR(module->Load(reader, config));
  return module;
}

}  // namespace rwkv::engine
