#include "engine/compute/q8_0_matmul.h"

#include <immintrin.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <utility>

#include "engine/compute/q8_0_amx.h"
#include "engine/compute/q8_0_layout.h"
#include "engine/model/quantization.h"

namespace rwkv::engine {
namespace {

using q8_0_layout::Groups;
using q8_0_layout::kGroupBlockBytes;
using q8_0_layout::kPairBytes;
using q8_0_layout::kPairs;
using q8_0_layout::kScalesOffset;

// Most rows that share one pass over a group's weights: 12 int32 and 12 float accumulators.
constexpr int64_t kChunkRows = 12;
// Weights are requested this far ahead of the loop, as in int8_gemv.cc (768x65536 at one and
// two rows, interleaved: 2 KB and 4 KB into L1 alike within 1-3%, into L2 5-10% slower).
constexpr uintptr_t kPrefetchBytes = 4096;

// Where output o's block b starts in the packed matrix (`blocks` per row); o takes lane
// o % kQ8_0GroupOutputs there.
int64_t GroupBlockOffset(int64_t blocks, int64_t o, int64_t b) {
  return ((o / kQ8_0GroupOutputs) * blocks + b) * kGroupBlockBytes;
}

// Requests the group-block kPrefetchBytes past `block`: a hint, never a fault, also past the
// matrix's end (the address is not formed as a pointer into it).
inline __attribute__((always_inline)) void PrefetchAhead(const uint8_t* block) {
  const uintptr_t ahead = reinterpret_cast<uintptr_t>(block) + kPrefetchBytes;
  for (uintptr_t line = 0; line < uintptr_t{kGroupBlockBytes}; line += 64) {
    _mm_prefetch(reinterpret_cast<const char*>(ahead + line), _MM_HINT_T0);
  }
}

#define RWKV_Q8_VNNI __attribute__((target("avx512f,avx512bw,avx512vnni")))

// Integer sums in flight that keep vpdpwssd busy: it has a latency of 5 cycles and issues 2 per
// cycle here (measured: 8 independent chains 4.0 per ns, 12 chains 6.1).
constexpr int kChainsWanted = 10;

// kRows rows of one output group: `q` and `y` point at the first row's inputs and outputs,
// `lanes` outputs of the group are stored. Each row's block sum runs in kChains integer chains
// (pairs p, p + kChains, ...), added at the end: integer sums are exact in any order.
template <int kRows, int kChains = std::min(4, (kChainsWanted + kRows - 1) / kRows)>
RWKV_Q8_VNNI void GroupRows(const int16_t* q, const float* row_scales, int64_t in, int64_t out,
                            const uint8_t* group, int64_t lanes, float* y) {
  const int64_t blocks = in / kQ8_0BlockInputs;
  // One base register per row and one offset for all: no address arithmetic in the loop.
  const int16_t* row[kRows];
  for (int r = 0; r < kRows; ++r) row[r] = q + r * in;
  __m512 total[kRows];
  for (int r = 0; r < kRows; ++r) total[r] = _mm512_setzero_ps();
  for (int64_t b = 0; b < blocks; ++b) {
    const uint8_t* block = group + b * kGroupBlockBytes;
    PrefetchAhead(block);
    const int64_t x = b * kQ8_0BlockInputs;
    __m512i sums[kChains][kRows];
    for (int c = 0; c < kChains; ++c) {
      for (int r = 0; r < kRows; ++r) sums[c][r] = _mm512_setzero_si512();
    }
    // Unrolled fully, so that every accumulator stays in a register.
#pragma GCC unroll 16
    for (int p = 0; p < kPairs; ++p) {
      const __m512i w = _mm512_cvtepi8_epi16(
          _mm256_loadu_si256(reinterpret_cast<const __m256i*>(block + p * kPairBytes)));
      for (int r = 0; r < kRows; ++r) {
        int32_t pair;
        std::memcpy(&pair, row[r] + x + 2 * p, sizeof(pair));
        __m512i& sum = sums[p % kChains][r];
        sum = _mm512_dpwssd_epi32(sum, _mm512_set1_epi32(pair), w);
      }
    }
    // Masked forms: the plain ones trip GCC 12's -Wuninitialized in its own header.
    const __m512 scales = _mm512_maskz_cvtph_ps(
        0xffff, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(block + kScalesOffset)));
    for (int r = 0; r < kRows; ++r) {
      for (int c = 1; c < kChains; ++c) sums[0][r] = _mm512_add_epi32(sums[0][r], sums[c][r]);
      total[r] = _mm512_fmadd_ps(_mm512_maskz_cvtepi32_ps(0xffff, sums[0][r]), scales, total[r]);
    }
  }
  const __mmask16 stored = static_cast<__mmask16>((1u << lanes) - 1);
  for (int r = 0; r < kRows; ++r) {
    const __m512 scaled = _mm512_mul_ps(_mm512_set1_ps(row_scales[r]), total[r]);
    _mm512_mask_storeu_ps(y + r * out, stored, scaled);
  }
}

#define RWKV_Q8_AVX2 __attribute__((target("avx2,fma,f16c")))

// GroupRows for AVX2 (16 vector registers): each 16-output vector of the AVX-512 kernel is two
// halves of 8, vpmaddwd + vpaddd does vpdpwssd's work. The same float operations per output.
template <int kRows>
RWKV_Q8_AVX2 void GroupRowsAvx2(const int16_t* q, const float* row_scales, int64_t in, int64_t out,
                                const uint8_t* group, int64_t lanes, float* y) {
  const int64_t blocks = in / kQ8_0BlockInputs;
  const int16_t* row[kRows];
  for (int r = 0; r < kRows; ++r) row[r] = q + r * in;
  __m256 total[kRows][2];
  for (int r = 0; r < kRows; ++r) total[r][0] = total[r][1] = _mm256_setzero_ps();
  for (int64_t b = 0; b < blocks; ++b) {
    const uint8_t* block = group + b * kGroupBlockBytes;
    PrefetchAhead(block);
    const int64_t x = b * kQ8_0BlockInputs;
    __m256i sums[kRows][2];
    for (int r = 0; r < kRows; ++r) sums[r][0] = sums[r][1] = _mm256_setzero_si256();
#pragma GCC unroll 16
    for (int p = 0; p < kPairs; ++p) {
      const uint8_t* pair_bytes = block + p * kPairBytes;
      const __m256i w0 =
          _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(pair_bytes)));
      const __m256i w1 =
          _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(pair_bytes + 16)));
