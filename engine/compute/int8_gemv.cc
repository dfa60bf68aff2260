#include "engine/compute/int8_gemv.h"

#include <immintrin.h>

#include <cstdint>
#include <cstring>

namespace rwkv::engine {
namespace {

// One block: 64 outputs, every input. Its bytes are contiguous, in groups of 4 inputs: group g
// holds outputs 0..63 with inputs 4g..4g+3 of each adjacent, which is vpdpbusd's operand shape.
constexpr int64_t kBlockOutputs = 64;
constexpr int64_t kGroupBytes = kBlockOutputs * 4;
// Weights are requested this far ahead of the loop. The hardware prefetcher alone left two rows
// (int8's high and low rows of one sequence) well below one row's rate; measured on the 0.1B,
// batch 1: 94 -> 108 tok/s with 2 KB (4 KB: 103), one row unchanged (101 -> 100).
constexpr uintptr_t kPrefetchBytes = 2048;

#define RWKV_VNNI __attribute__((target("avx512f,avx512bw,avx512vnni")))

// vpdpbusd multiplies unsigned by signed bytes: x + 128 as uint8, then 128 * (sum of weights)
// is taken off.
template <int kRows>
RWKV_VNNI void Block(const uint8_t* x, int64_t in, const int8_t* block, const int32_t* compensation,
                     float* sums, int64_t out) {
  __m512i acc[kRows][4];
  for (int r = 0; r < kRows; ++r) {
    for (int j = 0; j < 4; ++j) acc[r][j] = _mm512_setzero_si512();
  }
  const int64_t groups = in / 4;
  for (int64_t g = 0; g < groups; ++g) {
    const int8_t* w = block + g * kGroupBytes;
    // A hint, never a fault, also past the matrix's end (the address is not formed as a
    // pointer into it).
    const uintptr_t ahead = reinterpret_cast<uintptr_t>(w) + kPrefetchBytes;
    for (uintptr_t line = 0; line < 4; ++line) {
      _mm_prefetch(reinterpret_cast<const char*>(ahead + 64 * line), _MM_HINT_T0);
    }
    const __m512i w0 = _mm512_loadu_si512(w);
    const __m512i w1 = _mm512_loadu_si512(w + 64);
    const __m512i w2 = _mm512_loadu_si512(w + 128);
    const __m512i w3 = _mm512_loadu_si512(w + 192);
    for (int r = 0; r < kRows; ++r) {
      int32_t four;
      std::memcpy(&four, x + r * in + 4 * g, sizeof(four));
      const __m512i xb = _mm512_set1_epi32(four);
      acc[r][0] = _mm512_dpbusd_epi32(acc[r][0], xb, w0);
      acc[r][1] = _mm512_dpbusd_epi32(acc[r][1], xb, w1);
      acc[r][2] = _mm512_dpbusd_epi32(acc[r][2], xb, w2);
      acc[r][3] = _mm512_dpbusd_epi32(acc[r][3], xb, w3);
    }
  }
  for (int j = 0; j < 4; ++j) {
    const __m512i bias = _mm512_loadu_si512(compensation + 16 * j);
    for (int r = 0; r < kRows; ++r) {
      const __m512i exact = _mm512_sub_epi32(acc[r][j], bias);
      // The masked form: the plain one trips GCC 12's -Wuninitialized in its own header.
      _mm512_storeu_ps(sums + r * out + 16 * j, _mm512_maskz_cvtepi32_ps(0xffff, exact));
    }
  }
}

template <int kRows>
void AllBlocks(const uint8_t* x, int64_t in, int64_t out, const int8_t* weights,
               const int32_t* compensation, float* sums) {
  const int64_t blocks = out / kBlockOutputs;
#pragma omp parallel for schedule(static) if (blocks > 1)
  for (int64_t b = 0; b < blocks; ++b) {
    Block<kRows>(x, in, weights + b * in * kBlockOutputs, compensation + b * kBlockOutputs,
                 sums + b * kBlockOutputs, out);
  }
}

}  // namespace

bool Int8GemvApplies(const dnnl::memory::desc& weights, int64_t in, int64_t out) {
  static const bool cpu_has_vnni =
      __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vnni");
  if (!cpu_has_vnni || in % 64 != 0 || out % kBlockOutputs != 0) return false;
  return weights == dnnl::memory::desc({in, out}, dnnl::memory::data_type::s8,
                                       dnnl::memory::format_tag::BA16a64b4a);
}

void Int8GemvCompensation(const int8_t* w, int64_t in, int64_t out, int32_t* compensation) {
  for (int64_t o = 0; o < out; ++o) {
    int32_t sum = 0;
    for (int64_t k = 0; k < in; ++k) sum += w[o * in + k];
    compensation[o] = 128 * sum;
  }
}

void Int8Gemv(int8_t* x, int64_t rows, int64_t in, int64_t out, const int8_t* weights,
              const int32_t* compensation, float* sums) {
  // Flipping the sign bit adds 128: int8 v becomes uint8 v + 128.
  for (int64_t i = 0; i < rows * in; ++i) x[i] = static_cast<int8_t>(x[i] ^ 0x80);
  const uint8_t* biased = reinterpret_cast<const uint8_t*>(x);
  if (rows == 1) return AllBlocks<1>(biased, in, out, weights, compensation, sums);
  AllBlocks<2>(biased, in, out, weights, compensation, sums);
}

}  // namespace rwkv::engine
