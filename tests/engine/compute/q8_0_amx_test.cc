// The AMX-INT8 Q8_0 kernel against the portable one, bit for bit: every shape of the main grid,
// every row count from 1 to 130 (whole and padded tiles, and the VNNI remainder Q8_0Matmul
// leaves), extreme int16 activations and int8 weights, flushed denormals, non-finite scales and
// 1-3 threads. Skipped where the CPU (or the OS) gives no AMX.
#include "engine/compute/q8_0_amx.h"

#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <iterator>
#include <limits>
#include <vector>

#include "engine/compute/matmul.h"
#include "engine/compute/q8_0_matmul.h"
#include "gtest/gtest.h"
#include "tests/engine/compute/q8_0_test_util.h"

namespace rwkv::engine {
namespace {

using q8_0_test::AlignedBytes;
using q8_0_test::Case;
using q8_0_test::ExpectSameBits;
using q8_0_test::Pack;
using q8_0_test::Q8Matrix;
using q8_0_test::Quantized;
using q8_0_test::RandomMatrix;
using q8_0_test::Reference;

class Q8_0AmxTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!Q8_0AmxSupported()) GTEST_SKIP() << "no AMX-INT8 here";
  }
};

enum class Path { kAmx, kDispatch };

// `rows` rows from `first_row` through the AMX kernel itself (any row count, padded tiles) or
// through Q8_0MatmulWith(kAmx) (whole tiles on AMX, a short remainder on VNNI).
std::vector<float> RunPath(Path path, const Case& c, int64_t first_row, int64_t rows) {
  const int64_t in = c.m.in, out = c.m.out;
  std::vector<float> y(rows * out, std::numeric_limits<float>::quiet_NaN());
  const int16_t* q = c.a.q.data() + first_row * in;
  const float* scales = c.a.scales.data() + first_row;
  if (path == Path::kAmx) {
    Q8_0MatmulAmx(q, scales, rows, in, out, c.packed.data.get(), y.data());
  } else {
    Q8_0MatmulWith(Q8_0Kernel::kAmx, q, scales, rows, in, out, c.packed.data.get(), y.data());
  }
  return y;
}

std::vector<float> Portable(const Case& c, int64_t rows) {
  std::vector<float> y(rows * c.m.out);
  Q8_0MatmulWith(Q8_0Kernel::kPortable, c.a.q.data(), c.a.scales.data(), rows, c.m.in, c.m.out,
                 c.packed.data.get(), y.data());
  return y;
}

TEST_F(Q8_0AmxTest, SameBitsAsPortableForEveryShape) {
  constexpr int64_t kRows[] = {1, 15, 16, 17, 24, 25, 32, 33, 64, 100, 130};
  for (int64_t in : {32, 64, 768, 3072}) {
    for (int64_t out : {1, 15, 16, 17, 64, 1000}) {
      const Case c(in, out, 130, static_cast<uint32_t>(in * 31 + out));
      const std::vector<float> want = Portable(c, 130);
      for (Path path : {Path::kAmx, Path::kDispatch}) {
        for (int64_t rows : kRows) {
          SCOPED_TRACE(testing::Message() << in << "x" << out << ", " << rows << " rows, path "
                                          << static_cast<int>(path));
          ExpectSameBits(want, 0, RunPath(path, c, 0, rows), out);
          ExpectSameBits(want, 1, RunPath(path, c, 1, std::min<int64_t>(rows, 129)), out);
        }
      }
    }
  }
}

// Every row count, so every tile padding and remainder split: each row keeps its bits.
TEST_F(Q8_0AmxTest, EveryRowCountFrom1To130) {
  const Case c(768, 40, 130, 3);
  const std::vector<float> want = Portable(c, 130);
  for (int64_t rows = 1; rows <= 130; ++rows) {
    for (Path path : {Path::kAmx, Path::kDispatch}) {
      SCOPED_TRACE(testing::Message() << rows << " rows, path " << static_cast<int>(path));
      ExpectSameBits(want, 0, RunPath(path, c, 0, rows), c.m.out);
      ExpectSameBits(want, 130 - rows, RunPath(path, c, 130 - rows, rows), c.m.out);
    }
  }
}

