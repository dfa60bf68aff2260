// The float32 <-> int8 edges of an int8 matrix product (see Linear in matmul.h).
#ifndef RWKV_ENGINE_COMPUTE_INT8_ROWS_H_
#define RWKV_ENGINE_COMPUTE_INT8_ROWS_H_

#include <cstdint>

#include "engine/compute/matmul.h"

namespace rwkv::engine {

// Symmetric per-row quantization: q = round(x / s) with s = max|x| / 127 (s = 1 for a zero row).
void QuantizeRows(const float* x, int64_t rows, int64_t cols, int8_t* q, float* scales);

// y = epilogue(sums * row_scales[r] * col_scales[c]) over [rows, cols]; for kAccumulate the
// product is added to y. `sums` may be y itself unless the epilogue accumulates.
void RescaleRows(const float* sums, int64_t rows, int64_t cols, const float* row_scales,
                 const float* col_scales, Epilogue epilogue, float* y);

// Activations carry 16 bits as two int8 rows: with s = max|x| / kSplitLevels per row,
// round(x / s) = 256 * high + low, high in [-127, 127] and low in [-128, 127]. Row r of x becomes
// rows 2r (high) and 2r + 1 (low) of `q` ([2 * rows, cols]), so one int8 product of 2 * rows rows
// gives both exact integer sums. A single int8 row per activation was the larger part of int8's
// error (rel. L2 of the 0.1B's logits 1.7e-2 from activations, 7.6e-3 from per-channel weights).
// Each column is first multiplied by its input scale (`input_scales`, cols floats; see
// InputScales).
inline constexpr float kSplitLevels = 127.0f * 256.0f;
void QuantizeRowsSplit(const float* x, int64_t rows, int64_t cols, const float* input_scales,
                       int8_t* q, float* scales);

// Input-channel scales for a weight matrix W (`out` rows of `in` floats): t[k] = the square root
// of column k's largest magnitude over the whole matrix's (1 for a zero column). Quantizing
// W[o, k] / t[k] per output channel and multiplying the activations by t keeps the product and
// gives input channels with small weights finer steps; on the tiny models the logits' rel. L2
// drops by up to a third (5v1: 7.1e-3 -> 5.7e-3), below llama.cpp Q8_0's 32-element blocks. The
// square root splits the range between weights and the 16-bit activations (exponents 0.3 and
// 0.7 measured worse).
void InputScales(const float* w, int64_t out, int64_t in, float* input_scales);
// The same over a matrix read a run of rows at a time: ColumnMax over every run (column_max
// starts at 0), then InputScalesFromColumnMax turns it into the scales in place.
void ColumnMax(const float* w, int64_t rows, int64_t in, float* column_max);
void InputScalesFromColumnMax(int64_t in, float* column_max);

// QuantizeRows of W[o, k] / input_scales[k] (per output channel), without a scaled copy of W.
void QuantizeWeights(const float* w, int64_t out, int64_t in, const float* input_scales, int8_t* q,
                     float* scales);

// y = epilogue((256 * sums[2r, c] + sums[2r + 1, c]) * row_scales[r] * col_scales[c]) over
// [rows, cols], `sums` the [2 * rows, cols] products of QuantizeRowsSplit's rows; for kAccumulate
// the product is added to y. `sums` and y must not overlap.
void RescaleSplitRows(const float* sums, int64_t rows, int64_t cols, const float* row_scales,
                      const float* col_scales, Epilogue epilogue, float* y);

}  // namespace rwkv::engine

#endif  // RWKV_ENGINE_COMPUTE_INT8_ROWS_H_
