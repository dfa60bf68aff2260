#include "engine/compute/q8_0_matmul.h"

#include <immintrin.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>

namespace rwkv::engine {
namespace {

// Packed layout: output groups of kQ8_0GroupOutputs in order; within a group, its blocks in input
// order; a group-block is 16 input pairs of 32 bytes (pair p: for each of the 16 outputs, its
// inputs 2p and 2p+1 adjacent, vpdpwssd's operand shape once sign-extended to int16), then the 16
// outputs' fp16 scales. 544 bytes, a multiple of 32, so no 32-byte load straddles a cache line.
constexpr int64_t kPairs = kQ8_0BlockInputs / 2;
constexpr int64_t kPairBytes = kQ8_0GroupOutputs * 2;
constexpr int64_t kScalesOffset = kPairs * kPairBytes;
constexpr int64_t kGroupBlockBytes = kScalesOffset + kQ8_0GroupOutputs * 2;
// Rows that share one pass over a group's weights: 8 int32 and 8 float accumulators.
constexpr int64_t kChunkRows = 8;
// Weights are requested this far ahead of the loop, as in int8_gemv.cc.
constexpr uintptr_t kPrefetchBytes = 2048;

int64_t Groups(int64_t out) { return (out + kQ8_0GroupOutputs - 1) / kQ8_0GroupOutputs; }

// Where output o's block b starts in the packed matrix (`blocks` per row); o takes lane
// o % kQ8_0GroupOutputs there.
int64_t GroupBlockOffset(int64_t blocks, int64_t o, int64_t b) {
  return ((o / kQ8_0GroupOutputs) * blocks + b) * kGroupBlockBytes;
}

// fp16 -> float32, exact (what vcvtph2ps does; NaNs are quieted as it quiets them).
float HalfToFloat(uint16_t h) {
  const uint32_t sign = uint32_t{h & 0x8000u} << 16;
  const uint32_t exponent = (h >> 10) & 0x1f;
  const uint32_t mantissa = h & 0x3ff;
  uint32_t bits;
  if (exponent == 0x1f) {
    bits = sign | 0x7f800000u | (mantissa << 13) | (mantissa != 0 ? 0x400000u : 0u);
  } else if (exponent != 0) {
    bits = sign | ((exponent + 112) << 23) | (mantissa << 13);
  } else {
    // Zero or subnormal: mantissa * 2^-24, a normal float32 (or zero), exact.
    bits = sign | std::bit_cast<uint32_t>(static_cast<float>(mantissa) * 0x1p-24f);
  }
  return std::bit_cast<float>(bits);
}

#define RWKV_Q8_VNNI __attribute__((target("avx512f,avx512bw,avx512vnni")))

// kRows rows of one output group: `q` and `y` point at the first row's inputs and outputs,
// `lanes` outputs of the group are stored.
template <int kRows>
RWKV_Q8_VNNI void GroupRows(const int16_t* q, const float* row_scales, int64_t in, int64_t out,
                            const uint8_t* group, int64_t lanes, float* y) {
  const int64_t blocks = in / kQ8_0BlockInputs;
  __m512 total[kRows];
  for (int r = 0; r < kRows; ++r) total[r] = _mm512_setzero_ps();
  for (int64_t b = 0; b < blocks; ++b) {
    const uint8_t* block = group + b * kGroupBlockBytes;
    // A hint, never a fault, also past the matrix's end (the address is not formed as a
    // pointer into it).
    const uintptr_t ahead = reinterpret_cast<uintptr_t>(block) + kPrefetchBytes;
    for (uintptr_t line = 0; line < uintptr_t{kGroupBlockBytes}; line += 64) {
      _mm_prefetch(reinterpret_cast<const char*>(ahead + line), _MM_HINT_T0);
    }
    const int16_t* x = q + b * kQ8_0BlockInputs;
    __m512i sums[kRows];
    for (int r = 0; r < kRows; ++r) sums[r] = _mm512_setzero_si512();
    for (int64_t p = 0; p < kPairs; ++p) {
      const __m512i w = _mm512_cvtepi8_epi16(
          _mm256_loadu_si256(reinterpret_cast<const __m256i*>(block + p * kPairBytes)));
      for (int r = 0; r < kRows; ++r) {
        int32_t pair;
        std::memcpy(&pair, x + r * in + 2 * p, sizeof(pair));
        sums[r] = _mm512_dpwssd_epi32(sums[r], _mm512_set1_epi32(pair), w);
      }
    }
    // Masked forms: the plain ones trip GCC 12's -Wuninitialized in its own header.
    const __m512 scales = _mm512_maskz_cvtph_ps(
        0xffff, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(block + kScalesOffset)));
    for (int r = 0; r < kRows; ++r) {
      total[r] = _mm512_fmadd_ps(_mm512_maskz_cvtepi32_ps(0xffff, sums[r]), scales, total[r]);
    }
  }
  const __mmask16 stored = static_cast<__mmask16>((1u << lanes) - 1);
  for (int r = 0; r < kRows; ++r) {
    const __m512 scaled = _mm512_mul_ps(_mm512_set1_ps(row_scales[r]), total[r]);
    _mm512_mask_storeu_ps(y + r * out, stored, scaled);
  }
}

using GroupRowsFn = void (*)(const int16_t*, const float*, int64_t, int64_t, const uint8_t*,
                             int64_t, float*);
constexpr GroupRowsFn kGroupRows[kChunkRows + 1] = {
    nullptr,       GroupRows<1>, GroupRows<2>, GroupRows<3>, GroupRows<4>,
    GroupRows<5>,  GroupRows<6>, GroupRows<7>, GroupRows<8>};

void VnniMatmul(const int16_t* q, const float* row_scales, int64_t rows, int64_t in, int64_t out,
                const uint8_t* packed, float* y) {
  const int64_t groups = Groups(out);
  const int64_t group_bytes = in / kQ8_0BlockInputs * kGroupBlockBytes;
#pragma omp parallel for schedule(static) if (groups > 1)
  for (int64_t g = 0; g < groups; ++g) {
    const int64_t first = g * kQ8_0GroupOutputs;
    const int64_t lanes = std::min(kQ8_0GroupOutputs, out - first);
    for (int64_t r = 0; r < rows; r += kChunkRows) {
      const int64_t chunk = std::min(kChunkRows, rows - r);
      kGroupRows[chunk](q + r * in, row_scales + r, in, out, packed + g * group_bytes, lanes,
                        y + r * out + first);
    }
  }
}

bool CpuHasVnni() {
  static const bool has = __builtin_cpu_supports("avx512f") &&
                          __builtin_cpu_supports("avx512bw") &&
                          __builtin_cpu_supports("avx512vnni");
  return has;
}

// Rounds to nearest even for |v| < 2^22 in any vector width.
constexpr float kRound = 12582912.0f;
constexpr float kLevels = 32767.0f;

}  // namespace

