#include "engine/compute/int8_rows.h"

#include "engine/compute/vector_math.h"

namespace rwkv::engine {
namespace {

RWKV_VECTOR_CLONES void QuantizeRow(const float* x, int64_t n, int8_t* q, float* scale) {
  float amax = 0.0f;
#pragma omp simd reduction(max : amax)
  for (int64_t i = 0; i < n; ++i) {
    const float a = std::fabs(x[i]);
    amax = a > amax ? a : amax;
  }
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

template <Epilogue kEpilogue>
RWKV_VECTOR_CLONES void RescaleRow(const float* sums, int64_t n, float row_scale,
                                   const float* col_scales, float* y) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) {
    const float v = sums[i] * row_scale * col_scales[i];
    if constexpr (kEpilogue == Epilogue::kNone) y[i] = v;
    if constexpr (kEpilogue == Epilogue::kAccumulate) y[i] += v;
    if constexpr (kEpilogue == Epilogue::kSigmoid) y[i] = Sigmoid(v);
    if constexpr (kEpilogue == Epilogue::kTanh) y[i] = Tanh(v);
    if constexpr (kEpilogue == Epilogue::kReluSquare) y[i] = v > 0.0f ? v * v : 0.0f;
    if constexpr (kEpilogue == Epilogue::kSilu) y[i] = v * Sigmoid(v);
  }
}

template <Epilogue kEpilogue>
void RescaleAll(const float* sums, int64_t rows, int64_t cols, const float* row_scales,
                const float* col_scales, float* y) {
#pragma omp parallel for schedule(static) if (rows > 1)
  for (int64_t r = 0; r < rows; ++r) {
    RescaleRow<kEpilogue>(sums + r * cols, cols, row_scales[r], col_scales, y + r * cols);
  }
}

}  // namespace

void QuantizeRows(const float* x, int64_t rows, int64_t cols, int8_t* q, float* scales) {
#pragma omp parallel for schedule(static) if (rows > 1)
  for (int64_t r = 0; r < rows; ++r) QuantizeRow(x + r * cols, cols, q + r * cols, scales + r);
}

void RescaleRows(const float* sums, int64_t rows, int64_t cols, const float* row_scales,
                 const float* col_scales, Epilogue epilogue, float* y) {
  switch (epilogue) {
    case Epilogue::kNone:
      return RescaleAll<Epilogue::kNone>(sums, rows, cols, row_scales, col_scales, y);
    case Epilogue::kAccumulate:
      return RescaleAll<Epilogue::kAccumulate>(sums, rows, cols, row_scales, col_scales, y);
    case Epilogue::kSigmoid:
      return RescaleAll<Epilogue::kSigmoid>(sums, rows, cols, row_scales, col_scales, y);
    case Epilogue::kTanh:
      return RescaleAll<Epilogue::kTanh>(sums, rows, cols, row_scales, col_scales, y);
    case Epilogue::kReluSquare:
      return RescaleAll<Epilogue::kReluSquare>(sums, rows, cols, row_scales, col_scales, y);
    case Epilogue::kSilu:
      return RescaleAll<Epilogue::kSilu>(sums, rows, cols, row_scales, col_scales, y);
  }
}

}  // namespace rwkv::engine
