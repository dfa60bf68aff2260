// Random inputs for RWKV-7's WKV kernels, shaped like a real layer's, and the error measure
// between two kernels' outputs, for the chunked kernel's test and rwkv-wkv-bench. Inputs:
// decays w = e^(-e^x), x ~ U(-8, 1); a = -kappa and b = kappa * alpha with kappa a unit vector
// per head and alpha in (0, 1), as time_mix_v7 makes them; r, k, v ~ U(-1, 1).
#ifndef RWKV_ENGINE_TOOLS_WKV7_INPUTS_H_
#define RWKV_ENGINE_TOOLS_WKV7_INPUTS_H_

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

namespace rwkv::engine {

struct Wkv7Inputs {
  std::vector<float> r, w, k, v, a, b;
};

// `rows` rows of `heads` x `head_size` channels. `max_x` raises the top of x's range (larger
// x: faster decay), e.g. to 4.2 for single steps that decay below e^-60 (e^4.1 = 60).
inline Wkv7Inputs RandomWkv7Inputs(int64_t rows, int64_t heads, int64_t head_size, uint32_t seed,
                                   float max_x = 1.0f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> unit(-1.0f, 1.0f);
  std::uniform_real_distribution<float> log_rate(-8.0f, max_x);
  std::uniform_real_distribution<float> rate(0.0f, 1.0f);
  const int64_t n = rows * heads * head_size;
  Wkv7Inputs in;
  for (auto* x : {&in.r, &in.k, &in.v}) {
    x->resize(n);
    for (float& value : *x) value = unit(rng);
  }
  in.w.resize(n);
  for (float& value : in.w) value = std::exp(-std::exp(log_rate(rng)));
  in.a.resize(n);
  in.b.resize(n);
  for (int64_t h0 = 0; h0 < n; h0 += head_size) {
    double norm = 0;
    for (int64_t j = 0; j < head_size; ++j) {
      in.a[h0 + j] = unit(rng);
      norm += static_cast<double>(in.a[h0 + j]) * in.a[h0 + j];
    }
    const float inv = static_cast<float>(1.0 / std::sqrt(norm));
    for (int64_t j = 0; j < head_size; ++j) {
      const float kappa = in.a[h0 + j] * inv;
      in.a[h0 + j] = -kappa;
      in.b[h0 + j] = kappa * rate(rng);
    }
  }
  return in;
}

// Largest over rows of `n` floats of max |x - ref| / max |ref| (a row of zeros: max |x|); not
// finite if any difference is not.
inline double MaxRowRelDiff(const std::vector<float>& x, const std::vector<float>& ref, int64_t n) {
  double worst = 0;
  for (size_t row = 0; row + n <= ref.size(); row += n) {
    double diff = 0, scale = 0;
    for (int64_t i = 0; i < n; ++i) {
      const double d = std::fabs(static_cast<double>(x[row + i]) - ref[row + i]);
      if (!std::isfinite(d)) return d;
      diff = std::max(diff, d);
      scale = std::max(scale, std::fabs(static_cast<double>(ref[row + i])));
    }
    worst = std::max(worst, scale > 0 ? diff / scale : diff);
  }
  return worst;
}

}  // namespace rwkv::engine

#endif  // RWKV_ENGINE_TOOLS_WKV7_INPUTS_H_
