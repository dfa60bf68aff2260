#include "engine/compute/q8_0_amx.h"

#include <cpuid.h>
#include <immintrin.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

#include "engine/compute/q8_0_layout.h"
#include "engine/compute/q8_0_matmul.h"

namespace rwkv::engine {
namespace {

using q8_0_layout::Groups;
using q8_0_layout::kGroupBlockBytes;
using q8_0_layout::kScalesOffset;

constexpr int64_t kTileRows = kQ8_0AmxTileRows;
constexpr int64_t kRowBytes = 64;  // a tile row: 16 outputs' int32 sums, or 16 x 4 weights
// A block as a B tile: 8 rows of 4 consecutive inputs per output, then its 16 scales as float.
constexpr int64_t kBTileBytes = kQ8_0BlockInputs / 4 * kRowBytes;
constexpr int64_t kRegroupedBlockBytes = kBTileBytes + kQ8_0GroupOutputs * sizeof(float);

// Tile registers (written as literals below: GCC's tile macros paste the number into the
// instruction): 0, 1 and 5, 6 the high and low bytes' int32 sums of even and odd blocks; 2, 3
// the rows' high and low bytes; 4 the weights.
constexpr int kSums[] = {0, 1, 5, 6}, kRowsHi = 2, kRowsLo = 3, kWeights = 4;

// ldtilecfg's 64-byte operand (palette 1).
struct alignas(64) TileConfig {
  uint8_t palette = 1;
  uint8_t start_row = 0;
  uint8_t reserved[14] = {};
  uint16_t bytes_per_row[16] = {};
  uint8_t rows[16] = {};
};

TileConfig MakeTileConfig() {
  TileConfig config;
  auto set = [&config](int tile, int rows, int bytes) {
    config.rows[tile] = static_cast<uint8_t>(rows);
    config.bytes_per_row[tile] = static_cast<uint16_t>(bytes);
  };
  for (int tile : kSums) set(tile, kTileRows, kRowBytes);
  set(kRowsHi, kTileRows, kQ8_0BlockInputs);  // 16 rows x one block's 32 bytes
  set(kRowsLo, kTileRows, kQ8_0BlockInputs);
  set(kWeights, kQ8_0BlockInputs / 4, kRowBytes);
  return config;
}

#define RWKV_Q8_AMX \
  __attribute__((target("amx-tile,amx-int8,avx512f,avx512bw,avx512vl,avx512vnni,f16c,fma")))

// The rows' bytes in tile order: per 16-row tile and block, the 16 rows' 32 high (signed)
// bytes, then their 32 low (unsigned) bytes, 1 KB that the tile loads read in order. Splits one
// tile: `rows` (<= 16) rows of q, the rest of the tile zero.
constexpr int64_t kRowsTileBytes = kTileRows * kQ8_0BlockInputs;  // one A tile, 512 bytes
RWKV_Q8_AMX void SplitRows(const int16_t* q, int64_t rows, int64_t in, uint8_t* tile) {
  const int64_t blocks = in / kQ8_0BlockInputs;
  for (int64_t r = 0; r < kTileRows; ++r) {
    for (int64_t b = 0; b < blocks; ++b) {
      uint8_t* hi = tile + b * 2 * kRowsTileBytes + r * kQ8_0BlockInputs;
      if (r >= rows) {
        std::memset(hi, 0, kQ8_0BlockInputs);
        std::memset(hi + kRowsTileBytes, 0, kQ8_0BlockInputs);
        continue;
      }
      // (Masked forms: the plain ones trip GCC 12's -Wuninitialized in its own header.)
      const __m512i x = _mm512_loadu_si512(q + r * in + b * kQ8_0BlockInputs);
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(hi),
                          _mm512_maskz_cvtepi16_epi8(~0u, _mm512_srai_epi16(x, 8)));
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(hi + kRowsTileBytes),
                          _mm512_maskz_cvtepi16_epi8(~0u, x));
    }
  }
}

// One output group's blocks as B tiles. A tile row i holds each output's inputs 4i..4i+3, that
// is its pair 2i then its pair 2i+1: the 16-bit words of two adjacent 32-byte pair rows,
// interleaved.
RWKV_Q8_AMX void RegroupBlocks(const uint8_t* group, int64_t blocks, uint8_t* regrouped) {
  alignas(64) static constexpr uint16_t kInterleave[32] = {
      0, 16, 1, 17, 2,  18, 3,  19, 4,  20, 5,  21, 6,  22, 7,  23,
      8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31};
  const __m512i index = _mm512_load_si512(kInterleave);
  for (int64_t b = 0; b < blocks; ++b) {
    const uint8_t* block = group + b * kGroupBlockBytes;
    uint8_t* target = regrouped + b * kRegroupedBlockBytes;
    for (int64_t i = 0; i < kBTileBytes; i += kRowBytes) {
      const __m512i pairs = _mm512_loadu_si512(block + i);
      _mm512_store_si512(target + i, _mm512_permutexvar_epi16(index, pairs));
    }
    const __m512 scales = _mm512_maskz_cvtph_ps(
        0xffff, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(block + kScalesOffset)));
    _mm512_store_ps(target + kBTileBytes, scales);
  }
}

