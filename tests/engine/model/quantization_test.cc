#include "engine/model/quantization.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "engine/model/tensor_source.h"

namespace rwkv::engine {
namespace {

constexpr GgmlType kBlockTypes[] = {GgmlType::kQ4_0, GgmlType::kQ4_1, GgmlType::kQ5_0,
                                    GgmlType::kQ5_1, GgmlType::kQ8_0};

bool IsNanHalf(uint16_t h) { return (h & 0x7c00) == 0x7c00 && (h & 0x3ff) != 0; }

TEST(Fp16Test, KnownValues) {
  EXPECT_EQ(Fp16ToF32(0x0000), 0.0f);
  EXPECT_TRUE(std::signbit(Fp16ToF32(0x8000)));
  EXPECT_EQ(Fp16ToF32(0x3c00), 1.0f);
  EXPECT_EQ(Fp16ToF32(0xc000), -2.0f);
  EXPECT_EQ(Fp16ToF32(0x3555), 0.333251953125f);
  EXPECT_EQ(Fp16ToF32(0x7bff), 65504.0f);
  EXPECT_EQ(Fp16ToF32(0x0400), std::ldexp(1.0f, -14));     // Smallest normal.
  EXPECT_EQ(Fp16ToF32(0x0001), std::ldexp(1.0f, -24));     // Smallest subnormal.
  EXPECT_EQ(Fp16ToF32(0x03ff), std::ldexp(1023.0f, -24));  // Largest subnormal.
  EXPECT_EQ(Fp16ToF32(0x8001), -std::ldexp(1.0f, -24));
  EXPECT_EQ(Fp16ToF32(0x7c00), std::numeric_limits<float>::infinity());
  EXPECT_EQ(Fp16ToF32(0xfc00), -std::numeric_limits<float>::infinity());
  EXPECT_TRUE(std::isnan(Fp16ToF32(0x7e00)));
  EXPECT_TRUE(std::isnan(Fp16ToF32(0x7c01)));  // Signalling payload is still NaN.

  EXPECT_EQ(F32ToFp16(0.0f), 0x0000);
  EXPECT_EQ(F32ToFp16(-0.0f), 0x8000);
  EXPECT_EQ(F32ToFp16(1.0f), 0x3c00);
  EXPECT_EQ(F32ToFp16(-2.0f), 0xc000);
  EXPECT_EQ(F32ToFp16(65504.0f), 0x7bff);
  EXPECT_EQ(F32ToFp16(1e10f), 0x7c00);
  EXPECT_EQ(F32ToFp16(-std::numeric_limits<float>::infinity()), 0xfc00);
  EXPECT_TRUE(IsNanHalf(F32ToFp16(std::numeric_limits<float>::quiet_NaN())));
  EXPECT_EQ(F32ToFp16(-std::numeric_limits<float>::quiet_NaN()) & 0x8000, 0x8000);
}

TEST(Fp16Test, EveryHalfRoundTrips) {
  for (uint32_t h = 0; h <= 0xffff; ++h) {
    const uint16_t half = static_cast<uint16_t>(h);
    const float f = Fp16ToF32(half);
    if (IsNanHalf(half)) {
      ASSERT_TRUE(std::isnan(f)) << h;
      const uint16_t back = F32ToFp16(f);
      ASSERT_TRUE(IsNanHalf(back)) << h;
      ASSERT_EQ(back & 0x8000, half & 0x8000) << h;
    } else {
      ASSERT_EQ(F32ToFp16(f), half) << std::hex << h;
    }
  }
}

// Exhaustive over adjacent pairs of finite halves: the midpoint (exact in float) goes to the
// even one, and the floats just beside it go to the nearer one.
TEST(Fp16Test, RoundsToNearestEven) {
  for (uint16_t h = 0; h < 0x7bff; ++h) {
    const float lo = Fp16ToF32(h);
    const float hi = Fp16ToF32(static_cast<uint16_t>(h + 1));
    const float mid = static_cast<float>((static_cast<double>(lo) + hi) / 2);
    ASSERT_EQ(static_cast<double>(mid), (static_cast<double>(lo) + hi) / 2);
    const uint16_t even = (h & 1) == 0 ? h : static_cast<uint16_t>(h + 1);
    ASSERT_EQ(F32ToFp16(mid), even) << h;
    ASSERT_EQ(F32ToFp16(-mid), even | 0x8000) << h;
    ASSERT_EQ(F32ToFp16(std::nextafter(mid, 0.0f)), h) << h;
    ASSERT_EQ(F32ToFp16(std::nextafter(mid, 1e9f)), h + 1) << h;
  }
}

TEST(Fp16Test, OverflowAndUnderflowBoundaries) {
  EXPECT_EQ(F32ToFp16(std::nextafter(65520.0f, 0.0f)), 0x7bff);
  EXPECT_EQ(F32ToFp16(65520.0f), 0x7c00);  // Tie between 65504 (odd) and 65536: to infinity.
  EXPECT_EQ(F32ToFp16(-65520.0f), 0xfc00);
  const float tiny = std::ldexp(1.0f, -25);  // Half of the smallest subnormal.
  EXPECT_EQ(F32ToFp16(tiny), 0x0000);        // Tie, to even (zero).
  EXPECT_EQ(F32ToFp16(std::nextafter(tiny, 1.0f)), 0x0001);
  EXPECT_EQ(F32ToFp16(std::nextafter(tiny, 0.0f)), 0x0000);
  EXPECT_EQ(F32ToFp16(3 * tiny), 0x0002);  // 1.5 units: tie, to even.
  EXPECT_EQ(F32ToFp16(-std::numeric_limits<float>::denorm_min()), 0x8000);
  EXPECT_EQ(F32ToFp16(std::ldexp(2047.0f, -25)), 0x0400);  // Rounds up into the normals.
}

#if defined(__FLT16_MAX__)
// The compiler's _Float16 conversion rounds to nearest even too: compare on random bit patterns.
TEST(Fp16Test, MatchesCompilerConversion) {
  std::mt19937 rng(7);
  for (int i = 0; i < 2000000; ++i) {
    uint32_t bits = rng();
    if (i % 2 == 0) bits = (bits & 0x83ffffffu) | 0x30000000u;  // Bias towards the half range.
    float f;
    std::memcpy(&f, &bits, sizeof(f));
    if (std::isnan(f)) continue;
    const _Float16 h = static_cast<_Float16>(f);
    uint16_t expected;
    std::memcpy(&expected, &h, sizeof(expected));
    ASSERT_EQ(F32ToFp16(f), expected) << std::hex << bits;
  }
}
#endif

TEST(GgmlTypeTest, CodesNamesAndSizes) {
  struct Case {
    int32_t code;
    const char* name;
    int block_elements;
    int block_bytes;
  };
  for (const Case& c : {Case{0, "F32", 1, 4}, Case{1, "F16", 1, 2}, Case{2, "Q4_0", 32, 18},
                        Case{3, "Q4_1", 32, 20}, Case{7, "Q5_0", 32, 22}, Case{8, "Q5_1", 32, 24},
                        Case{9, "Q8_0", 32, 34}}) {
    absl::StatusOr<GgmlType> type = GgmlTypeFromCode(c.code);
    ASSERT_TRUE(type.ok()) << c.code;
    EXPECT_EQ(GgmlTypeName(*type), c.name);
    EXPECT_EQ(BlockElements(*type), c.block_elements);
    EXPECT_EQ(BlockBytes(*type), c.block_bytes);
    EXPECT_EQ(IsBlockQuantized(*type), c.block_elements == 32);
  }
  for (int32_t code : {4, 5, 6, 10, 11, 16, 17, -1, 1 << 30}) {
    absl::StatusOr<GgmlType> type = GgmlTypeFromCode(code);
    EXPECT_EQ(type.status().code(), absl::StatusCode::kInvalidArgument) << code;
    EXPECT_NE(type.status().message().find(std::to_string(code)), std::string::npos);
  }
  EXPECT_NE(GgmlTypeFromCode(5).status().message().find("removed"), std::string::npos);
  EXPECT_NE(GgmlTypeFromCode(12).status().message().find("Q3_K"), std::string::npos);
  EXPECT_EQ(GgmlTypeName(static_cast<GgmlType>(42)), "unknown");
}

TEST(TensorInfoTest, NumElementsAndShapeString) {
  TensorInfo info{"w", {64, 256}, GgmlType::kF16};
  EXPECT_EQ(info.NumElements(), 64 * 256);
  EXPECT_EQ(info.ShapeString(), "[64, 256]");
  info.ne = {7};
  EXPECT_EQ(info.ShapeString(), "[7]");
  info.ne = {int64_t{1} << 40, int64_t{1} << 40};
  EXPECT_EQ(info.NumElements(), -1);  // Overflow.
  info.ne = {4, -2};
  EXPECT_EQ(info.NumElements(), -1);
}

TEST(StoredBytesTest, SizesAndErrors) {
  EXPECT_EQ(*StoredBytes(GgmlType::kF32, 10), 40);
  EXPECT_EQ(*StoredBytes(GgmlType::kF16, 0), 0);
  EXPECT_EQ(*StoredBytes(GgmlType::kQ5_0, 64), 44);
  EXPECT_EQ(*StoredBytes(GgmlType::kQ8_0, 96), 102);
  EXPECT_EQ(StoredBytes(GgmlType::kQ4_1, 33).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(StoredBytes(GgmlType::kF32, -1).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(StoredBytes(GgmlType::kF32, int64_t{1} << 62).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(StoredBytes(static_cast<GgmlType>(5), 32).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(DequantizeRowTest, SizeErrors) {
  std::vector<uint8_t> data(64);
  std::vector<float> out(32);
  EXPECT_TRUE(DequantizeRow(GgmlType::kQ5_0, data.data(), 22, absl::MakeSpan(out)).ok());
  EXPECT_EQ(DequantizeRow(GgmlType::kQ5_0, data.data(), 21, absl::MakeSpan(out)).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(DequantizeRow(GgmlType::kQ5_0, data.data(), 23, absl::MakeSpan(out)).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(
      DequantizeRow(GgmlType::kQ8_0, data.data(), 34, absl::MakeSpan(out).subspan(0, 31)).code(),
      absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(DequantizeRow(GgmlType::kF32, data.data(), 64, absl::MakeSpan(out)).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(DequantizeRow(GgmlType::kF16, data.data(), 64, absl::MakeSpan(out)).ok());
  EXPECT_TRUE(DequantizeRow(GgmlType::kQ4_0, nullptr, 0, absl::Span<float>()).ok());
}

TEST(QuantizeTest, SizeErrors) {
  std::vector<float> in(64);
  std::vector<uint8_t> out(44);
  EXPECT_TRUE(QuantizeQ5_0(in, absl::MakeSpan(out)).ok());
  EXPECT_EQ(QuantizeQ5_0(in, absl::MakeSpan(out).subspan(1)).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(QuantizeQ5_0(absl::MakeConstSpan(in).subspan(1), absl::MakeSpan(out)).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(QuantizeRow(GgmlType::kQ8_0, absl::MakeConstSpan(in).subspan(4)).status().code(),
            absl::StatusCode::kInvalidArgument);
}

// Hand-built blocks pin the byte layouts: fp16 scales first, qh as a little-endian u32 whose
// bit j is element j's 5th bit, element j in the low nibble of qs[j] and j+16 in its high one.
TEST(DequantizeRowTest, KnownBlocks) {
  std::vector<float> out(32);
  auto dequantize = [&](GgmlType type, const std::vector<uint8_t>& block) {
    EXPECT_TRUE(DequantizeRow(type, block.data(), block.size(), absl::MakeSpan(out)).ok());
  };
  // d = 1.0 (0x3c00), m = -2.0 (0xc000).
  std::vector<uint8_t> q4_0 = {0x00, 0x3c};
  for (int j = 0; j < 16; ++j) q4_0.push_back(static_cast<uint8_t>(j | ((15 - j) << 4)));
  dequantize(GgmlType::kQ4_0, q4_0);
  EXPECT_EQ(out[0], -8.0f);
  EXPECT_EQ(out[3], -5.0f);
  EXPECT_EQ(out[16], 7.0f);
  EXPECT_EQ(out[31], -8.0f);

  std::vector<uint8_t> q4_1 = {0x00, 0x3c, 0x00, 0xc0};
  for (int j = 0; j < 16; ++j) q4_1.push_back(static_cast<uint8_t>(j | ((15 - j) << 4)));
  dequantize(GgmlType::kQ4_1, q4_1);
  EXPECT_EQ(out[0], -2.0f);
  EXPECT_EQ(out[5], 3.0f);
  EXPECT_EQ(out[16], 13.0f);

  // qh bytes 01 00 00 80: bits 0 and 31 set.
  std::vector<uint8_t> q5_0 = {0x00, 0x3c, 0x01, 0x00, 0x00, 0x80};
  for (int j = 0; j < 16; ++j) q5_0.push_back(0x21);
  dequantize(GgmlType::kQ5_0, q5_0);
  EXPECT_EQ(out[0], 1.0f);     // 1 + 16 - 16
  EXPECT_EQ(out[1], -15.0f);   // 1 - 16
  EXPECT_EQ(out[16], -14.0f);  // 2 - 16
  EXPECT_EQ(out[31], 2.0f);    // 2 + 16 - 16

  std::vector<uint8_t> q5_1 = {0x00, 0x3c, 0x00, 0xc0, 0x00, 0x00, 0x01, 0x00};  // Bit 16.
  for (int j = 0; j < 16; ++j) q5_1.push_back(0xf3);
  dequantize(GgmlType::kQ5_1, q5_1);
  EXPECT_EQ(out[0], 1.0f);    // 3 - 2
  EXPECT_EQ(out[16], 29.0f);  // 15 + 16 - 2
  EXPECT_EQ(out[17], 13.0f);  // 15 - 2

  std::vector<uint8_t> q8_0 = {0x00, 0x38};  // d = 0.5
  for (int j = 0; j < 32; ++j) q8_0.push_back(static_cast<uint8_t>(j * 8 - 128));
  dequantize(GgmlType::kQ8_0, q8_0);
  EXPECT_EQ(out[0], -64.0f);
  EXPECT_EQ(out[16], 0.0f);
  EXPECT_EQ(out[31], 60.0f);
}

std::vector<float> TestData(int distribution, int n, std::mt19937& rng) {
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> x(n);
  for (int i = 0; i < n; ++i) {
    switch (distribution) {
      case 0:  // Normal with rare large outliers, as in real weights.
        x[i] = normal(rng) * (rng() % 50 == 0 ? 20.0f : 0.05f);
        break;
      case 1:  // All positive, offset (exercises the min of Q4_1/Q5_1).
        x[i] = 3.0f + std::fabs(normal(rng));
        break;
      case 2:  // Tiny: fp16 scales become subnormal.
        x[i] = normal(rng) * 1e-6f;
        break;
      case 3:  // Constant blocks (d = 0).
        x[i] = (i / 32) % 2 == 0 ? 0.0f : -0.75f;
        break;
      default:
        x[i] = normal(rng) * 1000.0f;
        break;
    }
  }
  return x;
}

// Largest error a block format allows: the rounding step (a full step for the symmetric formats,
// where the largest positive code is clamped), plus the fp16 rounding of d (and m) times the
// largest code.
float ErrorBound(GgmlType type, const float* x) {
  float min = x[0], max = x[0], amax = 0;
  for (int j = 0; j < 32; ++j) {
    min = std::min(min, x[j]);
    max = std::max(max, x[j]);
    amax = std::max(amax, std::fabs(x[j]));
  }
  auto fp16_error = [](float v) { return std::max(std::fabs(v) * 0x1p-11f, 0x1p-25f); };
  float d, steps, max_code, m_error = 0;
  switch (type) {
    case GgmlType::kQ4_0:
      d = amax / 8, steps = 1.0f, max_code = 8;
      break;
    case GgmlType::kQ5_0:
      d = amax / 16, steps = 1.0f, max_code = 16;
      break;
    case GgmlType::kQ4_1:
      d = (max - min) / 15, steps = 0.5f, max_code = 15, m_error = fp16_error(min);
      break;
    case GgmlType::kQ5_1:
      d = (max - min) / 31, steps = 0.5f, max_code = 31, m_error = fp16_error(min);
      break;
    default:
      d = amax / 127, steps = 0.5f, max_code = 127;
      break;
  }
  return steps * d + max_code * fp16_error(d) + m_error + 1e-6f * amax;
}

TEST(QuantizeTest, DequantizedErrorIsBounded) {
  std::mt19937 rng(1234);
  for (const GgmlType type : kBlockTypes) {
    for (int distribution = 0; distribution < 5; ++distribution) {
      const std::vector<float> x = TestData(distribution, 32 * 64, rng);
      absl::StatusOr<std::vector<uint8_t>> q = QuantizeRow(type, x);
      ASSERT_TRUE(q.ok()) << q.status();
      std::vector<float> y(x.size());
      ASSERT_TRUE(DequantizeRow(type, q->data(), q->size(), absl::MakeSpan(y)).ok());
      for (size_t i = 0; i < x.size(); ++i) {
        const float bound = ErrorBound(type, &x[i / 32 * 32]);
        ASSERT_LE(std::fabs(x[i] - y[i]), bound)
            << GgmlTypeName(type) << " distribution " << distribution << " element " << i;
      }
    }
  }
}

// Dequantized values lie exactly on the quantization grid, so quantizing them again must give
// the same codes; for the symmetric formats the scale survives too, so the blocks are identical.
TEST(QuantizeTest, RequantizingDequantizedValuesKeepsCodes) {
  std::mt19937 rng(99);
  for (const GgmlType type : kBlockTypes) {
    const int scale_bytes = (type == GgmlType::kQ4_1 || type == GgmlType::kQ5_1) ? 4 : 2;
    for (int distribution = 0; distribution < 5; ++distribution) {
      const std::vector<float> x = TestData(distribution, 32 * 64, rng);
      const std::vector<uint8_t> q = *QuantizeRow(type, x);
      std::vector<float> y(x.size());
      ASSERT_TRUE(DequantizeRow(type, q.data(), q.size(), absl::MakeSpan(y)).ok());
      const std::vector<uint8_t> q2 = *QuantizeRow(type, y);
      const int block_bytes = BlockBytes(type);
      for (size_t b = 0; b < q.size() / block_bytes; ++b) {
        const uint8_t* b1 = &q[b * block_bytes];
        const uint8_t* b2 = &q2[b * block_bytes];
        // A scale that underflowed to fp16 zero leaves codes that no value reproduces.
        if (b1[0] == 0 && b1[1] == 0) continue;
        ASSERT_EQ(std::memcmp(b1 + scale_bytes, b2 + scale_bytes, block_bytes - scale_bytes), 0)
            << GgmlTypeName(type) << " distribution " << distribution << " block " << b;
        if (scale_bytes == 2) {
          ASSERT_EQ(std::memcmp(b1, b2, 2), 0) << GgmlTypeName(type) << " block " << b;
        }
      }
    }
  }
}

TEST(QuantizeTest, FloatFormatsRoundTrip) {
  const std::vector<float> x = {1.0f, -0.5f, 3.14159f, 1e-7f, 65504.0f};
  const std::vector<uint8_t> f32 = *QuantizeRow(GgmlType::kF32, x);
  std::vector<float> y(x.size());
  ASSERT_TRUE(DequantizeRow(GgmlType::kF32, f32.data(), f32.size(), absl::MakeSpan(y)).ok());
  EXPECT_EQ(y, x);
  const std::vector<uint8_t> f16 = *QuantizeRow(GgmlType::kF16, x);
  ASSERT_EQ(f16.size(), 10u);
  ASSERT_TRUE(DequantizeRow(GgmlType::kF16, f16.data(), f16.size(), absl::MakeSpan(y)).ok());
  for (size_t i = 0; i < x.size(); ++i) EXPECT_EQ(y[i], Fp16ToF32(F32ToFp16(x[i])));
}

TEST(QuantizeTest, NonFiniteInputsStayMemorySafe) {
  std::vector<float> x(32, 1.0f);
  x[3] = std::numeric_limits<float>::quiet_NaN();
  x[9] = std::numeric_limits<float>::infinity();
  for (const GgmlType type : kBlockTypes) {
    absl::StatusOr<std::vector<uint8_t>> q = QuantizeRow(type, x);
    ASSERT_TRUE(q.ok());
    EXPECT_EQ(q->size(), static_cast<size_t>(BlockBytes(type)));
  }
}

}  // namespace
}  // namespace rwkv::engine
