// Linear in every precision and with every epilogue against a float64 reference.
#include "engine/compute/matmul.h"

#include <bit>
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "gtest/gtest.h"

namespace rwkv::engine {
namespace {

double Reference(Epilogue epilogue, double v, double old) {
  switch (epilogue) {
    case Epilogue::kNone:
      return v;
    case Epilogue::kAccumulate:
      return old + v;
    case Epilogue::kSigmoid:
      return 1.0 / (1.0 + std::exp(-v));
    case Epilogue::kTanh:
      return std::tanh(v);
    case Epilogue::kReluSquare:
      return v > 0 ? v * v : 0.0;
    case Epilogue::kSilu:
      return v / (1.0 + std::exp(-v));
  }
  return v;
}

struct Case {
  Precision precision;
  // max |error| / (rms of the exact product); measured at about a third of it.
  double tolerance;
};

class LinearTest : public ::testing::TestWithParam<Case> {};

TEST_P(LinearTest, MatchesReferenceForEveryShapeAndEpilogue) {
  MatmulContext ctx;
  std::mt19937 rng(7);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (auto [in, out] : {std::pair<int64_t, int64_t>{64, 64}, {256, 64}, {64, 256}, {768, 96},
                         {37, 19}}) {
    std::vector<float> w(in * out);
    for (float& v : w) v = normal(rng) / std::sqrt(static_cast<float>(in));
    auto linear = Linear::Create(ctx, w.data(), in, out, GetParam().precision);
    ASSERT_TRUE(linear.ok()) << linear.status();
    for (int64_t rows : {1, 2, 7, 33, 300}) {
      std::vector<float> x(rows * in);
      for (float& v : x) v = normal(rng);
      for (Epilogue epilogue : {Epilogue::kNone, Epilogue::kAccumulate, Epilogue::kSigmoid,
                                Epilogue::kTanh, Epilogue::kReluSquare, Epilogue::kSilu}) {
        std::vector<float> y(rows * out);
        for (float& v : y) v = normal(rng);
        const std::vector<float> old = y;
        ASSERT_TRUE(linear->Apply(ctx, x.data(), rows, y.data(), epilogue).ok());
        double worst = 0.0, power = 0.0;
        for (int64_t r = 0; r < rows; ++r) {
          for (int64_t o = 0; o < out; ++o) {
            double dot = 0.0;
            for (int64_t i = 0; i < in; ++i) dot += double{x[r * in + i]} * w[o * in + i];
            power += dot * dot;
            double want = Reference(epilogue, dot, old[r * out + o]);
            double got = y[r * out + o];
            if (epilogue == Epilogue::kReluSquare) {  // compare before squaring
              want = std::sqrt(want);
              got = std::sqrt(std::max(got, 0.0));
            }
            worst = std::max(worst, std::fabs(want - got));
          }
        }
        const double rms = std::sqrt(power / (rows * out));
        EXPECT_LE(worst / rms, GetParam().tolerance)
            << PrecisionName(GetParam().precision) << " " << in << "x" << out << " rows "
            << rows << " epilogue " << static_cast<int>(epilogue);
      }
    }
  }
}

void PrintTo(const Case& c, std::ostream* os) { *os << PrecisionName(c.precision); }

INSTANTIATE_TEST_SUITE_P(AllPrecisions, LinearTest,
                         ::testing::Values(Case{Precision::kF32, 5e-5},
                                           Case{Precision::kBf16, 3e-2},
                                           Case{Precision::kInt8, 8e-2},
                                           Case{Precision::kInt8Fast, 8e-2}),
                         [](const auto& info) {
                           std::string name(PrecisionName(info.param.precision));
                           for (char& c : name) c = c == '-' ? '_' : c;
                           return name;
                         });

// One int8 row (int8-fast: one or two) takes the VNNI loops over oneDNN's packed weights (where
// the CPU and layout allow), more rows oneDNN's kernels: integer sums are exact, so every row
// count gives the same bits.
class Int8RowsTest : public ::testing::TestWithParam<Precision> {};

TEST_P(Int8RowsTest, FewRowsGiveTheSameBitsAsManyRows) {
  MatmulContext ctx;
  std::mt19937 rng(11);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (auto [in, out] : {std::pair<int64_t, int64_t>{64, 32},
                         {32, 64},
                         {768, 64},
                         {64, 64},
                         {64, 256},
                         {256, 64},
                         {768, 192},
                         {256, 1024},
                         {37, 19}}) {
    std::vector<float> w(in * out);
    for (float& v : w) v = normal(rng);
    auto linear = Linear::Create(ctx, w.data(), in, out, GetParam());
    ASSERT_TRUE(linear.ok()) << linear.status();
    constexpr int64_t kMany = 150;
    std::vector<float> x(kMany * in);
    for (float& v : x) v = normal(rng);
    for (Epilogue epilogue : {Epilogue::kNone, Epilogue::kAccumulate, Epilogue::kSilu}) {
      std::vector<float> many(kMany * out, 0.5f);
      ASSERT_TRUE(linear->Apply(ctx, x.data(), kMany, many.data(), epilogue).ok());
      for (int64_t rows : {1, 2, 3, 4, 5, 6, 7, 8, 14, 33, 64}) {
        std::vector<float> few(rows * out, 0.5f);
        ASSERT_TRUE(linear->Apply(ctx, x.data(), rows, few.data(), epilogue).ok());
        for (int64_t i = 0; i < rows * out; ++i) {
          ASSERT_EQ(few[i], many[i]) << in << "x" << out << " rows " << rows << " at " << i;
        }
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(BothModes, Int8RowsTest,
                         ::testing::Values(Precision::kInt8, Precision::kInt8Fast),
                         [](const auto& info) {
                           return std::string(info.param == Precision::kInt8 ? "int8"
                                                                             : "int8_fast");
                         });

// bf16: a few rows take Bf16Gemv (where the CPU, layout and shape allow), more rows oneDNN's
// kernel, and the epilogue runs after either: every row count gives the same bits.
TEST(Bf16RowsTest, FewRowsGiveTheSameBitsAsManyRowsForEveryEpilogue) {
  MatmulContext ctx;
  std::mt19937 rng(13);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (auto [in, out] : {std::pair<int64_t, int64_t>{64, 32},
                         {32, 64},
                         {768, 64},
                         {64, 768},
                         {768, 768},
                         {1024, 256},
                         {256, 3072},
                         {100, 128},
                         {37, 19},
                         {3072, 768},  // split along the inputs (Linear::parts_)
                         {2600, 64},
                         {1030, 40}}) {
    std::vector<float> w(in * out);
    for (float& v : w) v = normal(rng) / std::sqrt(static_cast<float>(in));
    auto linear = Linear::Create(ctx, w.data(), in, out, Precision::kBf16);
    ASSERT_TRUE(linear.ok()) << linear.status();
    constexpr int64_t kMany = 64;
    std::vector<float> x(kMany * in);
    for (float& v : x) v = normal(rng) * (rng() % 8 == 0 ? 30.0f : 1.0f);
    for (Epilogue epilogue : {Epilogue::kNone, Epilogue::kAccumulate, Epilogue::kSigmoid,
                              Epilogue::kTanh, Epilogue::kReluSquare, Epilogue::kSilu}) {
      std::vector<float> many(kMany * out, 0.5f);
      ASSERT_TRUE(linear->Apply(ctx, x.data(), kMany, many.data(), epilogue).ok());
      for (int64_t rows : {1, 2, 3, 4, 5, 7, 8, 9, 33}) {
        std::vector<float> few(rows * out, 0.5f);
        ASSERT_TRUE(linear->Apply(ctx, x.data(), rows, few.data(), epilogue).ok());
        for (int64_t i = 0; i < rows * out; ++i) {
          ASSERT_EQ(std::bit_cast<uint32_t>(few[i]), std::bit_cast<uint32_t>(many[i]))
              << in << "x" << out << " rows " << rows << " epilogue " << static_cast<int>(epilogue)
              << " at " << i;
        }
      }
    }
  }
}

TEST(PrecisionTest, Parse) {
  EXPECT_EQ(*ParsePrecision("f32"), Precision::kF32);
  EXPECT_EQ(*ParsePrecision("bf16"), Precision::kBf16);
  EXPECT_EQ(*ParsePrecision("int8"), Precision::kInt8);
  EXPECT_EQ(*ParsePrecision("int8-fast"), Precision::kInt8Fast);
  EXPECT_EQ(PrecisionName(Precision::kInt8Fast), "int8-fast");
  EXPECT_EQ(*ParsePrecision("q8_0"), Precision::kQ8_0);
  EXPECT_EQ(PrecisionName(Precision::kQ8_0), "q8_0");
  EXPECT_EQ(*ParsePrecision("auto"), DefaultPrecision());
  EXPECT_EQ(ParsePrecision("fp8").status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace rwkv::engine
