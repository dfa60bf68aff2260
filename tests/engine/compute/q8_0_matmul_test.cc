// Q8_0Matmul against a scalar reference of its contract, bit for bit, on raw block_q8_0 bytes
// (q8_0_test_util.h); its independence of the batch and thread count; packing; activation
// quantization; accuracy.
#include "engine/compute/q8_0_matmul.h"

#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <memory>
#include <numeric>
#include <random>
#include <vector>

#include "absl/types/span.h"
#include "engine/model/quantization.h"
#include "gtest/gtest.h"
#include "tests/engine/compute/q8_0_test_util.h"

namespace rwkv::engine {
namespace {

using q8_0_test::AlignedBytes;
using q8_0_test::Case;
using q8_0_test::ExpectSameBits;
using q8_0_test::Multiply;
using q8_0_test::Pack;
using q8_0_test::Q8Matrix;
using q8_0_test::Quantize;
using q8_0_test::RandomActivations;
using q8_0_test::RandomMatrix;
using q8_0_test::Reference;

constexpr int64_t kRowCounts[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 16, 33, 64, 130};

TEST(Q8_0MatmulTest, SameBitsAsTheContractForEveryShapeAndRowCount) {
  for (int64_t in : {32, 64, 768, 3072}) {
    for (int64_t out : {1, 15, 16, 17, 64, 1000}) {
      const int64_t max_rows = kRowCounts[std::size(kRowCounts) - 1];
      const Case c(in, out, max_rows, static_cast<uint32_t>(in * 7919 + out));
      const std::vector<float> want = Reference(c.m, c.a, max_rows);
      for (int64_t rows : kRowCounts) {
        SCOPED_TRACE(testing::Message() << in << "x" << out << ", " << rows << " rows");
        ExpectSameBits(want, 0, Multiply(c.packed, c.a, 0, rows, in, out), out);
        // Other rows sharing the call: each row's bits stay its own.
        const int64_t shifted = std::min(rows, max_rows - 1);
        ExpectSameBits(want, 1, Multiply(c.packed, c.a, 1, shifted, in, out), out);
      }
    }
  }
}

TEST(Q8_0MatmulTest, EachRowOfABatchEqualsItsOneRowCall) {
  const int64_t in = 768, out = 1000, rows = 33;
  const Case c(in, out, rows, 5);
  const std::vector<float> batch = Multiply(c.packed, c.a, 0, rows, in, out);
  for (int64_t r = 0; r < rows; ++r) {
    SCOPED_TRACE(testing::Message() << "row " << r);
    ExpectSameBits(batch, r, Multiply(c.packed, c.a, r, 1, in, out), out);
  }
}

// Also the activations: QuantizeRowsInt16 splits rows between threads from 65536 values.
TEST(Q8_0MatmulTest, ThreadCountDoesNotChangeTheBits) {
  const int64_t in = 768, out = 1000, rows = 130;
  const std::vector<float> x = RandomActivations(rows, in, 9);
  const AlignedBytes packed = Pack(RandomMatrix(in, out, 8));
  const int threads = omp_get_max_threads();
  std::vector<float> want;
  for (int n : {1, 2, 3}) {
    omp_set_num_threads(n);
    const std::vector<float> y = Multiply(packed, Quantize(x, rows, in), 0, rows, in, out);
    if (want.empty()) want = y;
    SCOPED_TRACE(testing::Message() << n << " threads");
    ExpectSameBits(want, 0, y, out);
  }
  omp_set_num_threads(threads);
}

// Every kernel this CPU runs against the portable one (the main test checks the best one
// against the contract).
TEST(Q8_0MatmulTest, EveryKernelGivesTheSameBits) {
  for (Q8_0Kernel kernel : {Q8_0Kernel::kAvx2, Q8_0Kernel::kAvx512Vnni}) {
    if (!Q8_0KernelSupported(kernel)) continue;
    for (int64_t in : {32, 64, 768, 3072}) {
      for (int64_t out : {1, 17, 64, 1000}) {
        for (int64_t rows : {1, 2, 3, 4, 7, 13}) {
          SCOPED_TRACE(testing::Message() << "kernel " << static_cast<int>(kernel) << ", " << in
                                          << "x" << out << ", " << rows << " rows");
          const Case c(in, out, rows, 11);
          std::vector<float> portable(rows * out), got(rows * out);
          Q8_0MatmulWith(Q8_0Kernel::kPortable, c.a.q.data(), c.a.scales.data(), rows, in, out,
                         c.packed.data.get(), portable.data());
          Q8_0MatmulWith(kernel, c.a.q.data(), c.a.scales.data(), rows, in, out,
                         c.packed.data.get(), got.data());
          ExpectSameBits(portable, 0, got, out);
        }
      }
    }
  }
}

// The engine runs with flush-to-zero and denormals-are-zero (ops.cc); subnormal fp16 scales must
// still widen exactly and every kernel agree.
TEST(Q8_0MatmulTest, SameBitsWithDenormalsFlushed) {
  const int64_t in = 256, out = 64, rows = 5;
  const Case c(in, out, rows, 13);
  const std::vector<float> want = Reference(c.m, c.a, rows);
  for (Q8_0Kernel kernel : {Q8_0Kernel::kPortable, Q8_0Kernel::kAvx2, Q8_0Kernel::kAvx512Vnni}) {
    if (!Q8_0KernelSupported(kernel)) continue;
    SCOPED_TRACE(testing::Message() << "kernel " << static_cast<int>(kernel));
    std::vector<float> got(rows * out);
    const unsigned saved = _mm_getcsr();
    _mm_setcsr(saved | 0x8040);
    Q8_0MatmulWith(kernel, c.a.q.data(), c.a.scales.data(), rows, in, out, c.packed.data.get(),
                   got.data());
    _mm_setcsr(saved);
    ExpectSameBits(want, 0, got, out);
  }
}

// Infinite and NaN scales (a corrupt file) give infinities and NaNs where the contract does, on
// every kernel, and nothing worse.
TEST(Q8_0MatmulTest, NonFiniteScalesPropagate) {
  const int64_t in = 64, out = 40, rows = 3;
  Case c(in, out, rows, 17);
  const uint16_t specials[] = {0x7c00, 0xfc00, 0x7e00, 0x7d01};  // +-inf, quiet and signaling NaN
  for (int64_t o = 0; o < out; o += 3) {
    std::memcpy(c.m.blocks.data() + o * 2 * kQ8_0BlockBytes, &specials[o % 4], 2);
  }
  c.packed = Pack(c.m);
  const std::vector<float> want = Reference(c.m, c.a, rows);
  for (Q8_0Kernel kernel : {Q8_0Kernel::kPortable, Q8_0Kernel::kAvx2, Q8_0Kernel::kAvx512Vnni}) {
    if (!Q8_0KernelSupported(kernel)) continue;
    std::vector<float> got(rows * out);
    Q8_0MatmulWith(kernel, c.a.q.data(), c.a.scales.data(), rows, in, out, c.packed.data.get(),
                   got.data());
    for (size_t i = 0; i < got.size(); ++i) {
      if (std::isnan(want[i])) {
        EXPECT_TRUE(std::isnan(got[i])) << "kernel " << static_cast<int>(kernel) << " at " << i;
      } else {
        EXPECT_EQ(std::bit_cast<uint32_t>(want[i]), std::bit_cast<uint32_t>(got[i]))
            << "kernel " << static_cast<int>(kernel) << " at " << i;
      }
    }
  }
}

// Weights quantized and dequantized by the file formats' own code (ggml's reference Q8_0): the
// product is their float64 product but for the activations' int16 steps.
TEST(Q8_0MatmulTest, CloseToTheDoubleProductOfTheDequantizedWeights) {
  const int64_t in = 3072, out = 64, rows = 4;
  std::mt19937 rng(16);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> w(out * in), x(rows * in);
  for (float& v : w) v = 0.02f * normal(rng);
  for (float& v : x) v = normal(rng);
  Q8Matrix m{in, out, std::vector<uint8_t>(out * in / kQ8_0BlockInputs * kQ8_0BlockBytes)};
  ASSERT_TRUE(QuantizeQ8_0(w, absl::MakeSpan(m.blocks)).ok());
  ASSERT_TRUE(
      DequantizeRow(GgmlType::kQ8_0, m.blocks.data(), m.blocks.size(), absl::MakeSpan(w)).ok());
  const std::vector<float> y = Multiply(Pack(m), Quantize(x, rows, in), 0, rows, in, out);
  for (int64_t r = 0; r < rows; ++r) {
    double error = 0.0, norm = 0.0;
    for (int64_t o = 0; o < out; ++o) {
      double exact = 0.0;
      for (int64_t k = 0; k < in; ++k) exact += double{w[o * in + k]} * x[r * in + k];
      error += (y[r * out + o] - exact) * (y[r * out + o] - exact);
      norm += exact * exact;
    }
    EXPECT_LT(std::sqrt(error), 1e-4 * std::sqrt(norm)) << "row " << r;
  }
}

TEST(Q8_0PackTest, UnpackGivesBackEveryRow) {
  for (int64_t out : {1, 15, 17, 64}) {
    const Q8Matrix m = RandomMatrix(96, out, 21);
    const AlignedBytes packed = Pack(m);
    const size_t row_bytes = 3 * kQ8_0BlockBytes;
    std::vector<uint8_t> row(row_bytes);
    for (int64_t o = 0; o < out; ++o) {
      UnpackQ8_0Row(packed.data.get(), o, 96, out, row.data());
      EXPECT_EQ(0, std::memcmp(row.data(), m.Block(o, 0), row_bytes)) << "row " << o;
    }
  }
}

TEST(Q8_0PackTest, RunsOfRowsGiveTheBytesOfOneCall) {
  const int64_t in = 128, out = 1000;
  const Q8Matrix m = RandomMatrix(in, out, 22);
  const AlignedBytes whole = Pack(m);
  const size_t row_bytes = m.RowBlocks() * kQ8_0BlockBytes;
  std::mt19937 rng(23);
  for (int trial = 0; trial < 3; ++trial) {
    // Runs of random lengths (none a multiple of the group but by chance), packed in reverse.
    std::vector<std::pair<int64_t, int64_t>> runs;
    for (int64_t first = 0; first < out;) {
      const int64_t rows = std::min<int64_t>(out - first, 1 + rng() % 70);
      runs.emplace_back(first, rows);
      first += rows;
    }
    AlignedBytes packed(Q8_0PackedBytes(in, out));
    for (auto run = runs.rbegin(); run != runs.rend(); ++run) {
      PackQ8_0Rows(m.blocks.data() + run->first * row_bytes, run->first, run->second, in, out,
                   packed.data.get());
    }
    EXPECT_EQ(0, std::memcmp(whole.data.get(), packed.data.get(), whole.size));
  }
}

TEST(Q8_0PackTest, SizesAndShapes) {
  EXPECT_TRUE(Q8_0Applies(32));
  EXPECT_TRUE(Q8_0Applies(3072));
  EXPECT_FALSE(Q8_0Applies(0));
  EXPECT_FALSE(Q8_0Applies(48));
  EXPECT_FALSE(Q8_0Applies(-32));
  // 16 outputs per group, 544 bytes per group and block (34 per output and block).
  EXPECT_EQ(Q8_0PackedBytes(32, 16), 544u);
  EXPECT_EQ(Q8_0PackedBytes(64, 17), 4u * 544u);
  EXPECT_EQ(Q8_0PackedBytes(768, 65536), 65536u / 16 * 24 * 544);
}

TEST(QuantizeRowsInt16Test, ScalesAndRounding) {
  const float x[] = {2.0f, -1.0f, 0.5f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, -3.0f, 1.5f, 0.0f, 0.0f};
  int16_t q[12];
  float scales[3];
  QuantizeRowsInt16(x, 3, 4, q, scales);
  EXPECT_EQ(scales[0], 2.0f / 32767.0f);
  EXPECT_EQ(q[0], 32767);
  EXPECT_EQ(q[1], -16384);  // -16383.5 rounds to even
  EXPECT_EQ(q[2], -16384 / -2);
  EXPECT_EQ(scales[1], 1.0f);  // an all-zero row
  for (int k = 4; k < 8; ++k) EXPECT_EQ(q[k], 0);
  EXPECT_EQ(q[8], -32767);
  EXPECT_EQ(q[9], 16384);  // 16383.5 to even
}

// The contract written plainly: s = max|x| / 32767, q = x / s rounded to nearest even, clamped
// (NaN to -32767).
void ExpectContractQuantization(const std::vector<float>& x, int64_t rows, int64_t in,
                                const std::vector<int16_t>& q, const std::vector<float>& scales) {
  for (int64_t r = 0; r < rows; ++r) {
    float amax = 0.0f;
    for (int64_t k = 0; k < in; ++k) {
      if (std::fabs(x[r * in + k]) > amax) amax = std::fabs(x[r * in + k]);
    }
    const float s = amax > 0.0f ? amax / 32767.0f : 1.0f;
    ASSERT_EQ(std::bit_cast<uint32_t>(scales[r]), std::bit_cast<uint32_t>(s)) << "row " << r;
    for (int64_t k = 0; k < in; ++k) {
      const float v = x[r * in + k] / s;
      const float want =
          std::isnan(v) ? -32767.0f : std::clamp(std::nearbyint(v), -32767.0f, 32767.0f);
      ASSERT_EQ(q[r * in + k], static_cast<int16_t>(want))
          << "in " << in << " row " << r << " input " << k << ": " << x[r * in + k];
    }
  }
}

TEST(QuantizeRowsInt16Test, BothPathsMatchTheContractOnEveryValueKind) {
  std::mt19937 rng(31);
  const float specials[] = {0.0f,
                            -0.0f,
                            1e-45f,
                            -3e-40f,
                            1e30f,
                            -1e-30f,
                            std::numeric_limits<float>::quiet_NaN(),
                            std::numeric_limits<float>::infinity()};
  for (int64_t in : {1, 15, 16, 17, 37, 768}) {
    const int64_t rows = 6;
    std::vector<float> x = RandomActivations(rows, in, static_cast<uint32_t>(in));
    for (float& v : x) {
      if (rng() % 50 == 0) v = specials[rng() % std::size(specials)];
    }
    // A row of tiny values only (subnormal max and scale).
    for (int64_t k = 0; k < in; ++k) x[2 * in + k] = (rng() % 3 == 0) ? -1e-44f : 2e-45f;
    std::vector<int16_t> q(rows * in);
    std::vector<float> scales(rows);
    QuantizeRowsInt16(x.data(), rows, in, q.data(), scales.data());
    ExpectContractQuantization(x, rows, in, q, scales);
    QuantizeRowsInt16Portable(x.data(), rows, in, q.data(), scales.data());
    ExpectContractQuantization(x, rows, in, q, scales);
  }
}

TEST(QuantizeRowsInt16Test, BadValuesStayInRange) {
  const float inf = std::numeric_limits<float>::infinity();
  const float x[] = {
      std::numeric_limits<float>::quiet_NaN(), 1.0f, -inf, 2.0f, 1e-45f, -1e-45f, 3e-45f, 0.0f};
  int16_t q[8];
  float scales[2];
  QuantizeRowsInt16(x, 2, 4, q, scales);
  for (int16_t v : q) {
    EXPECT_GE(v, -32767);
    EXPECT_LE(v, 32767);
  }
}

}  // namespace
}  // namespace rwkv::engine
