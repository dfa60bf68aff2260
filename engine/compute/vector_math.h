// Inline float math and reductions for the engine's element-wise kernels, written so that GCC
// vectorizes the loops that use them: std::exp and std::tanh are library calls, and a loop that
// calls them stays scalar.
//
// Everything here is branch-free arithmetic, bit manipulation and integer selects. A float `?:`
// clamp to a constant lets GCC fold the constant through the arithmetic that follows, which then
// runs conditionally, and under the default -ftrapping-math GCC cannot if-convert conditional
// float arithmetic except with AVX-512 masks: the loop stays scalar on AVX2 and SSE2. So clamps
// and selects below work on the integer bit patterns.
//
// A kernel gets one copy per instruction set, picked when the library is loaded, with
// RWKV_VECTOR_CLONES. Its sums go through LaneSum, which fixes the lane every term is added into,
// so a sum does not depend on the vector width, the alignment or the batch a row came in:
//
//   RWKV_VECTOR_CLONES void Decay(const float* z, int64_t n, float* w) {
//     for (int64_t i = 0; i < n; ++i) w[i] = Exp(-Exp(z[i]));
//   }
//   RWKV_VECTOR_CLONES float Dot(const float* x, const float* y, int64_t n) {
//     return LaneSum<float>(n, [&](int64_t i) { return x[i] * y[i]; });
//   }
//
// The AVX2 and AVX-512 copies contract a * b + c into fused multiply-adds and the SSE2 one does
// not, so results can differ between machines in the last bit, never between runs on one.
#ifndef RWKV_ENGINE_COMPUTE_VECTOR_MATH_H_
#define RWKV_ENGINE_COMPUTE_VECTOR_MATH_H_

#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>

// The engine is built for plain x86-64; this gives a function AVX-512 and AVX2+FMA copies too.
// (In target_clones a comma separates versions, so "avx2,fma" would be two; x86-64-v3 is both.)
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#define RWKV_VECTOR_CLONES __attribute__((target_clones("avx512f", "arch=x86-64-v3", "default")))
#else
#define RWKV_VECTOR_CLONES
#endif

namespace rwkv::engine {

// Partial sums per reduction: one AVX-512 register of floats.
inline constexpr int kLanes = 16;

// Sums the lanes pairwise (16 -> 8 -> 4 -> 1), as vector shuffles and adds.
template <typename T>
inline T SumLanes(const T (&lanes)[kLanes]) {
  typedef T V16 __attribute__((vector_size(16 * sizeof(T))));
  typedef T V8 __attribute__((vector_size(8 * sizeof(T))));
  typedef T V4 __attribute__((vector_size(4 * sizeof(T))));
  V16 v;
  std::memcpy(&v, lanes, sizeof(v));
  const V8 v8 = __builtin_shufflevector(v, v, 0, 1, 2, 3, 4, 5, 6, 7) +
                __builtin_shufflevector(v, v, 8, 9, 10, 11, 12, 13, 14, 15);
  const V4 v4 =
      __builtin_shufflevector(v8, v8, 0, 1, 2, 3) + __builtin_shufflevector(v8, v8, 4, 5, 6, 7);
  return (v4[0] + v4[2]) + (v4[1] + v4[3]);
}

// Sum over i in [0, n) of term(i), term(i) going into lane i % kLanes. `term` may have side
// effects (a kernel can update an element and return its contribution); it is called once per i,
// in increasing order within each block of kLanes.
template <typename T, typename Term>
inline T LaneSum(int64_t n, Term term) {
  T lanes[kLanes] = {};
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    for (int l = 0; l < kLanes; ++l) lanes[l] += term(i + l);
  }
  for (int l = 0; i + l < n; ++l) lanes[l] += term(i + l);
  return SumLanes(lanes);
}

// |x| clamped to `limit`, keeping the sign (NaN becomes +-limit). Integer min, so no float select.
inline float ClampMagnitude(float x, float limit) {
  const uint32_t bits = std::bit_cast<uint32_t>(x);
  const uint32_t magnitude = bits & 0x7fffffffu;
  const uint32_t cap = std::bit_cast<uint32_t>(limit);
  return std::bit_cast<float>((bits & 0x80000000u) | (magnitude < cap ? magnitude : cap));
}

// e^x, Cephes expf: x = n ln2 + r with |r| <= ln2/2, e^r by a degree-7 polynomial, 2^n built in
// the exponent bits. Relative error <= 1.5e-7 on [-87, 88]. Inputs are clamped to +-88.3, so the
// result stays finite above (2.2e38) and is exactly 0 from about -87.6 down (n = -127 makes the
// exponent field 0; the true values there are denormals).
inline float Exp(float x) {
  constexpr float kLog2e = 1.44269504088896341f;
  constexpr float kLn2Hi = 0.693359375f;  // ln 2 split so that n * kLn2Hi is exact
  constexpr float kLn2Lo = -2.12194440e-4f;
  constexpr float kRound = 12582912.0f;  // 1.5 * 2^23: adding it rounds to an integer
  x = ClampMagnitude(x, 88.3f);
  const float shifted = x * kLog2e + kRound;
  const float n = shifted - kRound;
  const int32_t exponent = std::bit_cast<int32_t>(shifted) - std::bit_cast<int32_t>(kRound);
  float r = x - n * kLn2Hi;
  r = r - n * kLn2Lo;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  const float e_r = p * r * r + r + 1.0f;
  return e_r * std::bit_cast<float>((exponent + 127) << 23);
}

// 1 / (1 + e^-x). Relative error <= 2e-7 above -87; exactly 1 from about 17 up.
inline float Sigmoid(float x) { return 1.0f / (1.0f + Exp(-x)); }

// tanh x, Cephes tanhf: an odd polynomial below |x| = 0.625 (so tiny x keep their relative
// accuracy), 1 - 2 / (e^2|x| + 1) above. Relative error <= 2e-7.
inline float Tanh(float x) {
  const float ax = std::fabs(ClampMagnitude(x, 9.5f));  // tanh 9.5 rounds to 1
  const float z = ax * ax;
  float p = -5.70498872745e-3f;
  p = p * z + 2.06390887954e-2f;
  p = p * z - 5.37397155531e-2f;
  p = p * z + 1.33314422036e-1f;
  p = p * z - 3.33332819422e-1f;
  const float small = ax + ax * z * p;
  const float large = 1.0f - 2.0f / (Exp(2.0f * ax) + 1.0f);
  const uint32_t pick_small = 0u - static_cast<uint32_t>(ax < 0.625f);
  const uint32_t magnitude = (std::bit_cast<uint32_t>(small) & pick_small) |
                             (std::bit_cast<uint32_t>(large) & ~pick_small);
  return std::bit_cast<float>(magnitude | (std::bit_cast<uint32_t>(x) & 0x80000000u));
}

}  // namespace rwkv::engine

#endif  // RWKV_ENGINE_COMPUTE_VECTOR_MATH_H_
