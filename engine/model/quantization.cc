#include "engine/model/quantization.h"

#include <bit>
#include <cmath>
#include <cstring>
#include <iterator>
#include <limits>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "engine/model/kquants.h"

namespace rwkv::engine {
namespace {

constexpr int kHalfBlock = kQuantBlockElements / 2;

// Debian's Abseil has its own string_view type, which StrCat needs.
absl::string_view TypeName(GgmlType type) {
  const std::string_view name = GgmlTypeName(type);
  return absl::string_view(name.data(), name.size());
}

uint16_t LoadU16(const uint8_t* p) { return static_cast<uint16_t>(p[0] | (p[1] << 8)); }

uint32_t LoadU32(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) | (static_cast<uint32_t>(p[1]) << 8) |
         (static_cast<uint32_t>(p[2]) << 16) | (static_cast<uint32_t>(p[3]) << 24);
}

void StoreU16(uint16_t v, uint8_t* p) {
  p[0] = static_cast<uint8_t>(v);
  p[1] = static_cast<uint8_t>(v >> 8);
}

void StoreU32(uint32_t v, uint8_t* p) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}

float LoadHalf(const uint8_t* p) { return Fp16ToF32(LoadU16(p)); }

// ggml truncates with a plain (int) cast, which is undefined for NaN or out-of-range values;
// clamping first gives the same result for every finite in-range value and stays defined.
int TruncClamped(float v, int lo, int hi) {
  if (!(v > static_cast<float>(lo))) return lo;  // NaN lands here too.
  if (v >= static_cast<float>(hi)) return hi;
  return static_cast<int>(v);
}

// ---- Dequantization: one block of 32 elements each. ----

void DequantizeQ4_0(const uint8_t* b, float* y) {
  const float d = LoadHalf(b);
  const uint8_t* qs = b + 2;
  for (int j = 0; j < kHalfBlock; ++j) {
    y[j] = static_cast<float>((qs[j] & 15) - 8) * d;
    y[j + kHalfBlock] = static_cast<float>((qs[j] >> 4) - 8) * d;
  }
}

void DequantizeQ4_1(const uint8_t* b, float* y) {
  const float d = LoadHalf(b);
  const float m = LoadHalf(b + 2);
  const uint8_t* qs = b + 4;
  for (int j = 0; j < kHalfBlock; ++j) {
    y[j] = static_cast<float>(qs[j] & 15) * d + m;
    y[j + kHalfBlock] = static_cast<float>(qs[j] >> 4) * d + m;
  }
}

// The 5-bit code of element j (0..31) of a Q5 block: low nibble from qs, 5th bit from qh.
int Q5Code(const uint8_t* qs, uint32_t qh, int j) {
  const int nibble = j < kHalfBlock ? (qs[j] & 15) : (qs[j - kHalfBlock] >> 4);
  return nibble | static_cast<int>(((qh >> j) & 1u) << 4);
}

void DequantizeQ5_0(const uint8_t* b, float* y) {
  const float d = LoadHalf(b);
  const uint32_t qh = LoadU32(b + 2);
  const uint8_t* qs = b + 6;
  for (int j = 0; j < kQuantBlockElements; ++j) {
    y[j] = static_cast<float>(Q5Code(qs, qh, j) - 16) * d;
  }
}

void DequantizeQ5_1(const uint8_t* b, float* y) {
  const float d = LoadHalf(b);
  const float m = LoadHalf(b + 2);
  const uint32_t qh = LoadU32(b + 4);
  const uint8_t* qs = b + 8;
  for (int j = 0; j < kQuantBlockElements; ++j) {
    y[j] = static_cast<float>(Q5Code(qs, qh, j)) * d + m;
  }
}

void DequantizeQ8_0(const uint8_t* b, float* y) {
  const float d = LoadHalf(b);
  for (int j = 0; j < kQuantBlockElements; ++j) {
    y[j] = static_cast<float>(static_cast<int8_t>(b[2 + j])) * d;
  }
}

