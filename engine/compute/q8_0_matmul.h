// Matrix products on Q8_0 weights as stored in GGUF and rwkv.cpp files, without requantizing.
//
// ggml's block_q8_0 holds 32 consecutive inputs of one output row: an fp16 scale d, then 32 int8
// q (34 bytes; weight = d * q). Activations are quantized per row to int16 and each block's
// 32 products are summed exactly in int32, so only the block scales' float sum can round:
//
//   uint8_t* packed = ...;  // Q8_0PackedBytes(in, out) bytes, 64-byte aligned, zeroed
//   PackQ8_0Rows(blocks, /*first_row=*/0, /*rows=*/out, in, out, packed);
//   QuantizeRowsInt16(x, rows, in, q, scales);          // q: rows * in int16, scales: rows
//   Q8_0Matmul(q, scales, rows, in, out, packed, y);    // y[rows, out] = x W^T
//
// Order of the float operations (the contract): for each row r and output o,
//   A = 0; for each block b in ascending order: A = fma(float(S_b), d[o, b], A)
//   y[r, o] = row_scales[r] * A
// where S_b is the exact int32 sum of the block's 32 products q[r, k] * w[o, k]. Every row and
// output runs these same operations whichever rows share the call, how many there are and how
// many threads run it, so a sequence's numbers do not depend on its batch.
//
// The AVX-512 VNNI kernel (vpdpwssd: int16 pairs times sign-extended int8 weights), from 16 rows
// an AMX-INT8 one (q8_0_amx.h), an AVX2 one and the portable fallback for other CPUs give the
// same bits (q8_0_matmul_test, q8_0_amx_test).
//
// Speed, one core here (rwkv-q8-bench, shared machine): one or two rows stream the weights at
// least as fast as int8's VNNI loops (768x65536: 27 vs 16-19 GB/s); from 8 rows on, vpdpwssd's
// 32 multiply-adds per instruction (2 a cycle) bound VNNI at 110-165 GMAC/s; AMX reaches
// 145-230 GMAC/s from 16 rows (1.1-1.45x VNNI in the same runs), 55-65% of int8's AMX kernel.
// The activations' int16 steps cost about 3e-5 rel. L2 against a float64 product.
#ifndef RWKV_ENGINE_COMPUTE_Q8_0_MATMUL_H_
#define RWKV_ENGINE_COMPUTE_Q8_0_MATMUL_H_

#include <cstddef>
#include <cstdint>

namespace rwkv::engine {

inline constexpr int64_t kQ8_0BlockInputs = 32;
inline constexpr int64_t kQ8_0BlockBytes = 34;  // ggml block_q8_0: fp16 d, then 32 int8
// Outputs per packed group: the kernel's vector width. Packed outputs are padded to a multiple
// of it with zero weights and zero scales.
inline constexpr int64_t kQ8_0GroupOutputs = 16;

// True when `in` is a positive multiple of 32 (what Q8_0 needs). `out` may be anything.
bool Q8_0Applies(int64_t in);

// Bytes of the packed form of a matrix of `out` rows of `in` inputs (Q8_0Applies(in)).
size_t Q8_0PackedBytes(int64_t in, int64_t out);

// Packs rows [first_row, first_row + rows) of W into `packed` (Q8_0PackedBytes bytes, zeroed by
// the caller; 64-byte aligned for speed, any alignment is correct). `blocks` holds just those
// rows as ggml block_q8_0 bytes, row after row (in / 32 blocks each). Runs may start at any row
// and come in any order: each row's bytes land in their own place, so any split gives the bytes
// of one call over every row. The packed matrix is as large as the stored one but for outputs
// padded to 16, so a loader can release the file's pages run by run.
void PackQ8_0Rows(const uint8_t* blocks, int64_t first_row, int64_t rows, int64_t in, int64_t out,
                  uint8_t* packed);

// The inverse, for tests and for hashing: row `o` (< out) back as in/32 block_q8_0 blocks
// (in / 32 * kQ8_0BlockBytes bytes at `blocks`).
void UnpackQ8_0Row(const uint8_t* packed, int64_t o, int64_t in, int64_t out, uint8_t* blocks);

// Activations: per row s = max|x| / 32767 (s = 1 for an all-zero row), q = round-to-nearest-even
// (x / s) clamped to [-32767, 32767] (NaN becomes -32767: bad input gives garbage, never UB).
// Splits large calls (from 65536 values) over rows with the current OpenMP thread count.
void QuantizeRowsInt16(const float* x, int64_t rows, int64_t in, int16_t* q, float* scales);

// y[r, o] = row_scales[r] * A[r, o] in the order above, for `rows` rows of `in` int16 (`q`) and
// the packed matrix; y is [rows, out] row-major (does nothing unless Q8_0Applies(in)). Runs over
// output groups with the current OpenMP thread count.
void Q8_0Matmul(const int16_t* q, const float* row_scales, int64_t rows, int64_t in, int64_t out,
                const uint8_t* packed, float* y);

// For tests and benchmarks: Q8_0Matmul's kernels, which all give the same bits. It takes the
// best this CPU runs: AMX-INT8 from kQ8_0AmxMinRows rows (q8_0_amx.h) and AVX-512 VNNI below,
// else AVX-512 VNNI, else AVX2 (with FMA and F16C), else the portable loops
// (single-threaded; slow, for correctness only).
enum class Q8_0Kernel { kPortable, kAvx2, kAvx512Vnni, kAmx };
bool Q8_0KernelSupported(Q8_0Kernel kernel);
Q8_0Kernel Q8_0BestKernel();
// Q8_0Matmul through `kernel`; does nothing unless Q8_0KernelSupported(kernel).
void Q8_0MatmulWith(Q8_0Kernel kernel, const int16_t* q, const float* row_scales, int64_t rows,
                    int64_t in, int64_t out, const uint8_t* packed, float* y);
// QuantizeRowsInt16's portable form (it takes AVX-512 code where the CPU has AVX-512 VNNI).
void QuantizeRowsInt16Portable(const float* x, int64_t rows, int64_t in, int16_t* q, float* scales);

}  // namespace rwkv::engine

#endif  // RWKV_ENGINE_COMPUTE_Q8_0_MATMUL_H_
