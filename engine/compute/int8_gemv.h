// One- and two-row int8 products straight from oneDNN's AMX weight layout.
//
// A decode step of one or two int8 rows (int8: one sequence's high and low rows; int8-fast: one
// or two sequences) only streams the weights, and oneDNN 2.6's AMX kernel streams them from
// memory at about 5.8 GB/s on one core here. These AVX-512 VNNI loops read the same packed matrix
// (no second copy) at 10 GB/s for one row and 7.4 for two (measured over 400 MB of weights, past
// the L3; two rows gain about 15% more from a software prefetch); from three rows on, and for
// matrices in cache, AMX is as fast or faster. Integer sums are exact, so the result is bit for bit what oneDNN computes, and a
// sequence gets the same numbers whichever path its batch takes.
#ifndef RWKV_ENGINE_COMPUTE_INT8_GEMV_H_
#define RWKV_ENGINE_COMPUTE_INT8_GEMV_H_

#include <cstdint>
#include <oneapi/dnnl/dnnl.hpp>

namespace rwkv::engine {

// Most rows one call of Int8Gemv takes.
inline constexpr int64_t kInt8GemvMaxRows = 2;

// True when this CPU has AVX-512 VNNI and `weights` (an [in, out] s8 matrix packed by oneDNN) is
// in the blocked layout these loops read: 64 outputs by 64 inputs per block, groups of 4 inputs
// of one output adjacent (oneDNN's BA16a64b4a, no compensation; what its AMX kernels use).
bool Int8GemvApplies(const dnnl::memory::desc& weights, int64_t in, int64_t out);

// sums[r, o] = sum_k x[r, k] * W[k, o] for r < rows (at most kInt8GemvMaxRows), as float32.
// `x` is int8 and overwritten (biased to uint8 in place); `compensation[o]` = 128 * sum_k W[k, o]
// (see Int8GemvCompensation).
// Runs over output blocks with the current OpenMP thread count.
void Int8Gemv(int8_t* x, int64_t rows, int64_t in, int64_t out, const int8_t* weights,
              const int32_t* compensation, float* sums);

// 128 * the sum of each output's weights; `w` holds `out` rows of `in` int8 (W's rows, unpacked).
void Int8GemvCompensation(const int8_t* w, int64_t in, int64_t out, int32_t* compensation);

}  // namespace rwkv::engine

#endif  // RWKV_ENGINE_COMPUTE_INT8_GEMV_H_