// ---- Quantization (ggml's reference formulas): one block of 32 elements each. ----

// The element of largest magnitude, sign kept; the first one wins ties, as in ggml.
float SignedAbsMax(const float* x) {
  float amax = 0.0f, max = 0.0f;
  for (int j = 0; j < kQuantBlockElements; ++j) {
    if (amax < std::fabs(x[j])) {
      amax = std::fabs(x[j]);
      max = x[j];
    }
  }
  return max;
}

void MinMax(const float* x, float* min, float* max) {
  *min = std::numeric_limits<float>::max();
  *max = -std::numeric_limits<float>::max();
  for (int j = 0; j < kQuantBlockElements; ++j) {
    if (x[j] < *min) *min = x[j];
    if (x[j] > *max) *max = x[j];
  }
}

float Inverse(float d) { return d != 0.0f ? 1.0f / d : 0.0f; }

void QuantizeBlockQ4_0(const float* x, uint8_t* b) {
  const float d = SignedAbsMax(x) / -8.0f;
  const float id = Inverse(d);
  StoreU16(F32ToFp16(d), b);
  for (int j = 0; j < kHalfBlock; ++j) {
    const int q0 = TruncClamped(x[j] * id + 8.5f, 0, 15);
    const int q1 = TruncClamped(x[j + kHalfBlock] * id + 8.5f, 0, 15);
    b[2 + j] = static_cast<uint8_t>(q0 | (q1 << 4));
  }
}

void QuantizeBlockQ4_1(const float* x, uint8_t* b) {
  float min, max;
  MinMax(x, &min, &max);
  const float d = (max - min) / 15.0f;
  const float id = Inverse(d);
  StoreU16(F32ToFp16(d), b);
  StoreU16(F32ToFp16(min), b + 2);
  for (int j = 0; j < kHalfBlock; ++j) {
    const int q0 = TruncClamped((x[j] - min) * id + 0.5f, 0, 15);
    const int q1 = TruncClamped((x[j + kHalfBlock] - min) * id + 0.5f, 0, 15);
    b[4 + j] = static_cast<uint8_t>(q0 | (q1 << 4));
  }
}

// Packs 32 five-bit codes: low nibbles into qs (element j and j+16 share a byte), 5th bits
// into the little-endian u32 qh.
void PackQ5(const int* q, uint8_t* qh_out, uint8_t* qs) {
  uint32_t qh = 0;
  for (int j = 0; j < kHalfBlock; ++j) {
    qs[j] = static_cast<uint8_t>((q[j] & 15) | ((q[j + kHalfBlock] & 15) << 4));
  }
  for (int j = 0; j < kQuantBlockElements; ++j) qh |= static_cast<uint32_t>((q[j] >> 4) & 1) << j;
  StoreU32(qh, qh_out);
}

void QuantizeBlockQ5_0(const float* x, uint8_t* b) {
  const float d = SignedAbsMax(x) / -16.0f;
  const float id = Inverse(d);
  int q[kQuantBlockElements];
  for (int j = 0; j < kQuantBlockElements; ++j) q[j] = TruncClamped(x[j] * id + 16.5f, 0, 31);
  StoreU16(F32ToFp16(d), b);
  PackQ5(q, b + 2, b + 6);
}

void QuantizeBlockQ5_1(const float* x, uint8_t* b) {
  float min, max;
  MinMax(x, &min, &max);
  const float d = (max - min) / 31.0f;
  const float id = Inverse(d);
  int q[kQuantBlockElements];
  for (int j = 0; j < kQuantBlockElements; ++j) {
    q[j] = TruncClamped((x[j] - min) * id + 0.5f, 0, 31);
  }
  StoreU16(F32ToFp16(d), b);
  StoreU16(F32ToFp16(min), b + 2);
  PackQ5(q, b + 4, b + 8);
}

