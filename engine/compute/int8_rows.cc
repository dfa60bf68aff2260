#include "engine/compute/int8_rows.h"

#include <algorithm>
#include <vector>

#include "engine/compute/epilogue.h"
#include "engine/compute/vector_math.h"

namespace rwkv::engine {
namespace {

RWKV_VECTOR_CLONES float AbsMax(const float* x, int64_t n) {
  float amax = 0.0f;
#pragma omp simd reduction(max : amax)
  for (int64_t i = 0; i < n; ++i) {
    const float a = std::fabs(x[i]);
    amax = a > amax ? a : amax;
  }
  return amax;
}

RWKV_VECTOR_CLONES void QuantizeRow(const float* x, int64_t n, int8_t* q, float* scale) {
  const float amax = AbsMax(x, n);
  const float s = amax > 0.0f ? amax / 127.0f : 1.0f;
  const float inverse = 1.0f / s;
  // Adding and removing 1.5 * 2^23 rounds to nearest even in any vector width (|x / s| <= 127).
  constexpr float kRound = 12582912.0f;
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) {
    q[i] = static_cast<int8_t>(static_cast<int32_t>((x[i] * inverse + kRound) - kRound));
  }
  *scale = s;
}

RWKV_VECTOR_CLONES void QuantizeRowSplit(const float* x, int64_t n, const float* input_scales,
                                         int8_t* high, int8_t* low, float* scale) {
  float amax = 0.0f;
#pragma omp simd reduction(max : amax)
  for (int64_t i = 0; i < n; ++i) {
    const float a = std::fabs(x[i] * input_scales[i]);
    amax = a > amax ? a : amax;
  }
  const float s = amax > 0.0f ? amax / kSplitLevels : 1.0f;
  const float inverse = 1.0f / s;
  constexpr float kRound = 12582912.0f;  // as in QuantizeRow; |x / s| <= 32512
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) {
    const float v = x[i] * input_scales[i];
    const int32_t q = static_cast<int32_t>((v * inverse + kRound) - kRound);
    // high = round(q / 256) (ties up), so low = q - 256 * high stays in [-128, 127].
    const int32_t h = (q + 128) >> 8;
    high[i] = static_cast<int8_t>(h);
    low[i] = static_cast<int8_t>(q - 256 * h);
  }
  *scale = s;
}

// kSplit: the row's sums come as high and low halves (QuantizeRowsSplit); else `low` is unused.
template <Epilogue kEpilogue, bool kSplit>
RWKV_VECTOR_CLONES void RescaleRow(const float* high, const float* low, int64_t n, float row_scale,
                                   const float* col_scales, float* y) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) {
    // 256 * high is exact, so a fused multiply-add rounds the same as the separate operations.
    const float sum = kSplit ? 256.0f * high[i] + low[i] : high[i];
    const float v = sum * row_scale * col_scales[i];
    y[i] = EpilogueOf<kEpilogue>(v, y[i]);
  }
}

template <Epilogue kEpilogue, bool kSplit>
void RescaleAll(const float* sums, int64_t rows, int64_t cols, const float* row_scales,
                const float* col_scales, float* y) {
  constexpr int64_t kSumRows = kSplit ? 2 : 1;
#pragma omp parallel for schedule(static) if (rows > 1)
  for (int64_t r = 0; r < rows; ++r) {
    const float* high = sums + kSumRows * r * cols;
    RescaleRow<kEpilogue, kSplit>(high, high + cols, cols, row_scales[r], col_scales, y + r * cols);
  }
}

template <bool kSplit>
void Rescale(const float* sums, int64_t rows, int64_t cols, const float* row_scales,
             const float* col_scales, Epilogue epilogue, float* y) {
  switch (epilogue) {
    case Epilogue::kNone:
      return RescaleAll<Epilogue::kNone, kSplit>(sums, rows, cols, row_scales, col_scales, y);
    case Epilogue::kAccumulate:
      return RescaleAll<Epilogue::kAccumulate, kSplit>(sums, rows, cols, row_scales, col_scales, y);
    case Epilogue::kSigmoid:
      return RescaleAll<Epilogue::kSigmoid, kSplit>(sums, rows, cols, row_scales, col_scales, y);
    case Epilogue::kTanh:
      return RescaleAll<Epilogue::kTanh, kSplit>(sums, rows, cols, row_scales, col_scales, y);
    case Epilogue::kReluSquare:
      return RescaleAll<Epilogue::kReluSquare, kSplit>(sums, rows, cols, row_scales, col_scales, y);
    case Epilogue::kSilu:
      return RescaleAll<Epilogue::kSilu, kSplit>(sums, rows, cols, row_scales, col_scales, y);
  }
}

}  // namespace

void QuantizeRows(const float* x, int64_t rows, int64_t cols, int8_t* q, float* scales) {
#pragma omp parallel for schedule(static) if (rows > 1)
  for (int64_t r = 0; r < rows; ++r) QuantizeRow(x + r * cols, cols, q + r * cols, scales + r);
}

void QuantizeRowsSplit(const float* x, int64_t rows, int64_t cols, const float* input_scales,
                       int8_t* q, float* scales) {
#pragma omp parallel for schedule(static) if (rows > 1)
  for (int64_t r = 0; r < rows; ++r) {
    QuantizeRowSplit(x + r * cols, cols, input_scales, q + 2 * r * cols, q + (2 * r + 1) * cols,
                     scales + r);
  }
}

void ColumnMax(const float* w, int64_t rows, int64_t in, float* column_max) {
  for (int64_t o = 0; o < rows; ++o) {
    for (int64_t k = 0; k < in; ++k) {
      column_max[k] = std::max(column_max[k], std::fabs(w[o * in + k]));
    }
  }
}

void InputScalesFromColumnMax(int64_t in, float* column_max) {
  const float top = in > 0 ? *std::max_element(column_max, column_max + in) : 0.0f;
  for (int64_t k = 0; k < in; ++k) {
    column_max[k] = column_max[k] > 0.0f ? std::sqrt(column_max[k] / top) : 1.0f;
  }
}

void InputScales(const float* w, int64_t out, int64_t in, float* input_scales) {
  std::fill(input_scales, input_scales + in, 0.0f);
  ColumnMax(w, out, in, input_scales);
  InputScalesFromColumnMax(in, input_scales);
}

void QuantizeWeights(const float* w, int64_t out, int64_t in, const float* input_scales, int8_t* q,
                     float* scales) {
  std::vector<float> row(in);
  for (int64_t o = 0; o < out; ++o) {
    for (int64_t k = 0; k < in; ++k) row[k] = w[o * in + k] / input_scales[k];
    QuantizeRow(row.data(), in, q + o * in, scales + o);
  }
}

void RescaleRows(const float* sums, int64_t rows, int64_t cols, const float* row_scales,
                 const float* col_scales, Epilogue epilogue, float* y) {
  Rescale<false>(sums, rows, cols, row_scales, col_scales, epilogue, y);
}

void RescaleSplitRows(const float* sums, int64_t rows, int64_t cols, const float* row_scales,
                      const float* col_scales, Epilogue epilogue, float* y) {
  Rescale<true>(sums, rows, cols, row_scales, col_scales, epilogue, y);
}

}  // namespace rwkv::engine
