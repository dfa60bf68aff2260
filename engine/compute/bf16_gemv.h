// One- to few-row bf16 products straight from oneDNN's AMX weight layout, bit for bit what its
// AMX kernel computes.
//
// A decode step of a few rows only streams the weights. oneDNN 2.6 serves it with its AMX kernel
// padded to 8 rows (see MatmulContext::Matmul): on one large matrix that streams about as fast
// as these loops (768x65536, one core: 13.5-14.9 GB/s vs 14.3-14.6), but each call pays for the
// padding copies and the primitive's dispatch, which weigh on a decode step's many small
// matrices (0.1B, batch 1, best of 3 interleaved runs on a shared machine: 51 -> 55 tok/s, 95-101%
// of the read-bandwidth roofline). These AVX-512 loops read the same packed matrix (no copy).
//
// Exactness: measured here (a Xeon with AMX-BF16, oneDNN 2.6), the AMX kernel's sum for one output is
//   acc = 0; for each run of 32 inputs (one tdpbf16ps): acc += (even_sum + odd_sum)
// where even_sum adds the run's 16 even-input products in ascending order in float32 from zero,
// odd_sum likewise the odd ones, every addition rounded to nearest even, denormals flushed.
// bf16 x bf16 products are exact in float32, so a fused multiply-add per product rounds as that
// addition does; the loops here follow that order exactly. oneDNN splits longer sums (from about
// 2048 inputs, depending on the shape, the row count and the threads) into partial sums of its
// own, so Linear cuts such matrices into parts of at most kBf16GemvMaxIn inputs (matmul.h).
// bf16_gemv_test and matmul_test check the bits.
#ifndef RWKV_ENGINE_COMPUTE_BF16_GEMV_H_
#define RWKV_ENGINE_COMPUTE_BF16_GEMV_H_

#include <cstdint>
#include <oneapi/dnnl/dnnl.hpp>

namespace rwkv::engine {

// Most rows one call of Bf16Gemv takes.
inline constexpr int64_t kBf16GemvMaxRows = 4;
// Longest input the AMX kernel was measured to sum in one run (see above).
inline constexpr int64_t kBf16GemvMaxIn = 1024;

// True when oneDNN runs AMX kernels on this CPU and `weights` (an [in, out] bf16 matrix packed by
// oneDNN) is in the layout these loops read (oneDNN's BA16a64b2a: 64 outputs by 32 inputs per
// block, input pairs of one output adjacent), out is a multiple of 64 and in at most
// kBf16GemvMaxIn.
bool Bf16GemvApplies(const dnnl::memory::desc& weights, int64_t in, int64_t out);

// sums[r, o] = sum_k x[r, k] * W[k, o] for r < rows (at most kBf16GemvMaxRows), as float32, in
// the AMX kernel's order. `x` holds rows of `in` bf16 (raw bits). Runs over output blocks with the
// current OpenMP thread count.
void Bf16Gemv(const uint16_t* x, int64_t rows, int64_t in, int64_t out, const uint16_t* weights,
              float* sums);

}  // namespace rwkv::engine

#endif  // RWKV_ENGINE_COMPUTE_BF16_GEMV_H_