// The largest block sums: |q| = 32767 (and -32768, which QuantizeRowsInt16 never makes) times
// weights -128 and 127 over whole blocks, with signs that add up.
TEST_F(Q8_0AmxTest, ExtremeActivationsAndWeights) {
  const int64_t in = 256, out = 48, rows = 40;
  Q8Matrix m = RandomMatrix(in, out, 21);
  for (int64_t o = 0; o < out; ++o) {
    for (int64_t b = 0; b < in / kQ8_0BlockInputs; ++b) {
      uint8_t* block = m.blocks.data() + (o * (in / kQ8_0BlockInputs) + b) * kQ8_0BlockBytes;
      const uint16_t one = 0x3c00;  // fp16 1.0: S itself shows in the output
      std::memcpy(block, &one, 2);
      const int8_t w = (o + b) % 3 == 0 ? 127 : -128;
      if ((o + b) % 2 == 0) std::memset(block + 2, static_cast<uint8_t>(w), kQ8_0BlockInputs);
    }
  }
  Quantized a{std::vector<int16_t>(rows * in), std::vector<float>(rows, 1.0f)};
  const int16_t extremes[] = {32767, -32767, -32768, 255, -256, 256, -1, 0, 1, 128, -129};
  for (int64_t i = 0; i < rows * in; ++i) {
    const int64_t r = i / in;
    a.q[i] = r < 4 ? extremes[r % 3] : extremes[(i * 7 + r) % std::size(extremes)];
  }
  Case c(in, out, 1, 1);
  c.m = m;
  c.packed = Pack(m);
  c.a = a;
  const std::vector<float> want = Reference(m, a, rows);
  for (Path path : {Path::kAmx, Path::kDispatch}) {
    ExpectSameBits(want, 0, RunPath(path, c, 0, rows), out);
  }
}

// Flushed denormals (the engine's MXCSR) and infinite or NaN scales: the portable kernel's bits.
TEST_F(Q8_0AmxTest, DenormalsFlushedAndNonFiniteScales) {
  const int64_t in = 128, out = 40, rows = 33;
  Case c(in, out, rows, 17);
  const uint16_t specials[] = {0x7c00, 0xfc00, 0x7e00, 0x0001};  // +-inf, NaN, subnormal
  for (int64_t o = 0; o < out; o += 3) {
    std::memcpy(c.m.blocks.data() + o * 2 * kQ8_0BlockBytes, &specials[o % 4], 2);
  }
  c.packed = Pack(c.m);
  const unsigned saved = _mm_getcsr();
  for (unsigned csr : {saved, saved | 0x8040u}) {
    _mm_setcsr(csr);
    const std::vector<float> want = Portable(c, rows);
    const std::vector<float> got = RunPath(Path::kAmx, c, 0, rows);
    _mm_setcsr(saved);
    for (size_t i = 0; i < got.size(); ++i) {
      if (std::isnan(want[i])) {
        EXPECT_TRUE(std::isnan(got[i])) << "mxcsr " << csr << " at " << i;
      } else {
        EXPECT_EQ(std::bit_cast<uint32_t>(want[i]), std::bit_cast<uint32_t>(got[i]))
            << "mxcsr " << csr << " at " << i;
      }
    }
  }
}

TEST_F(Q8_0AmxTest, ThreadCountDoesNotChangeTheBits) {
  const Case c(768, 1000, 130, 9);
  const std::vector<float> want = Portable(c, 130);
  const int threads = omp_get_max_threads();
  for (int n : {1, 2, 3}) {
    omp_set_num_threads(n);
    SCOPED_TRACE(testing::Message() << n << " threads");
    ExpectSameBits(want, 0, RunPath(Path::kAmx, c, 0, 130), c.m.out);
    ExpectSameBits(want, 0, RunPath(Path::kDispatch, c, 0, 130), c.m.out);
  }
  omp_set_num_threads(threads);
}

// oneDNN's int8 AMX kernels share the thread's tile registers: each side configures its own
// tiles, so interleaved calls keep both sides' bits.
TEST_F(Q8_0AmxTest, InterleavesWithOneDnnInt8OnOneThread) {
  const int64_t in = 256, out = 96, rows = 32;
  const Case c(in, out, rows, 23);
  std::vector<float> w(out * in), x(rows * in);
  for (size_t i = 0; i < w.size(); ++i) w[i] = static_cast<float>(static_cast<int>(i % 17) - 8);
  for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(static_cast<int>(i % 13) - 6);
  MatmulContext ctx;
  absl::StatusOr<Linear> int8 = Linear::Create(ctx, w.data(), in, out, Precision::kInt8);
  ASSERT_TRUE(int8.ok()) << int8.status();
  std::vector<float> int8_first(rows * out), int8_again(rows * out);
  ASSERT_TRUE(int8->Apply(ctx, x.data(), rows, int8_first.data()).ok());
  const std::vector<float> want = Portable(c, rows);
  for (int round = 0; round < 3; ++round) {
    ExpectSameBits(want, 0, RunPath(Path::kAmx, c, 0, rows), out);
    ASSERT_TRUE(int8->Apply(ctx, x.data(), rows, int8_again.data()).ok());
    ExpectSameBits(int8_first, 0, int8_again, out);
  }
}

}  // namespace
}  // namespace rwkv::engine
