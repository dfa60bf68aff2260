#include "engine/compute/bf16_gemv.h"

#include <immintrin.h>

#include <algorithm>
#include <cstdint>

namespace rwkv::engine {
namespace {

// One block: 64 outputs, every input (padded to a multiple of 32 with zeros). Its elements are
// contiguous, in pairs of inputs: pair p holds outputs 0..63 with inputs 2p and 2p+1 of each
// adjacent, 32 bits per output.
constexpr int64_t kBlockOutputs = 64;
constexpr int64_t kPairElements = kBlockOutputs * 2;
constexpr int64_t kRunInputs = 32;  // inputs per tdpbf16ps: the AMX kernel's partial sums
constexpr int64_t kMaxPaddedIn = kBf16GemvMaxIn;
// Weights are requested this far ahead, into L2: measured on the 768x65536 head, one row, best of
// 15: no prefetch 8.7 GB/s, 2 KB into L1 (as int8_gemv) 12.2, 4 KB into L2 14.3-14.6 (8 KB: 14.0;
// non-temporal: 9.4), against 15.3-16.3 for a plain streaming read and 13.5-14.9 for oneDNN's
// AMX kernel on 8 rows.
constexpr uintptr_t kPrefetchBytes = 4096;
// MXCSR flush-to-zero and denormals-are-zero: AMX's fixed behaviour.
constexpr unsigned kFlushDenormals = 0x8040;

#define RWKV_AVX512 __attribute__((target("avx512f,avx512bw")))

int64_t PaddedIn(int64_t in) { return (in + kRunInputs - 1) / kRunInputs * kRunInputs; }

// x's rows as float32 (bf16 widens exactly), zero-padded to `padded` inputs.
void Widen(const uint16_t* x, int64_t rows, int64_t in, int64_t padded, float* wide) {
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t k = 0; k < padded; ++k) {
      const uint32_t bits = k < in ? uint32_t{x[r * in + k]} << 16 : 0u;
      __builtin_memcpy(&wide[r * padded + k], &bits, sizeof(bits));
    }
  }
}

template <int kRows>
RWKV_AVX512 void Block(const float* x, int64_t padded, const uint16_t* block, float* sums,
                       int64_t out) {
  const __m512i high_half = _mm512_set1_epi32(static_cast<int>(0xffff0000u));
  __m512 total[kRows][4];
  for (int r = 0; r < kRows; ++r) {
    for (int j = 0; j < 4; ++j) total[r][j] = _mm512_setzero_ps();
  }
  for (int64_t run = 0; run < padded; run += kRunInputs) {
    __m512 even[kRows][4], odd[kRows][4];
    for (int r = 0; r < kRows; ++r) {
      for (int j = 0; j < 4; ++j) even[r][j] = odd[r][j] = _mm512_setzero_ps();
    }
    for (int64_t k = run; k < run + kRunInputs; k += 2) {
      const uint16_t* pair = block + (k / 2) * kPairElements;
      // A hint, never a fault, also past the matrix's end.
      const uintptr_t ahead = reinterpret_cast<uintptr_t>(pair) + kPrefetchBytes;
      for (uintptr_t line = 0; line < 4; ++line) {
        _mm_prefetch(reinterpret_cast<const char*>(ahead + 64 * line), _MM_HINT_T1);
      }
      __m512 w_even[4], w_odd[4];
      for (int j = 0; j < 4; ++j) {
        const __m512i w = _mm512_loadu_si512(pair + 32 * j);
        // The masked form: the plain one trips GCC 12's -Wmaybe-uninitialized in its own header.
        w_even[j] = _mm512_castsi512_ps(_mm512_maskz_slli_epi32(0xffff, w, 16));
        w_odd[j] = _mm512_castsi512_ps(_mm512_and_si512(w, high_half));
      }
      for (int r = 0; r < kRows; ++r) {
        const __m512 x_even = _mm512_set1_ps(x[r * padded + k]);
        const __m512 x_odd = _mm512_set1_ps(x[r * padded + k + 1]);
        for (int j = 0; j < 4; ++j) {
          even[r][j] = _mm512_fmadd_ps(x_even, w_even[j], even[r][j]);
          odd[r][j] = _mm512_fmadd_ps(x_odd, w_odd[j], odd[r][j]);
        }
      }
    }
    for (int r = 0; r < kRows; ++r) {
      for (int j = 0; j < 4; ++j) {
        total[r][j] = _mm512_add_ps(total[r][j], _mm512_add_ps(even[r][j], odd[r][j]));
      }
    }
  }
  for (int r = 0; r < kRows; ++r) {
    for (int j = 0; j < 4; ++j) _mm512_storeu_ps(sums + r * out + 16 * j, total[r][j]);
  }
}

template <int kRows>
void AllBlocks(const float* x, int64_t padded, int64_t out, const uint16_t* weights, float* sums) {
  const int64_t blocks = out / kBlockOutputs;
#pragma omp parallel if (blocks > 1)
  {
    const unsigned saved = _mm_getcsr();
    _mm_setcsr(saved | kFlushDenormals);
#pragma omp for schedule(static)
    for (int64_t b = 0; b < blocks; ++b) {
      Block<kRows>(x, padded, weights + b * padded * kBlockOutputs, sums + b * kBlockOutputs, out);
    }
    _mm_setcsr(saved);
  }
}

}  // namespace

bool Bf16GemvApplies(const dnnl::memory::desc& weights, int64_t in, int64_t out) {
  // Without AMX oneDNN's many-row kernel sums in another order (vdpbf16ps: odd input, then
  // even, one chain), which these loops do not follow.
  static const bool cpu_has_amx = dnnl::get_effective_cpu_isa() == dnnl::cpu_isa::avx512_core_amx;
  if (!cpu_has_amx || in < 1 || in > kBf16GemvMaxIn || out % kBlockOutputs != 0) return false;
  return weights == dnnl::memory::desc({in, out}, dnnl::memory::data_type::bf16,
                                       dnnl::memory::format_tag::BA16a64b2a);
}

void Bf16Gemv(const uint16_t* x, int64_t rows, int64_t in, int64_t out, const uint16_t* weights,
              float* sums) {
  // The widened rows live on the stack: in is at most kBf16GemvMaxIn.
  alignas(64) float wide[kBf16GemvMaxRows * kMaxPaddedIn];
  const int64_t padded = PaddedIn(in);
  rows = std::min(rows, kBf16GemvMaxRows);
  Widen(x, rows, in, padded, wide);
  switch (rows) {
    case 1:
      return AllBlocks<1>(wide, padded, out, weights, sums);
    case 2:
      return AllBlocks<2>(wide, padded, out, weights, sums);
    case 3:
      return AllBlocks<3>(wide, padded, out, weights, sums);
    default:
      return AllBlocks<4>(wide, padded, out, weights, sums);
  }
}

}  // namespace rwkv::engine