// Block b's two tile products into sum tiles (hi, lo), stored to sums[0] and sums[1]. A macro:
// GCC's tile intrinsics take the tile number as a literal. Their asm names no memory, so the
// compiler barriers keep the bytes written before them and the sums read after them in place.
#define RWKV_Q8_AMX_BLOCK(kHi, kLo, block, rows_hi, sums)         \
  do {                                                            \
    __asm__ volatile("" ::: "memory");                            \
    _tile_loadd(4, block, kRowBytes);                             \
    _tile_loadd(2, rows_hi, kQ8_0BlockInputs);                    \
    _tile_loadd(3, (rows_hi) + kRowsTileBytes, kQ8_0BlockInputs); \
    _tile_zero(kHi);                                              \
    _tile_zero(kLo);                                              \
    _tile_dpbssd(kHi, 2, 4);                                      \
    _tile_dpbusd(kLo, 3, 4);                                      \
    _tile_stored(kHi, (sums)[0], kRowBytes);                      \
    _tile_stored(kLo, (sums)[1], kRowBytes);                      \
    __asm__ volatile("" ::: "memory");                            \
  } while (false)

using BlockSums = int32_t[2][kTileRows][kQ8_0GroupOutputs];

// A packed group-block's cache lines, as a hint.
RWKV_Q8_AMX inline void PrefetchBlock(const uint8_t* block) {
  for (int64_t line = 0; line < kGroupBlockBytes; line += 64) {
    _mm_prefetch(reinterpret_cast<const char*>(block + line), _MM_HINT_T0);
  }
}

// The contract's float step for one block on 16 rows: S = 256 * hi + lo (exact: |S| <= 32768 *
// 128 * 32 < 2^31), then total = fma(float(S), d, total).
RWKV_Q8_AMX inline __attribute__((always_inline)) void AddBlock(const BlockSums& sums,
                                                                const uint8_t* block,
                                                                __m512* total) {
  const __m512 scales = _mm512_load_ps(reinterpret_cast<const float*>(block + kBTileBytes));
#pragma GCC unroll 16
  for (int r = 0; r < kTileRows; ++r) {
    // (Masked forms: the plain ones trip GCC 12's -Wuninitialized in its own header.)
    const __m512i high = _mm512_maskz_slli_epi32(0xffff, _mm512_load_si512(sums[0][r]), 8);
    const __m512i sum = _mm512_add_epi32(high, _mm512_load_si512(sums[1][r]));
    total[r] = _mm512_fmadd_ps(_mm512_maskz_cvtepi32_ps(0xffff, sum), scales, total[r]);
  }
}

// Up to 16 rows (`rows`; `split` holds 16) of one output group. Two sets of sum tiles take
// alternate blocks, so that block b's tile products can run while block b - 1's sums, already
// stored, go through the float steps (measured: a delay of 2-4 blocks gains nothing). `next`,
// where not null, is the next group's packed weights, requested block by block.
RWKV_Q8_AMX void RowTile(const uint8_t* split, int64_t in, const uint8_t* regrouped,
                         const uint8_t* next, const float* row_scales, int64_t rows, int64_t out,
                         int64_t lanes, float* y) {
  const int64_t blocks = in / kQ8_0BlockInputs;
  __m512 total[kTileRows];
#pragma GCC unroll 16
  for (int r = 0; r < kTileRows; ++r) total[r] = _mm512_setzero_ps();
  alignas(64) BlockSums sums[2];
  for (int64_t b = 0; b <= blocks; ++b) {
    if (b < blocks) {
      const uint8_t* block = regrouped + b * kRegroupedBlockBytes;
      const uint8_t* rows_hi = split + b * 2 * kRowsTileBytes;
      if (next != nullptr) PrefetchBlock(next + b * kGroupBlockBytes);
      if (b % 2 == 0) {
        RWKV_Q8_AMX_BLOCK(0, 1, block, rows_hi, sums[0]);
      } else {
        RWKV_Q8_AMX_BLOCK(5, 6, block, rows_hi, sums[1]);
      }
    }
    if (b > 0) AddBlock(sums[(b - 1) % 2], regrouped + (b - 1) * kRegroupedBlockBytes, total);
  }
  const __mmask16 stored = static_cast<__mmask16>((1u << lanes) - 1);
  // Unrolled with constant indices, so that `total` stays in registers.
#pragma GCC unroll 16
  for (int r = 0; r < kTileRows; ++r) {
    if (r >= rows) break;
    _mm512_mask_storeu_ps(y + r * out, stored,
                          _mm512_mul_ps(_mm512_set1_ps(row_scales[r]), total[r]));
  }
}
#undef RWKV_Q8_AMX_BLOCK