void QuantizeBlockQ8_0(const float* x, uint8_t* b) {
  float amax = 0.0f;
  for (int j = 0; j < kQuantBlockElements; ++j) amax = std::max(amax, std::fabs(x[j]));
  const float d = amax / 127.0f;
  const float id = Inverse(d);
  StoreU16(F32ToFp16(d), b);
  for (int j = 0; j < kQuantBlockElements; ++j) {
    // roundf rounds halves away from zero, as ggml does.
    const int q = TruncClamped(std::round(x[j] * id) + 128.0f, 1, 255) - 128;
    b[2 + j] = static_cast<uint8_t>(static_cast<int8_t>(q));
  }
}

using BlockQuantizer = void (*)(const float*, uint8_t*);
using BlockDequantizer = void (*)(const uint8_t*, float*);

// Only for the block formats.
BlockDequantizer DequantizerFor(GgmlType type) {
  switch (type) {
    case GgmlType::kQ4_0:
      return DequantizeQ4_0;
    case GgmlType::kQ4_1:
      return DequantizeQ4_1;
    case GgmlType::kQ5_0:
      return DequantizeQ5_0;
    case GgmlType::kQ5_1:
      return DequantizeQ5_1;
    case GgmlType::kQ4_K:
      return DequantizeBlockQ4_K;
    case GgmlType::kQ5_K:
      return DequantizeBlockQ5_K;
    case GgmlType::kQ6_K:
      return DequantizeBlockQ6_K;
    default:
      return DequantizeQ8_0;
  }
}

absl::Status QuantizeBlocks(GgmlType type, BlockQuantizer quantize, absl::Span<const float> in,
                            absl::Span<uint8_t> out) {
  RWKV_ASSIGN_OR_RETURN(const int64_t bytes, StoredBytes(type, static_cast<int64_t>(in.size())));
  if (static_cast<int64_t>(out.size()) != bytes) {
    return absl::InvalidArgumentError(absl::StrCat("Quantize", TypeName(type), ": ", in.size(),
                                                   " elements need ", bytes, " output bytes, got ",
                                                   out.size()));
  }
  const size_t block_bytes = BlockBytes(type);
  for (size_t i = 0; i < in.size() / kQuantBlockElements; ++i) {
    quantize(in.data() + i * kQuantBlockElements, out.data() + i * block_bytes);
  }
  return absl::OkStatus();
}

}  // namespace

float Fp16ToF32(uint16_t half) {
  const uint32_t sign = static_cast<uint32_t>(half & 0x8000u) << 16;
  const uint32_t exponent = (half >> 10) & 0x1fu;
  const uint32_t mantissa = half & 0x3ffu;
  if (exponent == 0) {
    // Zero or subnormal: mantissa * 2^-24, exact in float.
    const float magnitude = static_cast<float>(mantissa) * 0x1p-24f;
    return sign != 0 ? -magnitude : magnitude;
  }
  uint32_t bits;
  if (exponent == 0x1f) {
    bits = sign | 0x7f800000u | (mantissa << 13);  // Infinity or NaN, payload kept.
  } else {
    bits = sign | ((exponent + (127 - 15)) << 23) | (mantissa << 13);
  }
  return std::bit_cast<float>(bits);
}

