// RWKV-7 time mix (architecture doc §4.4): the generalized delta rule, with LoRAs for decay,
// in-context learning rate, value residual and gate, and a per-head bonus after the norm.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "engine/compute/ops.h"
#include "engine/forward/time_mix_base.h"
#include "engine/forward/wkv.h"

namespace rwkv::engine {
namespace {

// Chunks of att.x_rwkvag, in rwkv.cpp's order.
enum Mix { kR = 0, kW, kK, kV, kA, kG, kMixes };

// The decay is exp(-e^-0.5 * sigmoid(z)); rwkv.cpp and ChatRWKV use this literal.
constexpr float kDecayScale = 0.606531f;

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

  void PrepareKeys(int64_t rows, const float* k, const float* alpha, float* k_hat_neg,
                   float* k_hat_alpha, float* k_tilde) const;
  void ValueResidual(int64_t rows, const float* nu, const float* v_first, float* v) const;
  void AddBonus(int64_t rows, const float* r, const float* k_tilde, const float* v, float* y) const;

  std::vector<float> mix_, w0_, a0_, v0_, k_k_, k_a_, r_k_, ln_x_weight_, ln_x_bias_;
  Lora w_, a_, v_, g_;
};

absl::Status TimeMixV7::Forward(StepContext& step, const float* a, float* x) const {
  const int64_t rows = step.batch.rows;
  const int64_t n = rows * width_;
  const float* prev = ShiftedInput(step, a);
  float* mixed[kMixes];
  for (int m = 0; m < kMixes; ++m) {
    mixed[m] = step.scratch.Alloc(n);
    MaaMix(rows, width_, a, prev, nullptr, {mix_.data() + m * width_, mixed[m]});
  }
  RWKV_ASSIGN_OR_RETURN(Rkv rkv, Project(step, mixed[kR], mixed[kK], mixed[kV], Epilogue::kNone));
  const float* r = rkv.r;
  const float* k = rkv.k;
  float* v = rkv.v;

  // Decay w and in-context learning rate alpha, in place over their LoRA outputs.
  float* w = step.scratch.Alloc(n);
  float* alpha = step.scratch.Alloc(n);
  RWKV_RETURN_IF_ERROR(ApplyLora(step, w_, mixed[kW], Epilogue::kTanh, w));
  RWKV_RETURN_IF_ERROR(ApplyLora(step, a_, mixed[kA], Epilogue::kNone, alpha));
#pragma omp parallel for schedule(static) if (rows > 1)
  for (int64_t row = 0; row < rows; ++row) {
    for (int64_t c = 0; c < width_; ++c) {
      const int64_t i = row * width_ + c;
      w[i] = std::exp(-kDecayScale * Sigmoid(w0_[c] + w[i]));
      alpha[i] = Sigmoid(a0_[c] + alpha[i]);
    }
  }
  float* g = step.scratch.Alloc(n);
  RWKV_RETURN_IF_ERROR(ApplyLora(step, g_, mixed[kG], Epilogue::kSigmoid, g));

  if (layer_ == 0) {
    std::memcpy(step.v_first, v, sizeof(float) * n);
  } else {
    float* nu = step.scratch.Alloc(n);
    RWKV_RETURN_IF_ERROR(ApplyLora(step, v_, mixed[kV], Epilogue::kNone, nu));
    ValueResidual(rows, nu, step.v_first, v);
  }

  float* k_hat_neg = step.scratch.Alloc(n);
  float* k_hat_alpha = step.scratch.Alloc(n);
  float* k_tilde = step.scratch.Alloc(n);
  PrepareKeys(rows, k, alpha, k_hat_neg, k_hat_alpha, k_tilde);
  float* y = step.scratch.Alloc(n);
  WkvV7(step.batch, {heads_, head_size_, wkv_offset_}, r, w, k_tilde, v, k_hat_neg, k_hat_alpha, y);
  GroupNormRows(y, rows, width_, heads_, ln_x_weight_.data(), ln_x_bias_.data(), eps_, y);
  AddBonus(rows, r, k_tilde, v, y);
  for (int64_t i = 0; i < n; ++i) y[i] *= g[i];
  return Output(step, y, x);
}

// kappa = L2N(k * k_k) per head; the recurrence takes -kappa and kappa * alpha; the key that is
// written is k~ = k + (alpha * (k * k_a) - k * k_a) (rwkv.cpp's evaluation order).
void TimeMixV7::PrepareKeys(int64_t rows, const float* k, const float* alpha, float* k_hat_neg,
                            float* k_hat_alpha, float* k_tilde) const {
#pragma omp parallel for collapse(2) schedule(static) if (rows > 1)
  for (int64_t row = 0; row < rows; ++row) {
    for (int64_t h = 0; h < heads_; ++h) {
      const int64_t base = row * width_ + h * head_size_;
      double sq = 0.0;
      for (int64_t j = 0; j < head_size_; ++j) {
        const float kappa = k[base + j] * k_k_[h * head_size_ + j];
        sq += static_cast<double>(kappa) * kappa;
      }
      const float inv = 1.0f / std::max(static_cast<float>(std::sqrt(sq)), 1e-12f);
      for (int64_t j = 0; j < head_size_; ++j) {
        const int64_t i = base + j;
        const int64_t c = h * head_size_ + j;
        const float kappa_hat = k[i] * k_k_[c] * inv;
        k_hat_neg[i] = -kappa_hat;
        k_hat_alpha[i] = kappa_hat * alpha[i];
        const float kka = k[i] * k_a_[c];
        k_tilde[i] = k[i] + (alpha[i] * kka - kka);
      }
    }
  }
}

// v += (v_first - v) * sigmoid(v0 + nu).
void TimeMixV7::ValueResidual(int64_t rows, const float* nu, const float* v_first, float* v) const {
#pragma omp parallel for schedule(static) if (rows > 1)
  for (int64_t row = 0; row < rows; ++row) {
    for (int64_t c = 0; c < width_; ++c) {
      const int64_t i = row * width_ + c;
      v[i] = v[i] + (v_first[i] - v[i]) * Sigmoid(v0_[c] + nu[i]);
    }
  }
}

// y_h += (sum_j r_h[j] k~_h[j] r_k[h][j]) v_h for every head.
void TimeMixV7::AddBonus(int64_t rows, const float* r, const float* k_tilde, const float* v,
                         float* y) const {
#pragma omp parallel for collapse(2) schedule(static) if (rows > 1)
  for (int64_t row = 0; row < rows; ++row) {
    for (int64_t h = 0; h < heads_; ++h) {
      const int64_t base = row * width_ + h * head_size_;
      float dot = 0.0f;
      for (int64_t j = 0; j < head_size_; ++j) {
        dot += r[base + j] * k_tilde[base + j] * r_k_[h * head_size_ + j];
      }
      for (int64_t j = 0; j < head_size_; ++j) y[base + j] += dot * v[base + j];
    }
  }
}

}  // namespace

absl::StatusOr<std::unique_ptr<TimeMix>> LoadTimeMixV7(WeightReader& reader,
                                                       const ModelConfig& config, int layer) {
  auto module = std::make_unique<TimeMixV7>(config, layer);
  RWKV_RETURN_IF_ERROR(module->Load(reader, config));
  return module;
}

}  // namespace rwkv::engine
