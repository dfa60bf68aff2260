#include "engine/compute/ops.h"

#include <immintrin.h>
#include <omp.h>

#include <cstring>

namespace rwkv::engine {
namespace {

// Normalizes n floats; the same arithmetic for layer and group norm.
inline void NormalizeSpan(const float* x, int64_t n, const float* gamma, const float* beta,
                          float eps, float* y) {
  double sum = 0.0;
  for (int64_t i = 0; i < n; ++i) sum += x[i];
  const float mean = static_cast<float>(sum / static_cast<double>(n));
  double sq = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    const float d = x[i] - mean;
    sq += static_cast<double>(d * d);
  }
  const float var = static_cast<float>(sq / static_cast<double>(n));
  const float scale = 1.0f / std::sqrt(var + eps);
  for (int64_t i = 0; i < n; ++i) y[i] = (x[i] - mean) * scale * gamma[i] + beta[i];
}

}  // namespace

void LayerNormRows(const float* x, int64_t rows, int64_t width, const float* gamma,
                   const float* beta, float eps, float* y) {
#pragma omp parallel for schedule(static) if (rows > 1)
  for (int64_t r = 0; r < rows; ++r) {
    NormalizeSpan(x + r * width, width, gamma, beta, eps, y + r * width);
  }
}

void GroupNormRows(const float* x, int64_t rows, int64_t width, int64_t groups, const float* gamma,
                   const float* beta, float eps, float* y) {
  const int64_t group = width / groups;
#pragma omp parallel for collapse(2) schedule(static) if (rows * groups > 1)
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t g = 0; g < groups; ++g) {
      const int64_t offset = r * width + g * group;
      NormalizeSpan(x + offset, group, gamma + g * group, beta + g * group, eps, y + offset);
    }
  }
}

void GatherRows(const float* src, int64_t width, const int64_t* row_index, int64_t rows,
                float* dst) {
  for (int64_t r = 0; r < rows; ++r) {
    std::memcpy(dst + r * width, src + row_index[r] * width, sizeof(float) * width);
  }
}

void EnableFlushToZero() {
#pragma omp parallel
  {
    _MM_SET_FLUSH_ZERO_MODE(_MM_FLUSH_ZERO_ON);
    _MM_SET_DENORMALS_ZERO_MODE(_MM_DENORMALS_ZERO_ON);
  }
  _MM_SET_FLUSH_ZERO_MODE(_MM_FLUSH_ZERO_ON);
  _MM_SET_DENORMALS_ZERO_MODE(_MM_DENORMALS_ZERO_ON);
}

}  // namespace rwkv::engine
