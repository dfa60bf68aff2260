// Q8_0Matmul (q8_0_matmul.h) on AMX-INT8 tiles, for many rows, with the VNNI kernel's bits.
//
// Each int16 activation splits into a signed high and an unsigned low byte, x = 256 * hi + lo,
// so a block's exact int32 sum is S = 256 * sum(hi * w) + sum(lo * w): tdpbssd and tdpbusd over
// the block's 32 inputs (one tile product each, 16 rows x 16 outputs), combined in int32, then
// the contract's float ops in its order (fma(float(S), d, A) per block ascending, the row scale
// at the end). The weights stay in the one packed layout (34 bytes per 32 weights, as stored):
// each output group's blocks are regrouped into AMX's 4-input form in a per-thread buffer
// (in / 32 * 576 bytes) once per call and reused by every 16-row tile.
//
//   if (Q8_0AmxSupported() && rows >= kQ8_0AmxMinRows) Q8_0MatmulAmx(q, scales, rows, ...);
//
// Per block and 16-row tile it takes 3 tile loads, 2 tile products at half depth (K = 32 of 64)
// and 2 tile stores, then 64 vector ops; the stores and those ops, not the products, bound it
// (145-230 GMAC/s on one core here, 1.1-1.45x the VNNI kernel from 16 rows).
#ifndef RWKV_ENGINE_COMPUTE_Q8_0_AMX_H_
#define RWKV_ENGINE_COMPUTE_Q8_0_AMX_H_

#include <cstdint>

namespace rwkv::engine {

// Rows per tile: calls pad their rows to a multiple.
inline constexpr int64_t kQ8_0AmxTileRows = 16;
// Rows from which Q8_0Matmul takes the AMX kernel where the CPU has it, and the most rows past
// a multiple of 16 it leaves to the VNNI kernel rather than pad a tile (rwkv-q8-bench, 768x3072,
// one thread: a 16-row tile costs about what 8-10 rows cost VNNI).
inline constexpr int64_t kQ8_0AmxMinRows = 16;
inline constexpr int64_t kQ8_0AmxVnniTailRows = 8;

// True when the CPU has AMX-INT8 and the OS lets this process use the tile registers (asked
// for once, as oneDNN does).
bool Q8_0AmxSupported();

// Q8_0Matmul's product through AMX tiles, for any row count (Q8_0AmxSupported(), Q8_0Applies(in)
// and out > 0). Runs over output groups with the current OpenMP thread count. The calling thread
// keeps a scratch buffer of 2 bytes per activation (rows rounded up to 16), grown on demand.
void Q8_0MatmulAmx(const int16_t* q, const float* row_scales, int64_t rows, int64_t in, int64_t out,
                   const uint8_t* packed, float* y);

}  // namespace rwkv::engine

#endif  // RWKV_ENGINE_COMPUTE_Q8_0_AMX_H_