uint16_t F32ToFp16(float value) {
  const uint32_t bits = std::bit_cast<uint32_t>(value);
  const uint16_t sign = static_cast<uint16_t>((bits >> 16) & 0x8000u);
  const uint32_t abs = bits & 0x7fffffffu;
  if (abs > 0x7f800000u) {  // NaN: keep the payload's top bits, make sure it stays a NaN.
    const uint32_t payload = (abs >> 13) & 0x3ffu;
    return static_cast<uint16_t>(sign | 0x7c00u | (payload != 0 ? payload : 0x200u));
  }
  // 65520 is halfway between the largest half (65504) and 65536; ties to even go up, to infinity.
  if (abs >= 0x477ff000u) return static_cast<uint16_t>(sign | 0x7c00u);
  uint32_t result, remainder, half_ulp;
  if (abs >= 0x38800000u) {  // Normal half (>= 2^-14): rebias the exponent, drop 13 bits.
    result = (abs - ((127u - 15u) << 23)) >> 13;
    remainder = abs & 0x1fffu;
    half_ulp = 0x1000u;
  } else {
    // Subnormal half: the value in units of 2^-24 is mantissa * 2^(exponent - 126).
    const uint32_t exponent = abs >> 23;
    if (exponent < 102) return sign;  // Below 2^-25: rounds to zero.
    const uint32_t mantissa = (abs & 0x7fffffu) | 0x800000u;
    const uint32_t shift = 126 - exponent;  // 14..24
    result = mantissa >> shift;
    remainder = mantissa & ((1u << shift) - 1);
    half_ulp = 1u << (shift - 1);
  }
  // A carry out of the mantissa correctly bumps the exponent (or a subnormal to the smallest
  // normal).
  if (remainder > half_ulp || (remainder == half_ulp && (result & 1u) != 0)) ++result;
  return static_cast<uint16_t>(sign | result);
}

absl::StatusOr<GgmlType> GgmlTypeFromCode(int32_t code) {
  switch (code) {
    case 0:
    case 1:
    case 2:
    case 3:
    case 7:
    case 8:
    case 9:
      return static_cast<GgmlType>(code);
    case 4:
    case 5:
    case 6: {
      static constexpr const char* kRemoved[] = {"Q4_1_O", "Q4_2", "Q4_3"};
      return absl::InvalidArgumentError(
          absl::StrCat("data type code ", code, " (", kRemoved[code - 4],
                       ") is a removed format; reconvert the model from its original weights"));
    }
    case 10:
    case 11:
    case 12:
    case 13:
    case 14:
    case 15:
    case 16: {
      static constexpr const char* kUnsupported[] = {"Q8_1", "Q2_K", "Q3_K", "Q4_K",
                                                     "Q5_K", "Q6_K", "Q8_K"};
      return absl::InvalidArgumentError(absl::StrCat(
          "data type code ", code, " (", kUnsupported[code - 10], ") is not supported"));
    }
    default:
      return absl::InvalidArgumentError(absl::StrCat("unknown data type code ", code));
  }
}

float Bf16ToF32(uint16_t bf16) { return std::bit_cast<float>(static_cast<uint32_t>(bf16) << 16); }

