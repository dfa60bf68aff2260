// Element-wise and normalization kernels over row-major [rows, width] float matrices.
//
// Everything here is per row or per element, so it parallelizes over rows with OpenMP, and each
// row runs vectorized code for the best instruction set (vector_math.h). Norms accumulate in
// double lanes: the cost is negligible and the results stay close to rwkv.cpp's (which also sums
// in double).
#ifndef RWKV_ENGINE_COMPUTE_OPS_H_
#define RWKV_ENGINE_COMPUTE_OPS_H_

#include <cstdint>

namespace rwkv::engine {

// y[r] = LN(x[r]) * gamma + beta over `width` channels. x and y may alias.
void LayerNormRows(const float* x, int64_t rows, int64_t width, const float* gamma,
                   const float* beta, float eps, float* y);

// The same, separately for each of `groups` contiguous channel groups of every row; gamma and
// beta are per channel.
void GroupNormRows(const float* x, int64_t rows, int64_t width, int64_t groups, const float* gamma,
                   const float* beta, float eps, float* y);

// x += a * b, element-wise over [rows, width].
void AddProductRows(int64_t rows, int64_t width, const float* a, const float* b, float* x);

// y *= g, element-wise over [rows, width].
void MultiplyRows(int64_t rows, int64_t width, const float* g, float* y);

// Copies `rows` rows of `width` floats picked by `row_index` from `src` into dense `dst`.
void GatherRows(const float* src, int64_t width, const int64_t* row_index, int64_t rows,
                float* dst);

// Sets flush-to-zero and denormals-are-zero on the calling thread and on every OpenMP worker:
// decaying recurrent states would otherwise drift into denormals and run 100x slower.
void EnableFlushToZero();

}  // namespace rwkv::engine

#endif  // RWKV_ENGINE_COMPUTE_OPS_H_