bool Q8_0Applies(int64_t in) { return in > 0 && in % kQ8_0BlockInputs == 0; }

size_t Q8_0PackedBytes(int64_t in, int64_t out) {
  return static_cast<size_t>(Groups(out) * (in / kQ8_0BlockInputs) * kGroupBlockBytes);
}

void PackQ8_0Rows(const uint8_t* blocks, int64_t first_row, int64_t rows, int64_t in, int64_t out,
                  uint8_t* packed) {
  const int64_t row_blocks = in / kQ8_0BlockInputs;
  for (int64_t i = 0; i < rows; ++i) {
    const int64_t o = first_row + i;
    const int64_t lane = o % kQ8_0GroupOutputs;
    for (int64_t b = 0; b < row_blocks; ++b) {
      const uint8_t* source = blocks + (i * row_blocks + b) * kQ8_0BlockBytes;
      uint8_t* target = packed + GroupBlockOffset(row_blocks, o, b);
      std::memcpy(target + kScalesOffset + 2 * lane, source, 2);
      for (int64_t p = 0; p < kPairs; ++p) {
        std::memcpy(target + p * kPairBytes + 2 * lane, source + 2 + 2 * p, 2);
      }
    }
  }
}

void UnpackQ8_0Row(const uint8_t* packed, int64_t o, int64_t in, int64_t out, uint8_t* blocks) {
  const int64_t row_blocks = in / kQ8_0BlockInputs;
  const int64_t lane = o % kQ8_0GroupOutputs;
  for (int64_t b = 0; b < row_blocks; ++b) {
    const uint8_t* source = packed + GroupBlockOffset(row_blocks, o, b);
    uint8_t* target = blocks + b * kQ8_0BlockBytes;
    std::memcpy(target, source + kScalesOffset + 2 * lane, 2);
    for (int64_t p = 0; p < kPairs; ++p) {
      std::memcpy(target + 2 + 2 * p, source + p * kPairBytes + 2 * lane, 2);
    }
  }
}

void QuantizeRowsInt16(const float* x, int64_t rows, int64_t in, int16_t* q, float* scales) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* row = x + r * in;
    float amax = 0.0f;
    for (int64_t k = 0; k < in; ++k) amax = std::max(amax, std::fabs(row[k]));
    const float s = amax > 0.0f ? amax / kLevels : 1.0f;
    for (int64_t k = 0; k < in; ++k) {
      float v = row[k] / s;
      // A tiny (subnormal) max makes s inexact, so |v| can pass 32767; NaN fails both tests.
      if (!(v >= -kLevels)) v = -kLevels;
      if (v > kLevels) v = kLevels;
      q[r * in + k] = static_cast<int16_t>((v + kRound) - kRound);
    }
    scales[r] = s;
  }
}

void Q8_0Matmul(const int16_t* q, const float* row_scales, int64_t rows, int64_t in, int64_t out,
                const uint8_t* packed, float* y) {
  if (rows <= 0 || out <= 0 || !Q8_0Applies(in)) return;
  if (CpuHasVnni()) return VnniMatmul(q, row_scales, rows, in, out, packed, y);
  Q8_0MatmulPortable(q, row_scales, rows, in, out, packed, y);
}

bool Q8_0MatmulUsesVnni() { return CpuHasVnni(); }

void Q8_0MatmulPortable(const int16_t* q, const float* row_scales, int64_t rows, int64_t in,
                        int64_t out, const uint8_t* packed, float* y) {
  const int64_t row_blocks = in / kQ8_0BlockInputs;
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t o = 0; o < out; ++o) {
      const int64_t lane = o % kQ8_0GroupOutputs;
      float total = 0.0f;
      for (int64_t b = 0; b < row_blocks; ++b) {
        const uint8_t* block = packed + GroupBlockOffset(row_blocks, o, b);
        const int16_t* x = q + r * in + b * kQ8_0BlockInputs;
        int32_t sum = 0;
        for (int64_t p = 0; p < kPairs; ++p) {
          const int8_t* w = reinterpret_cast<const int8_t*>(block + p * kPairBytes + 2 * lane);
          sum += int32_t{x[2 * p]} * w[0] + int32_t{x[2 * p + 1]} * w[1];
        }
        uint16_t d;
        std::memcpy(&d, block + kScalesOffset + 2 * lane, sizeof(d));
        total = std::fma(static_cast<float>(sum), HalfToFloat(d), total);
      }
      y[r * out + o] = row_scales[r] * total;
    }
  }
}

}  // namespace rwkv::engine
