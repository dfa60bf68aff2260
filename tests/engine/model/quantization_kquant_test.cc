// BF16, the K-quants (Q4_K, Q5_K, Q6_K) and GGUF type codes. The blocks are built here from the
// format's definition (independently of the decoder's code), with values whose floats are exact.
#include <gtest/gtest.h>

#include <array>
#include <bit>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "engine/model/quantization.h"
#include "engine/model/tensor_source.h"

namespace rwkv::engine {
namespace {

constexpr int kK = kKQuantBlockElements;

void PutU16(uint16_t v, uint8_t* p) {
  p[0] = static_cast<uint8_t>(v);
  p[1] = static_cast<uint8_t>(v >> 8);
}

std::vector<float> Decode(GgmlType type, const std::vector<uint8_t>& block, size_t n = kK) {
  std::vector<float> out(n);
  const absl::Status status = DequantizeRow(type, block.data(), block.size(), absl::MakeSpan(out));
  EXPECT_TRUE(status.ok()) << status;
  return out;
}

TEST(Bf16Test, KnownValuesAndRounding) {
  EXPECT_EQ(Bf16ToF32(0x3f80), 1.0f);
  EXPECT_EQ(Bf16ToF32(0xc000), -2.0f);
  EXPECT_EQ(Bf16ToF32(0x7f80), INFINITY);
  EXPECT_TRUE(std::isnan(Bf16ToF32(0x7fc1)));
  EXPECT_EQ(F32ToBf16(1.0f), 0x3f80);
  // Ties go to even: 1 + 2^-8 is halfway between 0x3f80 and 0x3f81.
  EXPECT_EQ(F32ToBf16(std::bit_cast<float>(0x3f808000u)), 0x3f80);
  EXPECT_EQ(F32ToBf16(std::bit_cast<float>(0x3f818000u)), 0x3f82);
  EXPECT_EQ(F32ToBf16(std::bit_cast<float>(0x3f808001u)), 0x3f81);
  EXPECT_EQ(F32ToBf16(std::numeric_limits<float>::max()), 0x7f80);  // Rounds up to infinity.
  EXPECT_TRUE(std::isnan(Bf16ToF32(F32ToBf16(std::bit_cast<float>(0x7f800001u)))));
}

TEST(Bf16Test, EveryValueDecodesExactly) {
  std::vector<uint8_t> data(2 * 65536);
  for (uint32_t i = 0; i < 65536; ++i) PutU16(static_cast<uint16_t>(i), data.data() + 2 * i);
  const std::vector<float> out = Decode(GgmlType::kBF16, data, 65536);
  for (uint32_t i = 0; i < 65536; ++i) {
    const uint32_t bits = std::bit_cast<uint32_t>(out[i]);
    ASSERT_EQ(bits, i << 16) << i;
    if (!std::isnan(out[i])) {
      ASSERT_EQ(F32ToBf16(out[i]), i) << i;
    }
  }
  absl::StatusOr<std::vector<uint8_t>> encoded = QuantizeRow(GgmlType::kBF16, {1.0f, -2.0f});
  ASSERT_TRUE(encoded.ok());
  EXPECT_EQ(*encoded, (std::vector<uint8_t>{0x80, 0x3f, 0x00, 0xc0}));
}

TEST(KQuantTest, SizesAndCodes) {
  EXPECT_EQ(BlockElements(GgmlType::kQ4_K), 256);
  EXPECT_EQ(BlockBytes(GgmlType::kQ4_K), 144);
  EXPECT_EQ(BlockBytes(GgmlType::kQ5_K), 176);
  EXPECT_EQ(BlockBytes(GgmlType::kQ6_K), 210);
  EXPECT_EQ(BlockBytes(GgmlType::kBF16), 2);
  EXPECT_TRUE(IsBlockQuantized(GgmlType::kQ6_K));
  EXPECT_TRUE(IsKQuant(GgmlType::kQ5_K));
  EXPECT_FALSE(IsKQuant(GgmlType::kQ8_0));
  EXPECT_EQ(*StoredBytes(GgmlType::kQ6_K, 512), 420);
  EXPECT_EQ(StoredBytes(GgmlType::kQ4_K, 32).status().code(), absl::StatusCode::kInvalidArgument);
  std::vector<float> out(32);
  std::vector<uint8_t> data(144);
  EXPECT_FALSE(DequantizeRow(GgmlType::kQ4_K, data.data(), data.size(), absl::MakeSpan(out)).ok());
  EXPECT_EQ(QuantizeRow(GgmlType::kQ4_K, std::vector<float>(256)).status().code(),
            absl::StatusCode::kUnimplemented);
}

TEST(GgufTypeTest, CurrentGgmlNumbering) {
  const std::array<std::pair<uint32_t, GgmlType>, 11> known = {{
      {0, GgmlType::kF32},
      {1, GgmlType::kF16},
      {2, GgmlType::kQ4_0},
      {3, GgmlType::kQ4_1},
      {6, GgmlType::kQ5_0},
      {7, GgmlType::kQ5_1},
      {8, GgmlType::kQ8_0},
      {12, GgmlType::kQ4_K},
      {13, GgmlType::kQ5_K},
      {14, GgmlType::kQ6_K},
      {30, GgmlType::kBF16},
  }};
  for (const auto& [code, type] : known) {
    absl::StatusOr<GgmlType> got = GgufTypeFromCode(code);
    ASSERT_TRUE(got.ok()) << code;
    EXPECT_EQ(*got, type) << code;
  }
  for (const auto& [code, name] :
       std::vector<std::pair<uint32_t, std::string>>{{9, "Q8_1"},
                                                     {10, "Q2_K"},
                                                     {11, "Q3_K"},
                                                     {15, "Q8_K"},
                                                     {23, "IQ4_XS"},
                                                     {28, "F64"},
                                                     {4, "Q4_2"},
                                                     {1000, "unknown"}}) {
    absl::StatusOr<GgmlType> got = GgufTypeFromCode(code);
    ASSERT_FALSE(got.ok()) << code;
    EXPECT_EQ(got.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(got.status().message().find(name), std::string::npos) << got.status();
  }
  // rwkv.cpp files never hold these; their reader keeps refusing them.
  for (int32_t code : {12, 13, 14, 30}) EXPECT_FALSE(GgmlTypeFromCode(code).ok()) << code;
}

// ---- Q4_K / Q5_K: 8 sub-blocks of 32, 6-bit scales and mins packed in 12 bytes. ----

// Packs 8 six-bit scales and mins as the format defines: sub-blocks 0..3 in the low 6 bits of
// bytes 0..3 / 4..7; sub-blocks 4..7 as low nibbles in bytes 8..11 and top 2 bits of 0..3 / 4..7.
void PackScalesK4(const int* sc, const int* m, uint8_t* q) {
  for (int j = 0; j < 4; ++j) {
    q[j] = static_cast<uint8_t>(sc[j] | ((sc[j + 4] >> 4) << 6));
    q[j + 4] = static_cast<uint8_t>(m[j] | ((m[j + 4] >> 4) << 6));
    q[j + 8] = static_cast<uint8_t>((sc[j + 4] & 0xF) | ((m[j + 4] & 0xF) << 4));
  }
}

struct KBlock {
  int scale[8], min[8];
  int code[kK];
};

KBlock MakeK4Values(int code_modulus) {
  KBlock k;
  for (int j = 0; j < 8; ++j) {
    k.scale[j] = 10 + 7 * j;  // 10..59: sub-blocks 4..7 use the high bits.
    k.min[j] = 63 - 5 * j;
  }
  for (int e = 0; e < kK; ++e) k.code[e] = (e * 7 + e / 32) % code_modulus;
  return k;
}

TEST(KQuantTest, Q4_K) {
  const KBlock k = MakeK4Values(16);
  std::vector<uint8_t> block(144);
  PutU16(0x3c00, &block[0]);  // d = 1
  PutU16(0x3800, &block[2]);  // dmin = 0.5
  PackScalesK4(k.scale, k.min, &block[4]);
  // Element e: group g = e / 64 owns qs[32g, 32g + 32); its first 32 elements are the low
  // nibbles, the next 32 the high nibbles.
  for (int e = 0; e < kK; ++e) {
    const int g = e / 64, i = e % 64;
    block[16 + 32 * g + i % 32] |= static_cast<uint8_t>(k.code[e] << (i < 32 ? 0 : 4));
  }
  const std::vector<float> out = Decode(GgmlType::kQ4_K, block);
  for (int e = 0; e < kK; ++e) {
    const int sub = e / 32;
    ASSERT_EQ(out[e], 1.0f * k.scale[sub] * k.code[e] - 0.5f * k.min[sub]) << e;
  }
}

TEST(KQuantTest, Q5_K) {
  const KBlock k = MakeK4Values(32);
  std::vector<uint8_t> block(176);
  PutU16(0x3400, &block[0]);  // d = 0.25
  PutU16(0x4000, &block[2]);  // dmin = 2
  PackScalesK4(k.scale, k.min, &block[4]);
  // Low 4 bits as Q4_K (qs from byte 48); the 5th bit of element e is bit e / 32 of qh[e % 32].
  for (int e = 0; e < kK; ++e) {
    const int g = e / 64, i = e % 64;
    block[48 + 32 * g + i % 32] |= static_cast<uint8_t>((k.code[e] & 15) << (i < 32 ? 0 : 4));
    block[16 + e % 32] |= static_cast<uint8_t>((k.code[e] >> 4) << (e / 32));
  }
  const std::vector<float> out = Decode(GgmlType::kQ5_K, block);
  for (int e = 0; e < kK; ++e) {
    const int sub = e / 32;
    ASSERT_EQ(out[e], 0.25f * k.scale[sub] * k.code[e] - 2.0f * k.min[sub]) << e;
  }
}

TEST(KQuantTest, Q6_K) {
  std::vector<uint8_t> block(210);
  int code[kK], scale[16];
  for (int i = 0; i < 16; ++i) scale[i] = (i % 2 ? -1 : 1) * (i * 8 + 1);  // Signed, up to 121.
  for (int e = 0; e < kK; ++e) code[e] = (e * 13 + e / 64) % 64;
  for (int i = 0; i < 16; ++i) block[192 + i] = static_cast<uint8_t>(static_cast<int8_t>(scale[i]));
  PutU16(0x3800, &block[208]);  // d = 0.5
  // Each half h of 128 elements: quarter k (32 elements, index l) keeps its low nibble in
  // ql[64h + l + 32 (k odd)], low for k < 2, high for k >= 2; its 2 high bits in bits 2k, 2k+1
  // of qh[32h + l].
  for (int e = 0; e < kK; ++e) {
    const int h = e / 128, k = (e % 128) / 32, l = e % 32;
    block[64 * h + l + (k % 2 ? 32 : 0)] |= static_cast<uint8_t>((code[e] & 15) << (k < 2 ? 0 : 4));
    block[128 + 32 * h + l] |= static_cast<uint8_t>((code[e] >> 4) << (2 * k));
  }
  const std::vector<float> out = Decode(GgmlType::kQ6_K, block);
  for (int e = 0; e < kK; ++e) {
    ASSERT_EQ(out[e], 0.5f * scale[e / 16] * (code[e] - 32)) << e;
  }
}

TEST(KQuantTest, SeveralSuperBlocksDecodeIndependently) {
  std::vector<uint8_t> data(2 * 210);
  PutU16(0x3c00, &data[208]);        // First block: d = 1, every scale 0 -> zeros.
  PutU16(0x3c00, &data[210 + 208]);  // Second: d = 1, scale 1, codes 0 -> -32.
  for (int i = 0; i < 16; ++i) data[210 + 192 + i] = 1;
  const std::vector<float> out = Decode(GgmlType::kQ6_K, data, 2 * kK);
  for (int e = 0; e < kK; ++e) ASSERT_EQ(out[e], 0.0f) << e;
  for (int e = kK; e < 2 * kK; ++e) ASSERT_EQ(out[e], -32.0f) << e;
}

}  // namespace
}  // namespace rwkv::engine
