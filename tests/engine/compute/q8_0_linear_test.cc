// Linear in q8_0: Q8_0 blocks packed as given (never requantized), float rows quantized by ggml's
// formula, runs of rows packing what one piece packs, every row count giving the same bits, and
// the errors that name what is wrong.
#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "absl/base/casts.h"
#include "engine/compute/epilogue.h"
#include "engine/compute/linear_packer.h"
#include "engine/compute/q8_0_matmul.h"
#include "engine/model/quantization.h"
#include "gtest/gtest.h"

namespace rwkv::engine {
namespace {

std::vector<float> Normal(int64_t n, uint32_t seed, float sigma = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, sigma);
  std::vector<float> v(n);
  for (float& x : v) x = normal(rng);
  return v;
}

std::vector<uint8_t> Blocks(const std::vector<float>& w) {
  std::vector<uint8_t> blocks(w.size() / kQ8_0BlockInputs * kQ8_0BlockBytes);
  EXPECT_TRUE(QuantizeQ8_0(w, absl::MakeSpan(blocks)).ok());
  return blocks;
}

absl::StatusOr<Linear> FromBlocks(MatmulContext& ctx, const std::vector<uint8_t>& blocks,
                                  int64_t in, int64_t out, int64_t wanted_run) {
  absl::StatusOr<LinearPacker> packer = LinearPacker::Start(ctx, in, out, Precision::kQ8_0);
  if (!packer.ok()) return packer.status();
  const int64_t run = packer->RunRows(wanted_run);
  const int64_t row_bytes = in / kQ8_0BlockInputs * kQ8_0BlockBytes;
  for (int64_t first = 0; first < out; first += run) {
    const int64_t count = std::min(run, out - first);
    absl::Status added = packer->AddQ8_0Rows(
        first, absl::MakeConstSpan(blocks.data() + first * row_bytes, count * row_bytes));
    if (!added.ok()) return added;
  }
  return std::move(*packer).Finish();
}

std::vector<float> Apply(MatmulContext& ctx, const Linear& linear, const std::vector<float>& x,
                         int64_t rows, Epilogue epilogue = Epilogue::kNone, float old = 0.0f) {
  std::vector<float> y(rows * linear.out(), old);
  EXPECT_TRUE(linear.Apply(ctx, x.data(), rows, y.data(), epilogue).ok());
  return y;
}

void ExpectSameBits(const std::vector<float>& got, const std::vector<float>& want, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    ASSERT_EQ(absl::bit_cast<uint32_t>(got[i]), absl::bit_cast<uint32_t>(want[i])) << "at " << i;
  }
}

TEST(Q8_0LinearTest, FloatRowsAreQuantizedAsGgmlDoesAndRunsPackWhatOnePiecePacks) {
  MatmulContext ctx;
  for (auto [in, out] :
       {std::pair<int64_t, int64_t>{64, 200}, {768, 3072}, {256, 8192 + 192}, {32, 17}}) {
    const std::vector<float> w = Normal(in * out, 3);
    auto from_floats = Linear::Create(ctx, w.data(), in, out, Precision::kQ8_0);
    ASSERT_TRUE(from_floats.ok()) << from_floats.status();
    EXPECT_EQ(from_floats->precision(), Precision::kQ8_0);
    EXPECT_EQ(from_floats->WeightBytes(), Q8_0PackedBytes(in, out));
    const std::vector<uint8_t> blocks = Blocks(w);
    for (int64_t run : {1, 100, 100000}) {
      auto from_blocks = FromBlocks(ctx, blocks, in, out, run);
      ASSERT_TRUE(from_blocks.ok()) << from_blocks.status();
      for (int64_t rows : {1, 3, 64}) {
        const std::vector<float> x = Normal(rows * in, 5);
        SCOPED_TRACE(testing::Message() << in << "x" << out << " run " << run << " rows " << rows);
        ExpectSameBits(Apply(ctx, *from_blocks, x, rows), Apply(ctx, *from_floats, x, rows),
                       rows * out);
      }
    }
  }
}

// Codes that do not reach +-127, which ggml's quantizer never writes but a file may hold:
// requantizing would renormalize them (and move every value by up to half a new step). The
// product of a one-hot row reads one weight back: d * q to float32 rounding.
TEST(Q8_0LinearTest, BlocksAreUsedAsStored) {
  MatmulContext ctx;
  const int64_t in = 64, out = 48;
  std::mt19937 rng(7);
  std::vector<uint8_t> blocks(out * in / kQ8_0BlockInputs * kQ8_0BlockBytes);
  std::vector<float> values(out * in);
  for (int64_t o = 0; o < out; ++o) {
    for (int64_t b = 0; b < in / kQ8_0BlockInputs; ++b) {
      uint8_t* block = blocks.data() + (o * (in / kQ8_0BlockInputs) + b) * kQ8_0BlockBytes;
      const uint16_t d = static_cast<uint16_t>(0x2000 + rng() % 0x3000);  // fp16 1.5e-5 .. 2
      std::memcpy(block, &d, 2);
      std::vector<float> decoded(kQ8_0BlockInputs);
      for (int j = 0; j < kQ8_0BlockInputs; ++j) {
        block[2 + j] = static_cast<uint8_t>(static_cast<int8_t>(static_cast<int>(rng() % 61) - 30));
      }
      ASSERT_TRUE(
          DequantizeRow(GgmlType::kQ8_0, block, kQ8_0BlockBytes, absl::MakeSpan(decoded)).ok());
      for (int j = 0; j < kQ8_0BlockInputs; ++j) values[o * in + b * 32 + j] = decoded[j];
    }
  }
  auto linear = FromBlocks(ctx, blocks, in, out, out);
  ASSERT_TRUE(linear.ok()) << linear.status();
  std::vector<float> one_hot(in * in, 0.0f);
  for (int64_t k = 0; k < in; ++k) one_hot[k * in + k] = 0.75f;
  const std::vector<float> y = Apply(ctx, *linear, one_hot, in);
  for (int64_t k = 0; k < in; ++k) {
    for (int64_t o = 0; o < out; ++o) {
      const float want = 0.75f * values[o * in + k];
      ASSERT_NEAR(y[k * out + o], want, 1e-6f * std::fabs(want) + 1e-30f) << k << ", " << o;
    }
  }
}