uint16_t F32ToBf16(float value) {
  const uint32_t bits = std::bit_cast<uint32_t>(value);
  if ((bits & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((bits >> 16) | 0x40u);
  // Adding 0x7fff plus the lowest kept bit rounds to nearest, ties to even; a carry into the
  // exponent is the correct rounding (up to infinity past the largest finite bf16).
  return static_cast<uint16_t>((bits + 0x7fffu + ((bits >> 16) & 1u)) >> 16);
}

absl::StatusOr<GgmlType> GgufTypeFromCode(uint32_t code) {
  switch (code) {
    case 0:
      return GgmlType::kF32;
    case 1:
      return GgmlType::kF16;
    case 2:
      return GgmlType::kQ4_0;
    case 3:
      return GgmlType::kQ4_1;
    case 6:  // rwkv.cpp's older ggml numbered Q5_0, Q5_1 and Q8_0 one higher.
      return GgmlType::kQ5_0;
    case 7:
      return GgmlType::kQ5_1;
    case 8:
      return GgmlType::kQ8_0;
    case 12:
      return GgmlType::kQ4_K;
    case 13:
      return GgmlType::kQ5_K;
    case 14:
      return GgmlType::kQ6_K;
    case 30:
      return GgmlType::kBF16;
  }
  static constexpr const char* kNames[] = {
      "F32",   "F16",        "Q4_0",       "Q4_1",       "Q4_2",     "Q4_3",     "Q5_0",
      "Q5_1",  "Q8_0",       "Q8_1",       "Q2_K",       "Q3_K",     "Q4_K",     "Q5_K",
      "Q6_K",  "Q8_K",       "IQ2_XXS",    "IQ2_XS",     "IQ3_XXS",  "IQ1_S",    "IQ4_NL",
      "IQ3_S", "IQ2_S",      "IQ4_XS",     "I8",         "I16",      "I32",      "I64",
      "F64",   "IQ1_M",      "BF16",       "Q4_0_4_4",   "Q4_0_4_8", "Q4_0_8_8", "TQ1_0",
      "TQ2_0", "IQ4_NL_4_4", "IQ4_NL_4_8", "IQ4_NL_8_8", "MXFP4"};
  if (code < std::size(kNames)) {
    return absl::InvalidArgumentError(
        absl::StrCat("tensor type ", code, " (", kNames[code], ") is not supported"));
  }
  return absl::InvalidArgumentError(absl::StrCat("unknown tensor type code ", code));
}

bool IsBlockQuantized(GgmlType type) {
  return type != GgmlType::kF32 && type != GgmlType::kF16 && type != GgmlType::kBF16;
}

bool IsKQuant(GgmlType type) {
  return type == GgmlType::kQ4_K || type == GgmlType::kQ5_K || type == GgmlType::kQ6_K;
}

int BlockElements(GgmlType type) {
  if (IsKQuant(type)) return kKQuantBlockElements;
  return IsBlockQuantized(type) ? kQuantBlockElements : 1;
}

int BlockBytes(GgmlType type) {
  switch (type) {
    case GgmlType::kF32:
      return 4;
    case GgmlType::kF16:
    case GgmlType::kBF16:
      return 2;
    case GgmlType::kQ4_0:
      return 18;
    case GgmlType::kQ4_1:
      return 20;
    case GgmlType::kQ5_0:
      return 22;
    case GgmlType::kQ5_1:
      return 24;
    case GgmlType::kQ8_0:
      return 34;
    case GgmlType::kQ4_K:
      return 144;
    case GgmlType::kQ5_K:
      return 176;
    case GgmlType::kQ6_K:
      return 210;
  }
  return 0;  // Not a GgmlType value; StoredBytes reports it.
}

absl::StatusOr<int64_t> StoredBytes(GgmlType type, int64_t num_elements) {
  const int block_bytes = BlockBytes(type);
  if (block_bytes == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown data type code ", static_cast<int32_t>(type)));
  }
  const int block_elements = BlockElements(type);
  if (num_elements < 0 || num_elements % block_elements != 0) {
    return absl::InvalidArgumentError(absl::StrCat(num_elements, " elements of ", TypeName(type),
                                                   " (must be a multiple of ", block_elements,
                                                   ")"));
  }
  int64_t bytes;
  if (__builtin_mul_overflow(num_elements / block_elements, int64_t{block_bytes}, &bytes)) {
    return absl::InvalidArgumentError(
        absl::StrCat(num_elements, " elements of ", TypeName(type), " overflow int64 bytes"));
  }
  return bytes;
}

absl::Status DequantizeRow(GgmlType type, const uint8_t* data, size_t data_bytes,
                           absl::Span<float> out) {
  RWKV_ASSIGN_OR_RETURN(const int64_t expected,
                        StoredBytes(type, static_cast<int64_t>(out.size())));
  if (static_cast<uint64_t>(expected) != data_bytes) {
    return absl::InvalidArgumentError(absl::StrCat(out.size(), " elements of ", TypeName(type),
                                                   " take ", expected, " bytes, got ", data_bytes));
  }
  float* y = out.data();
  const size_t n = out.size();
  if (type == GgmlType::kF32) {
    if constexpr (std::endian::native == std::endian::little) {
      if (n > 0) std::memcpy(y, data, n * sizeof(float));
    } else {
      for (size_t i = 0; i < n; ++i) y[i] = std::bit_cast<float>(LoadU32(data + 4 * i));
    }
    return absl::OkStatus();
  }
  if (type == GgmlType::kF16) {
    for (size_t i = 0; i < n; ++i) y[i] = LoadHalf(data + 2 * i);
    return absl::OkStatus();
  }
  if (type == GgmlType::kBF16) {
    for (size_t i = 0; i < n; ++i) y[i] = Bf16ToF32(LoadU16(data + 2 * i));
    return absl::OkStatus();
  }
  const BlockDequantizer dequantize = DequantizerFor(type);
  const size_t block_bytes = BlockBytes(type);
  const size_t block_elements = BlockElements(type);
  for (size_t i = 0; i < n / block_elements; ++i) {
    dequantize(data + i * block_bytes, y + i * block_elements);
  }
  return absl::OkStatus();
}

absl::Status QuantizeQ4_0(absl::Span<const float> in, absl::Span<uint8_t> out) {
  return QuantizeBlocks(GgmlType::kQ4_0, QuantizeBlockQ4_0, in, out);
}
absl::Status QuantizeQ4_1(absl::Span<const float> in, absl::Span<uint8_t> out) {
  return QuantizeBlocks(GgmlType::kQ4_1, QuantizeBlockQ4_1, in, out);
}
absl::Status QuantizeQ5_0(absl::Span<const float> in, absl::Span<uint8_t> out) {
  return QuantizeBlocks(GgmlType::kQ5_0, QuantizeBlockQ5_0, in, out);
}
absl::Status QuantizeQ5_1(absl::Span<const float> in, absl::Span<uint8_t> out) {
  return QuantizeBlocks(GgmlType::kQ5_1, QuantizeBlockQ5_1, in, out);
}
absl::Status QuantizeQ8_0(absl::Span<const float> in, absl::Span<uint8_t> out) {
  return QuantizeBlocks(GgmlType::kQ8_0, QuantizeBlockQ8_0, in, out);
}

absl::StatusOr<std::vector<uint8_t>> QuantizeRow(GgmlType type, absl::Span<const float> in) {
  RWKV_ASSIGN_OR_RETURN(const int64_t bytes, StoredBytes(type, static_cast<int64_t>(in.size())));
  std::vector<uint8_t> out(static_cast<size_t>(bytes));
  switch (type) {
    case GgmlType::kF32:
      for (size_t i = 0; i < in.size(); ++i) {
        StoreU32(std::bit_cast<uint32_t>(in[i]), out.data() + 4 * i);
      }
      return out;
    case GgmlType::kF16:
      for (size_t i = 0; i < in.size(); ++i) StoreU16(F32ToFp16(in[i]), out.data() + 2 * i);
      return out;
    case GgmlType::kBF16:
      for (size_t i = 0; i < in.size(); ++i) StoreU16(F32ToBf16(in[i]), out.data() + 2 * i);
      return out;
    case GgmlType::kQ4_K:
    case GgmlType::kQ5_K:
    case GgmlType::kQ6_K:
      return absl::UnimplementedError(
          absl::StrCat("no quantizer for ", TypeName(type), " (GGUF files bring them quantized)"));
    case GgmlType::kQ4_0:
      RWKV_RETURN_IF_ERROR(QuantizeQ4_0(in, absl::MakeSpan(out)));
      return out;
    case GgmlType::kQ4_1:
      RWKV_RETURN_IF_ERROR(QuantizeQ4_1(in, absl::MakeSpan(out)));
      return out;
    case GgmlType::kQ5_0:
      RWKV_RETURN_IF_ERROR(QuantizeQ5_0(in, absl::MakeSpan(out)));
      return out;
    case GgmlType::kQ5_1:
      RWKV_RETURN_IF_ERROR(QuantizeQ5_1(in, absl::MakeSpan(out)));
      return out;
    case GgmlType::kQ8_0:
      RWKV_RETURN_IF_ERROR(QuantizeQ8_0(in, absl::MakeSpan(out)));
      return out;
  }
  return absl::InvalidArgumentError("unknown data type");
}

}  // namespace rwkv::engine
