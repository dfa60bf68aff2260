// The float32 <-> int8 edges of int8 products: activations split into high and low int8 rows,
// and the rescaling that joins their integer sums.
#include "engine/compute/int8_rows.h"

#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "gtest/gtest.h"

namespace rwkv::engine {
namespace {

TEST(QuantizeRowsSplitTest, HighAndLowRebuildEachValueWithinHalfAStep) {
  std::mt19937 rng(3);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  constexpr int64_t kRows = 5, kCols = 300;
  std::vector<float> x(kRows * kCols);
  for (float& v : x) v = normal(rng);
  for (int64_t c = 0; c < kCols; ++c) x[kCols + c] = 0.0f;  // a zero row
  x[2 * kCols + 7] = 1e4f;                                  // an outlier sets its row's scale
  x[3 * kCols] = -3.0f;                                     // the extreme is negative
  x[3 * kCols + 1] = 3.0f;
  std::vector<int8_t> q(2 * kRows * kCols);
  std::vector<float> scales(kRows);
  const std::vector<float> ones(kCols, 1.0f);
  QuantizeRowsSplit(x.data(), kRows, kCols, ones.data(), q.data(), scales.data());
  for (int64_t r = 0; r < kRows; ++r) {
    float amax = 0.0f;
    for (int64_t c = 0; c < kCols; ++c) amax = std::max(amax, std::fabs(x[r * kCols + c]));
    EXPECT_EQ(scales[r], amax > 0.0f ? amax / kSplitLevels : 1.0f) << "row " << r;
    for (int64_t c = 0; c < kCols; ++c) {
      const int high = q[2 * r * kCols + c], low = q[(2 * r + 1) * kCols + c];
      ASSERT_GE(high, -127) << r << "," << c;
      ASSERT_LE(high, 127) << r << "," << c;
      const double rebuilt = (256.0 * high + low) * scales[r];
      // Half a step, plus x / s's float rounding (up to 32512 * 2^-23 steps).
      ASSERT_LE(std::fabs(rebuilt - x[r * kCols + c]), 0.502 * scales[r]) << r << "," << c;
    }
  }
}

TEST(QuantizeRowsSplitTest, LowStaysInRangeAtEveryRoundingBoundary) {
  // Every 16-bit level from -32512 to 32512, through a row whose scale is exactly 1.
  std::vector<float> x;
  for (int level = -32512; level <= 32512; ++level) x.push_back(static_cast<float>(level));
  const int64_t cols = static_cast<int64_t>(x.size());
  std::vector<int8_t> q(2 * cols);
  float scale = 0.0f;
  const std::vector<float> ones(cols, 1.0f);
  QuantizeRowsSplit(x.data(), 1, cols, ones.data(), q.data(), &scale);
  ASSERT_EQ(scale, 1.0f);
  for (int64_t c = 0; c < cols; ++c) {
    ASSERT_EQ(256 * q[c] + q[cols + c], static_cast<int>(x[c])) << x[c];
  }
}

TEST(RescaleSplitRowsTest, JoinsHighAndLowSumsThenAppliesTheEpilogue) {
  // Two rows of three outputs: sums rows 0/1 are row 0's high/low, rows 2/3 row 1's.
  const std::vector<float> sums = {1, -2, 0, 5, 7, -9, 0, 3, 1, 100, -100, 0};
  const std::vector<float> row_scales = {0.5f, 2.0f};
  const std::vector<float> col_scales = {1.0f, 0.25f, 4.0f};
  const std::vector<float> want = {(256 * 1 + 5) * 0.5f * 1.0f,    (256 * -2 + 7) * 0.5f * 0.25f,
                                   (256 * 0 - 9) * 0.5f * 4.0f,    (256 * 0 + 100) * 2.0f * 1.0f,
                                   (256 * 3 - 100) * 2.0f * 0.25f, (256 * 1 + 0) * 2.0f * 4.0f};
  std::vector<float> y(6, 0.0f);
  RescaleSplitRows(sums.data(), 2, 3, row_scales.data(), col_scales.data(), Epilogue::kNone,
                   y.data());
  for (int i = 0; i < 6; ++i) EXPECT_EQ(y[i], want[i]) << i;
  std::vector<float> accumulated(6, 1.0f);
  RescaleSplitRows(sums.data(), 2, 3, row_scales.data(), col_scales.data(), Epilogue::kAccumulate,
                   accumulated.data());
  for (int i = 0; i < 6; ++i) EXPECT_EQ(accumulated[i], want[i] + 1.0f) << i;
}

TEST(InputScalesTest, SquareRootOfEachColumnsLargestMagnitudeOverTheMatrixs) {
  // 2 outputs x 3 inputs; column 2 is zero.
  const std::vector<float> w = {1.0f, -4.0f, 0.0f, -0.25f, 2.0f, 0.0f};
  std::vector<float> t(3);
  InputScales(w.data(), 2, 3, t.data());
  EXPECT_FLOAT_EQ(t[0], 0.5f);  // sqrt(1 / 4)
  EXPECT_FLOAT_EQ(t[1], 1.0f);
  EXPECT_FLOAT_EQ(t[2], 1.0f);
}

TEST(InputScalesTest, WeightsAndActivationsTakeThemInverselyAndTheProductHolds) {
  std::mt19937 rng(9);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  constexpr int64_t kIn = 96, kOut = 8;
  std::vector<float> w(kOut * kIn), x(kIn);
  for (int64_t i = 0; i < kOut * kIn; ++i) w[i] = normal(rng) * (i % kIn < 8 ? 20.0f : 0.1f);
  for (float& v : x) v = normal(rng);
  std::vector<float> t(kIn), w_scales(kOut), x_scale(1);
  InputScales(w.data(), kOut, kIn, t.data());
  std::vector<int8_t> qw(kOut * kIn), qx(2 * kIn);
  QuantizeWeights(w.data(), kOut, kIn, t.data(), qw.data(), w_scales.data());
  QuantizeRowsSplit(x.data(), 1, kIn, t.data(), qx.data(), x_scale.data());
  for (int64_t o = 0; o < kOut; ++o) {
    double exact = 0, norm = 0;
    int64_t sum = 0;
    for (int64_t k = 0; k < kIn; ++k) {
      exact += double{x[k]} * w[o * kIn + k];
      norm += std::fabs(double{x[k]} * w[o * kIn + k]);
      sum += (256 * int64_t{qx[k]} + qx[kIn + k]) * qw[o * kIn + k];
    }
    const double got = static_cast<double>(sum) * x_scale[0] * w_scales[o];
    EXPECT_NEAR(got, exact, 0.01 * norm) << o;
  }
}

}  // namespace
}  // namespace rwkv::engine