TEST(Q8_0LinearTest, EveryRowCountGivesTheSameBitsForEveryEpilogue) {
  MatmulContext ctx;
  for (auto [in, out] : {std::pair<int64_t, int64_t>{64, 32},
                         {32, 64},
                         {768, 64},
                         {64, 768},
                         {3072, 768},
                         {96, 19}}) {
    const std::vector<float> w = Normal(in * out, 11, 1.0f / std::sqrt(static_cast<float>(in)));
    auto linear = Linear::Create(ctx, w.data(), in, out, Precision::kQ8_0);
    ASSERT_TRUE(linear.ok()) << linear.status();
    constexpr int64_t kMany = 70;
    std::vector<float> x = Normal(kMany * in, 13);
    for (size_t i = 0; i < x.size(); i += 7) x[i] *= 30.0f;
    for (Epilogue epilogue : {Epilogue::kNone, Epilogue::kAccumulate, Epilogue::kSigmoid,
                              Epilogue::kTanh, Epilogue::kReluSquare, Epilogue::kSilu}) {
      const std::vector<float> many = Apply(ctx, *linear, x, kMany, epilogue, 0.5f);
      for (int64_t rows : {1, 2, 3, 4, 5, 7, 8, 9, 16, 33, 64}) {
        SCOPED_TRACE(testing::Message() << in << "x" << out << " rows " << rows << " epilogue "
                                        << static_cast<int>(epilogue));
        ExpectSameBits(Apply(ctx, *linear, x, rows, epilogue, 0.5f), many, rows * out);
      }
    }
  }
}

// Against a double-precision product of the dequantized weights: what is left is the 16-bit
// rounding of the activations.
TEST(Q8_0LinearTest, CloseToTheProductOfTheDequantizedWeights) {
  MatmulContext ctx;
  const int64_t in = 768, out = 256, rows = 9;
  const std::vector<float> w = Normal(in * out, 17);
  const std::vector<uint8_t> blocks = Blocks(w);
  std::vector<float> dequantized(in * out);
  ASSERT_TRUE(
      DequantizeRow(GgmlType::kQ8_0, blocks.data(), blocks.size(), absl::MakeSpan(dequantized))
          .ok());
  auto linear = FromBlocks(ctx, blocks, in, out, out);
  ASSERT_TRUE(linear.ok()) << linear.status();
  const std::vector<float> x = Normal(rows * in, 19);
  const std::vector<float> y = Apply(ctx, *linear, x, rows);
  double diff = 0, norm = 0;
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t o = 0; o < out; ++o) {
      double dot = 0;
      for (int64_t k = 0; k < in; ++k) dot += double{x[r * in + k]} * dequantized[o * in + k];
      diff += (y[r * out + o] - dot) * (y[r * out + o] - dot);
      norm += dot * dot;
    }
  }
  EXPECT_LE(std::sqrt(diff / norm), 1e-4);
}

TEST(Q8_0LinearTest, ErrorsNameWhatIsWrong) {
  MatmulContext ctx;
  const std::vector<float> w(40 * 8, 0.5f);
  const absl::StatusOr<Linear> odd = Linear::Create(ctx, w.data(), 40, 8, Precision::kQ8_0);
  EXPECT_EQ(odd.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(odd.status().message().find("blocks of 32"), std::string::npos) << odd.status();

  const std::vector<uint8_t> blocks = Blocks(std::vector<float>(64 * 128, 0.25f));
  auto int8 = LinearPacker::Start(ctx, 64, 128, Precision::kInt8);
  ASSERT_TRUE(int8.ok());
  EXPECT_EQ(int8->AddQ8_0Rows(0, blocks).code(), absl::StatusCode::kFailedPrecondition);

  auto packer = LinearPacker::Start(ctx, 64, 128, Precision::kQ8_0);
  ASSERT_TRUE(packer.ok());
  EXPECT_EQ(packer->AddQ8_0Rows(0, absl::MakeConstSpan(blocks).subspan(1)).code(),
            absl::StatusCode::kInvalidArgument);  // not whole rows
  const int64_t run = packer->RunRows(1);
  EXPECT_EQ(packer->AddQ8_0Rows(run, absl::MakeConstSpan(blocks).subspan(0, run * 68)).code(),
            absl::StatusCode::kInvalidArgument);  // not where the matrix continues
  ASSERT_TRUE(packer->AddQ8_0Rows(0, absl::MakeConstSpan(blocks).subspan(0, run * 68)).ok());
  EXPECT_EQ(std::move(*packer).Finish().status().code(), absl::StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace rwkv::engine
