// LinearPacker: a matrix packed a run of rows at a time computes bit for bit what the same matrix
// packed in one piece computes, in every precision, for shapes with partial blocks too.
#include "engine/compute/linear_packer.h"

#include <random>
#include <vector>

#include "absl/base/casts.h"
#include "engine/compute/int8_rows.h"
#include "gtest/gtest.h"

namespace rwkv::engine {
namespace {

std::vector<float> Apply(MatmulContext& ctx, const Linear& linear, const std::vector<float>& x,
                         int64_t rows) {
  std::vector<float> y(rows * linear.out());
  EXPECT_TRUE(linear.Apply(ctx, x.data(), rows, y.data()).ok());
  return y;
}

class LinearPackerTest : public ::testing::TestWithParam<Precision> {};

TEST_P(LinearPackerTest, RunsPackWhatOnePiecePacks) {
  MatmulContext ctx;
  std::mt19937 rng(11);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (auto [in, out] : {std::pair<int64_t, int64_t>{256, 8192 + 192},
                         {768, 3072},
                         {64, 200},
                         {37, 19},
                         {2600, 128}}) {
    std::vector<float> w(in * out);
    for (float& v : w) v = normal(rng);
    auto whole = Linear::Create(ctx, w.data(), in, out, GetParam());
    ASSERT_TRUE(whole.ok()) << whole.status();
    for (const int64_t wanted : {1, 100, 1000}) {
      auto packer = LinearPacker::Start(ctx, in, out, GetParam());
      ASSERT_TRUE(packer.ok()) << packer.status();
      const int64_t run = packer->RunRows(wanted);
      ASSERT_GT(run, 0);
      if (GetParam() == Precision::kInt8) {  // input scales gathered over the runs, as at load
        std::vector<float> input_scales(in, 0.0f);
        for (int64_t first = 0; first < out; first += run) {
          ColumnMax(w.data() + first * in, std::min(run, out - first), in, input_scales.data());
        }
        InputScalesFromColumnMax(in, input_scales.data());
        ASSERT_TRUE(packer->SetInputScales(input_scales).ok());
      }
      for (int64_t first = 0; first < out; first += run) {
        const int64_t count = std::min(run, out - first);
        ASSERT_TRUE(
            packer->AddRows(first, absl::MakeConstSpan(w.data() + first * in, count * in)).ok())
            << in << "x" << out << " run " << run << " at " << first;
      }
      auto runs = std::move(*packer).Finish();
      ASSERT_TRUE(runs.ok()) << runs.status();
      EXPECT_EQ(runs->WeightBytes(), whole->WeightBytes());
      for (const int64_t rows : {1, 2, 7, 64}) {
        std::vector<float> x(rows * in);
        for (float& v : x) v = normal(rng);
        const std::vector<float> expected = Apply(ctx, *whole, x, rows);
        const std::vector<float> got = Apply(ctx, *runs, x, rows);
        for (size_t i = 0; i < expected.size(); ++i) {
          ASSERT_EQ(absl::bit_cast<uint32_t>(got[i]), absl::bit_cast<uint32_t>(expected[i]))
              << in << "x" << out << ", runs of " << run << ", " << rows << " rows, at " << i;
        }
      }
    }
  }
}

TEST_P(LinearPackerTest, RunsOutOfOrderOrUnfinishedAreRefused) {
  MatmulContext ctx;
  const int64_t in = 64, out = 8192;
  std::vector<float> w(in * out, 0.5f);
  auto packer = LinearPacker::Start(ctx, in, out, GetParam());
  ASSERT_TRUE(packer.ok()) << packer.status();
  const int64_t run = packer->RunRows(128);
  ASSERT_LT(run, out);
  // Not where the last run ended.
  EXPECT_EQ(packer->AddRows(run, absl::MakeConstSpan(w.data(), run * in)).code(),
            absl::StatusCode::kInvalidArgument);
  // Not whole rows.
  EXPECT_EQ(packer->AddRows(0, absl::MakeConstSpan(w.data(), run * in - 1)).code(),
            absl::StatusCode::kInvalidArgument);
  ASSERT_TRUE(packer->AddRows(0, absl::MakeConstSpan(w.data(), run * in)).ok());
  EXPECT_EQ(std::move(*packer).Finish().status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST(LinearPackerInputScalesTest, OnlyInt8TakesThemAndOnlyBeforeItsRows) {
  MatmulContext ctx;
  const int64_t in = 64, out = 64;
  const std::vector<float> w(in * out, 0.5f), scales(in, 1.0f);
  auto fast = LinearPacker::Start(ctx, in, out, Precision::kInt8Fast);
  ASSERT_TRUE(fast.ok()) << fast.status();
  EXPECT_EQ(fast->SetInputScales(scales).code(), absl::StatusCode::kFailedPrecondition);
  auto packer = LinearPacker::Start(ctx, in, out, Precision::kInt8);
  ASSERT_TRUE(packer.ok()) << packer.status();
  EXPECT_EQ(packer->SetInputScales(absl::MakeConstSpan(scales).subspan(1)).code(),
            absl::StatusCode::kInvalidArgument);
  ASSERT_TRUE(packer->AddRows(0, w).ok());
  EXPECT_EQ(packer->SetInputScales(scales).code(), absl::StatusCode::kFailedPrecondition);
}

INSTANTIATE_TEST_SUITE_P(Precisions, LinearPackerTest,
                         ::testing::Values(Precision::kF32, Precision::kBf16, Precision::kInt8,
                                           Precision::kInt8Fast),
                         [](const auto& info) {
                           std::string name(PrecisionName(info.param));
                           for (char& c : name) c = c == '-' ? '_' : c;
                           return name;
                         });

}  // namespace
}  // namespace rwkv::engine
