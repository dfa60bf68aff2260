// Helpers for the Q8_0 kernel tests: random ggml block_q8_0 matrices with extreme weights and
// scales, quantized activations, the contract as scalar loops, bitwise comparison.
#ifndef RWKV_TESTS_ENGINE_COMPUTE_Q8_0_TEST_UTIL_H_
#define RWKV_TESTS_ENGINE_COMPUTE_Q8_0_TEST_UTIL_H_

#include <bit>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <memory>
#include <random>
#include <vector>

#include "engine/compute/q8_0_matmul.h"
#include "engine/model/quantization.h"
#include "gtest/gtest.h"

namespace rwkv::engine::q8_0_test {

// A 64-byte aligned, zeroed buffer (what a caller of PackQ8_0Rows provides).
struct AlignedBytes {
  explicit AlignedBytes(size_t n)
      : size(n),
        data(static_cast<uint8_t*>(std::aligned_alloc(64, (n + 63) / 64 * 64 + 64)), &std::free) {
    std::memset(data.get(), 0, (n + 63) / 64 * 64 + 64);
  }
  size_t size;
  std::unique_ptr<uint8_t, decltype(&std::free)> data;
};

// A matrix as ggml stores it: `out` rows of in/32 blocks of (fp16 d, 32 int8).
struct Q8Matrix {
  int64_t in = 0, out = 0;
  std::vector<uint8_t> blocks;

  int64_t RowBlocks() const { return in / kQ8_0BlockInputs; }
  const uint8_t* Block(int64_t o, int64_t b) const {
    return blocks.data() + (o * RowBlocks() + b) * kQ8_0BlockBytes;
  }
  uint16_t Scale(int64_t o, int64_t b) const {
    uint16_t d;
    std::memcpy(&d, Block(o, b), sizeof(d));
    return d;
  }
  int8_t Weight(int64_t o, int64_t k) const {
    return static_cast<int8_t>(Block(o, k / kQ8_0BlockInputs)[2 + k % kQ8_0BlockInputs]);
  }
};

// Scales of every magnitude fp16 holds (large, small, subnormal), zeros and negatives; weights
// often at the extremes -128 and 127.
inline uint16_t RandomScale(std::mt19937& rng) {
  const uint16_t sign = (rng() % 2) << 15;
  switch (rng() % 10) {
    case 0:
      return sign;  // zero
    case 1:
      return sign | (rng() % 0x400);  // subnormal
    case 2:
      return sign | static_cast<uint16_t>((29 + rng() % 2) << 10 | rng() % 0x400);  // large
    case 3:
      return sign | static_cast<uint16_t>((1 + rng() % 4) << 10 | rng() % 0x400);  // small
    default:
      return sign | static_cast<uint16_t>((8 + rng() % 8) << 10 | rng() % 0x400);  // ~0.01
  }
}

inline Q8Matrix RandomMatrix(int64_t in, int64_t out, uint32_t seed) {
  std::mt19937 rng(seed);
  Q8Matrix m{in, out, std::vector<uint8_t>(out * (in / kQ8_0BlockInputs) * kQ8_0BlockBytes)};
  for (size_t at = 0; at < m.blocks.size(); at += kQ8_0BlockBytes) {
    const uint16_t d = RandomScale(rng);
    std::memcpy(&m.blocks[at], &d, sizeof(d));
    for (int64_t k = 0; k < kQ8_0BlockInputs; ++k) {
      const uint32_t pick = rng() % 8;
      const int8_t w = pick == 0 ? -128 : pick == 1 ? 127 : static_cast<int8_t>(rng());
      m.blocks[at + 2 + k] = static_cast<uint8_t>(w);
    }
  }
  return m;
}

// Normal activations with zeros, far larger and far smaller values.
inline std::vector<float> RandomActivations(int64_t rows, int64_t in, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> x(rows * in);
  for (float& v : x) {
    v = normal(rng);
    const uint32_t pick = rng() % 16;
    if (pick == 0) v = 0.0f;
    if (pick == 1) v *= 1e3f;
    if (pick == 2) v *= 1e-3f;
  }
  return x;
}

inline AlignedBytes Pack(const Q8Matrix& m) {
  AlignedBytes packed(Q8_0PackedBytes(m.in, m.out));
  PackQ8_0Rows(m.blocks.data(), 0, m.out, m.in, m.out, packed.data.get());
  return packed;
}

struct Quantized {
  std::vector<int16_t> q;
  std::vector<float> scales;
};

inline Quantized Quantize(const std::vector<float>& x, int64_t rows, int64_t in) {
  Quantized a{std::vector<int16_t>(rows * in), std::vector<float>(rows)};
  QuantizeRowsInt16(x.data(), rows, in, a.q.data(), a.scales.data());
  return a;
}

// The contract, row by row, straight from the stored blocks.
inline std::vector<float> Reference(const Q8Matrix& m, const Quantized& a, int64_t rows) {
  std::vector<float> y(rows * m.out);
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t o = 0; o < m.out; ++o) {
      float total = 0.0f;
      for (int64_t b = 0; b < m.RowBlocks(); ++b) {
        int32_t sum = 0;
        for (int64_t k = b * kQ8_0BlockInputs; k < (b + 1) * kQ8_0BlockInputs; ++k) {
          sum += int32_t{a.q[r * m.in + k]} * int32_t{m.Weight(o, k)};
        }
        total = std::fma(static_cast<float>(sum), Fp16ToF32(m.Scale(o, b)), total);
      }
      y[r * m.out + o] = a.scales[r] * total;
    }
  }
  return y;
}

// A random matrix, packed, and random rows quantized.
struct Case {
  Case(int64_t in, int64_t out, int64_t rows, uint32_t seed)
      : m(RandomMatrix(in, out, seed)),
        packed(Pack(m)),
        a(Quantize(RandomActivations(rows, in, seed + 1), rows, in)) {}
  Q8Matrix m;
  AlignedBytes packed;
  Quantized a;
};

inline std::vector<float> Multiply(const AlignedBytes& packed, const Quantized& a,
                                   int64_t first_row, int64_t rows, int64_t in, int64_t out) {
  std::vector<float> y(rows * out, std::numeric_limits<float>::quiet_NaN());
  Q8_0Matmul(a.q.data() + first_row * in, a.scales.data() + first_row, rows, in, out,
             packed.data.get(), y.data());
  return y;
}

// Bitwise equality of rows [first_row, first_row + rows) of `want` and all of `got`.
inline void ExpectSameBits(const std::vector<float>& want, int64_t first_row,
                           const std::vector<float>& got, int64_t out) {
  for (size_t i = 0; i < got.size(); ++i) {
    const float w = want[first_row * out + i];
    ASSERT_EQ(std::bit_cast<uint32_t>(w), std::bit_cast<uint32_t>(got[i]))
        << "row " << first_row + static_cast<int64_t>(i) / out << " output " << i % out << ": " << w
        << " vs " << got[i];
  }
}

}  // namespace rwkv::engine::q8_0_test

#endif  // RWKV_TESTS_ENGINE_COMPUTE_Q8_0_TEST_UTIL_H_
