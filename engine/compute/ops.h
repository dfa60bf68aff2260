// Element-wise and normalization kernels over row-major [rows, width] float matrices.
//
// Everything here is per row or per element, so it parallelizes over rows with OpenMP. Norms
// accumulate in double: the cost is negligible next to the matmuls and the results stay close to
// rwkv.cpp's (which also sums in double).
#ifndef RWKV_ENGINE_COMPUTE_OPS_H_
#define RWKV_ENGINE_COMPUTE_OPS_H_

#include <cmath>
#include <cstdint>

namespace rwkv::engine {

inline float Sigmoid(float z) { return 1.0f / (1.0f + std::exp(-z)); }

// y[r] = LN(x[r]) * gamma + beta over `width` channels. x and y may alias.
void LayerNormRows(const float* x, int64_t rows, int64_t width, const float* gamma,
                   const float* beta, float eps, float* y);

// The same, separately for each of `groups` contiguous channel groups of every row; gamma and
// beta are per channel.
void GroupNormRows(const float* x, int64_t rows, int64_t width, int64_t groups, const float* gamma,
                   const float* beta, float eps, float* y);

// Copies `rows` rows of `width` floats picked by `row_index` from `src` into dense `dst`.
void GatherRows(const float* src, int64_t width, const int64_t* row_index, int64_t rows,
                float* dst);

// Sets flush-to-zero and denormals-are-zero on the calling thread and on every OpenMP worker:
// decaying recurrent states would otherwise drift into denormals and run 100x slower.
void EnableFlushToZero();

}  // namespace rwkv::engine

#endif  // RWKV_ENGINE_COMPUTE_OPS_H_
