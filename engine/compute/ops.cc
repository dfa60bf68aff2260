#include "engine/compute/ops.h"

#include <immintrin.h>
#include <omp.h>

#include <cmath>
#include <cstring>

#include "engine/compute/vector_math.h"

namespace rwkv::engine {
namespace {

// Normalizes n floats; the same arithmetic for layer and group norm, in ggml_norm's order: the
// mean and the sum of float squares in double, the rest in float.
RWKV_VECTOR_CLONES
void NormalizeSpan(const float* x, int64_t n, const float* gamma, const float* beta, float eps,
                   float* y) {
  const double sum = LaneSum<double>(n, [&](int64_t i) { return static_cast<double>(x[i]); });
  const float mean = static_cast<float>(sum / static_cast<double>(n));
  const double sq = LaneSum<double>(n, [&](int64_t i) {
    const float d = x[i] - mean;
    return static_cast<double>(d * d);
  });
  const float var = static_cast<float>(sq / static_cast<double>(n));
  const float scale = 1.0f / std::sqrt(var + eps);
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) y[i] = (x[i] - mean) * scale * gamma[i] + beta[i];
}

RWKV_VECTOR_CLONES
void AddProduct(const float* a, const float* b, int64_t n, float* x) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) x[i] += a[i] * b[i];
}

RWKV_VECTOR_CLONES
void Multiply(const float* g, int64_t n, float* y) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) y[i] *= g[i];
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

void AddProductRows(int64_t rows, int64_t width, const float* a, const float* b, float* x) {
#pragma omp parallel for schedule(static) if (rows > 1)
  for (int64_t r = 0; r < rows; ++r) {
    AddProduct(a + r * width, b + r * width, width, x + r * width);
  }
}

void MultiplyRows(int64_t rows, int64_t width, const float* g, float* y) {
#pragma omp parallel for schedule(static) if (rows > 1)
  for (int64_t r = 0; r < rows; ++r) Multiply(g + r * width, width, y + r * width);
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