#pragma GCC unroll 4
      for (int r = 0; r < kRows; ++r) {
        int32_t pair;
        std::memcpy(&pair, row[r] + x + 2 * p, sizeof(pair));
        const __m256i broadcast = _mm256_set1_epi32(pair);
        sums[r][0] = _mm256_add_epi32(sums[r][0], _mm256_madd_epi16(broadcast, w0));
        sums[r][1] = _mm256_add_epi32(sums[r][1], _mm256_madd_epi16(broadcast, w1));
        // Keeps GCC from reassociating the integer sums into trees of products held on the
        // stack (it did, at 2 and 3 rows: 3x slower).
        __asm__("" : "+x"(sums[r][0]), "+x"(sums[r][1]));
      }
    }
    for (int h = 0; h < 2; ++h) {
      const __m256 scales = _mm256_cvtph_ps(
          _mm_loadu_si128(reinterpret_cast<const __m128i*>(block + kScalesOffset + 16 * h)));
      for (int r = 0; r < kRows; ++r) {
        total[r][h] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sums[r][h]), scales, total[r][h]);
      }
    }
  }
  for (int r = 0; r < kRows; ++r) {
    float scaled[kQ8_0GroupOutputs];
    for (int h = 0; h < 2; ++h) {
      _mm256_storeu_ps(scaled + 8 * h, _mm256_mul_ps(_mm256_set1_ps(row_scales[r]), total[r][h]));
    }
    std::memcpy(y + r * out, scaled, lanes * sizeof(float));
  }
}

using GroupRowsFn = void (*)(const int16_t*, const float*, int64_t, int64_t, const uint8_t*,
                             int64_t, float*);
template <size_t... kRows>
constexpr std::array<GroupRowsFn, sizeof...(kRows)> VnniTable(std::index_sequence<kRows...>) {
  return {GroupRows<static_cast<int>(kRows) + 1>...};
}
template <size_t... kRows>
constexpr std::array<GroupRowsFn, sizeof...(kRows)> Avx2Table(std::index_sequence<kRows...>) {
  return {GroupRowsAvx2<static_cast<int>(kRows) + 1>...};
}
// [n - 1] runs n rows. AVX2's 16 registers hold 3 rows' sums and totals.
constexpr std::array<GroupRowsFn, kChunkRows> kVnniGroupRows =
    VnniTable(std::make_index_sequence<kChunkRows>());
