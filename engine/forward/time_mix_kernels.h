// The element-wise passes of the RWKV-6 and RWKV-7 time mixes, vectorized (vector_math.h) and
// parallel over rows. They live apart from the modules so that tests can check them against
// plain references.
#ifndef RWKV_ENGINE_FORWARD_TIME_MIX_KERNELS_H_
#define RWKV_ENGINE_FORWARD_TIME_MIX_KERNELS_H_

#include <cstdint>

namespace rwkv::engine {

// v6: w = exp(-exp(decay + w)) over [rows, width]; `decay` has `width` floats.
void DecayV6Rows(int64_t rows, int64_t width, const float* decay, float* w);

// A v7 layer's per-channel vectors (C floats each) and its head shape.
struct V7Params {
  int64_t width = 0;
  int64_t head_size = 0;
  const float* w0 = nullptr;
  const float* a0 = nullptr;
  const float* v0 = nullptr;  // may be null when no row has `nu` (layer 0)
  const float* k_k = nullptr;
  const float* k_a = nullptr;
  const float* r_k = nullptr;
};

// A v7 step's [rows, C] buffers around the recurrence.
struct V7Rows {
  float* w;      // in: the decay LoRA's output; out: the decay
  float* alpha;  // in: the alpha LoRA's output; out: alpha
  const float* k;
  float* v;         // the value residual is applied in place
  const float* nu;  // the value-residual LoRA's output; null in layer 0 (no residual)
  const float* v_first;
  float* k_hat_neg;    // out: the recurrence's a = -kappa
  float* k_hat_alpha;  // out: its b = kappa * alpha
  float* k_tilde;      // out: the key that is written
};

// Everything element-wise between v7's LoRAs and its recurrence, in one pass over each row:
//   w = exp(-0.606531 sigmoid(w0 + w));  alpha = sigmoid(a0 + alpha);
//   v += (v_first - v) * sigmoid(v0 + nu)  (when nu is set);
//   kappa = L2N(k * k_k) per head (norm in double, floored at 1e-12);
//   k~ = k + (alpha * (k * k_a) - k * k_a)  (rwkv.cpp's evaluation order).
void PrepareV7Rows(int64_t rows, const V7Params& params, const V7Rows& buffers);

// y_h = (y_h + (sum_j r_h[j] k~_h[j] r_k[h][j]) v_h) * g_h for every head of every row: v7's
// bonus term and gate, after the group norm.
void BonusAndGateV7Rows(int64_t rows, const V7Params& params, const float* r, const float* k_tilde,
                        const float* v, const float* g, float* y);

}  // namespace rwkv::engine

#endif  // RWKV_ENGINE_FORWARD_TIME_MIX_KERNELS_H_
