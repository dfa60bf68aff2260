#include "engine/forward/time_mix_kernels.h"

#include <algorithm>
#include <cmath>

#include "engine/compute/vector_math.h"

namespace rwkv::engine {
namespace {

// The v7 decay is exp(-e^-0.5 * sigmoid(z)); rwkv.cpp and ChatRWKV use this literal.
constexpr float kDecayScale = 0.606531f;

RWKV_VECTOR_CLONES
void DecayV6Row(const float* decay, int64_t width, float* w) {
#pragma omp simd
  for (int64_t c = 0; c < width; ++c) w[c] = Exp(-Exp(decay[c] + w[c]));
}

// The per-head part of PrepareV7Row: kappa's norm, then the three keys.
inline void PrepareV7Keys(const V7Params& p, const float* k, const float* alpha, float* k_hat_neg,
                          float* k_hat_alpha, float* k_tilde) {
  const float* k_k = p.k_k;
  const float* k_a = p.k_a;
  for (int64_t h0 = 0; h0 < p.width; h0 += p.head_size) {
    const double sq = LaneSum<double>(p.head_size, [&](int64_t j) {
      const float kappa = k[h0 + j] * k_k[h0 + j];
      return static_cast<double>(kappa) * kappa;
    });
    const float inv = 1.0f / std::max(static_cast<float>(std::sqrt(sq)), 1e-12f);
#pragma omp simd
    for (int64_t c = h0; c < h0 + p.head_size; ++c) {
      const float kappa_hat = k[c] * k_k[c] * inv;
      k_hat_neg[c] = -kappa_hat;
      k_hat_alpha[c] = kappa_hat * alpha[c];
      const float kka = k[c] * k_a[c];
      k_tilde[c] = k[c] + (alpha[c] * kka - kka);
    }
  }
}

RWKV_VECTOR_CLONES
void PrepareV7Row(const V7Params& p, const V7Rows& b, int64_t row) {
  const int64_t base = row * p.width;
  float* w = b.w + base;
  float* alpha = b.alpha + base;
  const float* w0 = p.w0;
  const float* a0 = p.a0;
#pragma omp simd
  for (int64_t c = 0; c < p.width; ++c) {
    w[c] = Exp(-kDecayScale * Sigmoid(w0[c] + w[c]));
    alpha[c] = Sigmoid(a0[c] + alpha[c]);
  }
  if (b.nu != nullptr) {
    float* v = b.v + base;
    const float* nu = b.nu + base;
    const float* v_first = b.v_first + base;
    const float* v0 = p.v0;
#pragma omp simd
    for (int64_t c = 0; c < p.width; ++c) {
      v[c] = v[c] + (v_first[c] - v[c]) * Sigmoid(v0[c] + nu[c]);
    }
  }
  PrepareV7Keys(p, b.k + base, alpha, b.k_hat_neg + base, b.k_hat_alpha + base, b.k_tilde + base);
}

RWKV_VECTOR_CLONES
void BonusAndGateV7Row(const V7Params& p, const float* r, const float* k_tilde, const float* v,
                       const float* g, float* y) {
  const float* r_k = p.r_k;
  for (int64_t h0 = 0; h0 < p.width; h0 += p.head_size) {
    const float bonus = LaneSum<float>(
        p.head_size, [&](int64_t j) { return r[h0 + j] * k_tilde[h0 + j] * r_k[h0 + j]; });
#pragma omp simd
    for (int64_t c = h0; c < h0 + p.head_size; ++c) y[c] = (y[c] + bonus * v[c]) * g[c];
  }
}

}  // namespace

void DecayV6Rows(int64_t rows, int64_t width, const float* decay, float* w) {
#pragma omp parallel for schedule(static) if (rows > 1)
  for (int64_t row = 0; row < rows; ++row) DecayV6Row(decay, width, w + row * width);
}

void PrepareV7Rows(int64_t rows, const V7Params& params, const V7Rows& buffers) {
#pragma omp parallel for schedule(static) if (rows > 1)
  for (int64_t row = 0; row < rows; ++row) PrepareV7Row(params, buffers, row);
}

void BonusAndGateV7Rows(int64_t rows, const V7Params& params, const float* r, const float* k_tilde,
                        const float* v, const float* g, float* y) {
#pragma omp parallel for schedule(static) if (rows > 1)
  for (int64_t row = 0; row < rows; ++row) {
    const int64_t base = row * params.width;
    BonusAndGateV7Row(params, r + base, k_tilde + base, v + base, g + base, y + base);
  }
}

}  // namespace rwkv::engine