constexpr std::array<GroupRowsFn, 3> kAvx2GroupRows = Avx2Table(std::make_index_sequence<3>());

// Every output group of the product, its rows in chunks of at most `table.size()` rows.
template <size_t kMaxRows>
void RunGroups(const std::array<GroupRowsFn, kMaxRows>& table, const int16_t* q,
               const float* row_scales, int64_t rows, int64_t in, int64_t out,
               const uint8_t* packed, float* y) {
  const int64_t groups = Groups(out);
  const int64_t group_bytes = in / kQ8_0BlockInputs * kGroupBlockBytes;
  // Chunks of near-equal size: 64 rows as 4 x 11 + 2 x 10, not 5 x 12 + 4 (a short chunk has too
  // few chains in flight).
  const int64_t max_rows = static_cast<int64_t>(kMaxRows);
  const int64_t chunks = (rows + max_rows - 1) / max_rows;
#pragma omp parallel for schedule(static) if (groups > 1)
  for (int64_t g = 0; g < groups; ++g) {
    const int64_t first = g * kQ8_0GroupOutputs;
    const int64_t lanes = std::min(kQ8_0GroupOutputs, out - first);
    for (int64_t c = 0, r = 0; c < chunks; ++c) {
      const int64_t chunk = rows / chunks + (c < rows % chunks ? 1 : 0);
      table[chunk - 1](q + r * in, row_scales + r, in, out, packed + g * group_bytes, lanes,
                       y + r * out + first);
      r += chunk;
    }
  }
}

bool Supported(Q8_0Kernel kernel) {
  // Every CPU with AVX2 has F16C (and clang's __builtin_cpu_supports does not know the name).
  static const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  static const bool vnni = __builtin_cpu_supports("avx512f") &&
                           __builtin_cpu_supports("avx512bw") &&
                           __builtin_cpu_supports("avx512vnni");
  switch (kernel) {
    case Q8_0Kernel::kPortable:
      return true;
    case Q8_0Kernel::kAvx2:
      return avx2;
    case Q8_0Kernel::kAvx512Vnni:
      return vnni;
    case Q8_0Kernel::kAmx:
      return vnni && Q8_0AmxSupported();
  }
  return false;
}

bool CpuHasVnni() { return Supported(Q8_0Kernel::kAvx512Vnni); }

// Rounds to nearest even for |v| < 2^22 in any vector width.
constexpr float kRound = 12582912.0f;
constexpr float kLevels = 32767.0f;
// Values from which QuantizeRowsInt16 splits its rows between threads.
constexpr int64_t kParallelQuantizeValues = 1 << 16;

float RowScale(float amax) { return amax > 0.0f ? amax / kLevels : 1.0f; }

// The portable form of one row of QuantizeRowsInt16.
void QuantizeRow(const float* x, int64_t in, int16_t* q, float* scale) {
  float amax = 0.0f;
  for (int64_t k = 0; k < in; ++k) amax = std::max(amax, std::fabs(x[k]));  // NaNs skipped
  const float s = RowScale(amax);
  for (int64_t k = 0; k < in; ++k) {
    float v = x[k] / s;
    // A tiny (subnormal) max makes s inexact, so |v| can pass 32767; NaN fails both tests.
    if (!(v >= -kLevels)) v = -kLevels;
    if (v > kLevels) v = kLevels;
    q[k] = static_cast<int16_t>((v + kRound) - kRound);
  }
  *scale = s;
}

