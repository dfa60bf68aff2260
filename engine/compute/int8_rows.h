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

}  // namespace rwkv::engine

#endif  // RWKV_ENGINE_COMPUTE_INT8_ROWS_H_