struct Product {
  const int16_t* q;
  uint8_t* split;
  const float* row_scales;
  int64_t rows, in, out;
  const uint8_t* packed;
  float* y;
};

// One thread's share of the output groups (an orphaned `omp for`), in its own tile state.
RWKV_Q8_AMX void RunThread(const Product& p) {
  const int64_t blocks = p.in / kQ8_0BlockInputs;
  static thread_local std::vector<uint8_t> buffer;
  const size_t need = static_cast<size_t>(blocks * kRegroupedBlockBytes + 64);
  if (buffer.size() < need) buffer.resize(need);
  uint8_t* regrouped = buffer.data() + (-reinterpret_cast<uintptr_t>(buffer.data()) & 63);
  // The rows split tile by tile (the implicit barrier: all of them before any group).
  const int64_t tiles = (p.rows + kTileRows - 1) / kTileRows;
#pragma omp for schedule(static)
  for (int64_t t = 0; t < tiles; ++t) {
    const int64_t first = t * kTileRows;
    SplitRows(p.q + first * p.in, std::min(kTileRows, p.rows - first), p.in,
              p.split + t * blocks * 2 * kRowsTileBytes);
  }
  static const TileConfig config = MakeTileConfig();
  _tile_loadconfig(&config);
  const int64_t groups = Groups(p.out);
#pragma omp for schedule(static)
  for (int64_t g = 0; g < groups; ++g) {
    const int64_t first = g * kQ8_0GroupOutputs;
    const int64_t lanes = std::min(kQ8_0GroupOutputs, p.out - first);
    const uint8_t* group = p.packed + g * blocks * kGroupBlockBytes;
    RegroupBlocks(group, blocks, regrouped);
    // The next group's weights come in while the first row tile runs.
    const uint8_t* next = g + 1 < groups ? group + blocks * kGroupBlockBytes : nullptr;
    for (int64_t r = 0; r < p.rows; r += kTileRows) {
      RowTile(p.split + r / kTileRows * blocks * 2 * kRowsTileBytes, p.in, regrouped,
              r == 0 ? next : nullptr, p.row_scales + r, std::min(kTileRows, p.rows - r), p.out,
              lanes, p.y + r * p.out + first);
    }
  }
  _tile_release();
}

bool Permitted() {
  // ARCH_REQ_XCOMP_PERM for XFEATURE_XTILEDATA (asm/prctl.h): the kernel enables the tile state
  // for this process; fails where the kernel or CPU lacks it.
  constexpr long kArchReqXcompPerm = 0x1023;
  constexpr long kXfeatureXtiledata = 18;
  return syscall(SYS_arch_prctl, kArchReqXcompPerm, kXfeatureXtiledata) == 0;
}

bool CpuHasAmxInt8() {
  unsigned a = 0, b = 0, c = 0, d = 0;
  if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return false;
  const bool tile = (d >> 24) & 1, int8 = (d >> 25) & 1;
  return tile && int8 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
         __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vnni");
}

}  // namespace

bool Q8_0AmxSupported() {
  static const bool supported = CpuHasAmxInt8() && Permitted();
  return supported;
}

void Q8_0MatmulAmx(const int16_t* q, const float* row_scales, int64_t rows, int64_t in, int64_t out,
                   const uint8_t* packed, float* y) {
  if (rows <= 0 || out <= 0 || !Q8_0Applies(in) || !Q8_0AmxSupported()) return;
  const int64_t padded = (rows + kTileRows - 1) / kTileRows * kTileRows;
  // The calling thread's split rows, kept between calls: the steady state does not allocate.
  static thread_local std::vector<uint8_t> split;
  if (split.size() < static_cast<size_t>(2 * padded * in)) split.resize(2 * padded * in);
  const Product product{q, split.data(), row_scales, rows, in, out, packed, y};
#pragma omp parallel if (Groups(out) > 1 || padded > kTileRows)
  RunThread(product);
}

}  // namespace rwkv::engine