// The same values, 16 at a time.
RWKV_Q8_VNNI void QuantizeRowAvx512(const float* x, int64_t in, int16_t* q, float* scale) {
  __m512 amax = _mm512_setzero_ps();
  for (int64_t k = 0; k < in; k += 16) {
    const __mmask16 m = static_cast<__mmask16>(in - k >= 16 ? 0xffff : (1u << (in - k)) - 1);
    // vmaxps returns its second operand when either is NaN: NaNs are skipped, as above. (Masked
    // forms here: the plain ones trip GCC 12's -Wuninitialized in its own header.)
    amax = _mm512_maskz_max_ps(0xffff, _mm512_abs_ps(_mm512_maskz_loadu_ps(m, x + k)), amax);
  }
  alignas(64) float lanes[16];
  _mm512_store_ps(lanes, amax);
  const float s = RowScale(*std::max_element(lanes, lanes + 16));
  const __m512 divisor = _mm512_set1_ps(s);
  const __m512 low = _mm512_set1_ps(-kLevels), high = _mm512_set1_ps(kLevels);
  const __m512 round = _mm512_set1_ps(kRound);
  for (int64_t k = 0; k < in; k += 16) {
    const __mmask16 m = static_cast<__mmask16>(in - k >= 16 ? 0xffff : (1u << (in - k)) - 1);
    const __m512 v = _mm512_div_ps(_mm512_maskz_loadu_ps(m, x + k), divisor);
    // max(v, low) is low for NaN, as the portable form's first test.
    const __m512 clamped = _mm512_maskz_min_ps(0xffff, _mm512_maskz_max_ps(0xffff, v, low), high);
    const __m512 rounded = _mm512_sub_ps(_mm512_add_ps(clamped, round), round);
    _mm512_mask_cvtepi32_storeu_epi16(q + k, m, _mm512_maskz_cvttps_epi32(0xffff, rounded));
  }
  *scale = s;
}

// The contract's loops, one output at a time (any CPU).
void PortableMatmul(const int16_t* q, const float* row_scales, int64_t rows, int64_t in,
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
        total = std::fma(static_cast<float>(sum), Fp16ToF32(d), total);
      }
      y[r * out + o] = row_scales[r] * total;
    }
  }
}

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
  const bool vnni = CpuHasVnni();
  // Rows are independent: any split gives the same values.
#pragma omp parallel for schedule(static) if (rows * in >= kParallelQuantizeValues)
  for (int64_t r = 0; r < rows; ++r) {
    if (vnni) {
      QuantizeRowAvx512(x + r * in, in, q + r * in, scales + r);
    } else {
      QuantizeRow(x + r * in, in, q + r * in, scales + r);
    }
  }
}

void Q8_0Matmul(const int16_t* q, const float* row_scales, int64_t rows, int64_t in, int64_t out,
                const uint8_t* packed, float* y) {
  Q8_0MatmulWith(Q8_0BestKernel(), q, row_scales, rows, in, out, packed, y);
}

bool Q8_0KernelSupported(Q8_0Kernel kernel) { return Supported(kernel); }

Q8_0Kernel Q8_0BestKernel() {
  for (Q8_0Kernel kernel : {Q8_0Kernel::kAmx, Q8_0Kernel::kAvx512Vnni, Q8_0Kernel::kAvx2}) {
    if (Supported(kernel)) return kernel;
  }
  return Q8_0Kernel::kPortable;
}

void Q8_0MatmulWith(Q8_0Kernel kernel, const int16_t* q, const float* row_scales, int64_t rows,
                    int64_t in, int64_t out, const uint8_t* packed, float* y) {
  if (rows <= 0 || out <= 0 || !Q8_0Applies(in) || !Supported(kernel)) return;
  switch (kernel) {
    case Q8_0Kernel::kAmx: {
      // Whole 16-row tiles on AMX; a short remainder costs VNNI less than a padded tile.
      const int64_t tail = rows % kQ8_0AmxTileRows;
      const int64_t amx_rows = rows - (tail <= kQ8_0AmxVnniTailRows ? tail : 0);
      if (amx_rows >= kQ8_0AmxMinRows) {
        Q8_0MatmulAmx(q, row_scales, amx_rows, in, out, packed, y);
        if (amx_rows == rows) return;
        return RunGroups(kVnniGroupRows, q + amx_rows * in, row_scales + amx_rows, rows - amx_rows,
                         in, out, packed, y + amx_rows * out);
      }
      [[fallthrough]];
    }
    case Q8_0Kernel::kAvx512Vnni:
      return RunGroups(kVnniGroupRows, q, row_scales, rows, in, out, packed, y);
    case Q8_0Kernel::kAvx2:
      return RunGroups(kAvx2GroupRows, q, row_scales, rows, in, out, packed, y);
    case Q8_0Kernel::kPortable:
      return PortableMatmul(q, row_scales, rows, in, out, packed, y);
  }
}

void QuantizeRowsInt16Portable(const float* x, int64_t rows, int64_t in, int16_t* q,
                               float* scales) {
  for (int64_t r = 0; r < rows; ++r) QuantizeRow(x + r * in, in, q + r * in, scales + r);
}
}  // namespace rwkv::engine
