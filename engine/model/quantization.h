// ggml's weight encodings: IEEE half floats, bfloat16, the 32-element block formats Q4_0, Q4_1,
// Q5_0, Q5_1 and Q8_0 that rwkv.cpp files store (file version 101 layouts; see §7.2 of
// docs/rwkv-architecture.md), and the 256-element K-quants Q4_K, Q5_K, Q6_K of GGUF files. Decoding is exact: every function here gives the same floats as
// ggml's reference dequantizers, on any machine.
//
//   RWKV_ASSIGN_OR_RETURN(int64_t bytes, StoredBytes(GgmlType::kQ5_0, row.size()));
//   RWKV_RETURN_IF_ERROR(DequantizeRow(GgmlType::kQ5_0, data, bytes, absl::MakeSpan(row)));
//
// The quantizers follow ggml's reference formulas bit for bit; they exist for tests and for
// writing small synthetic model files, not for speed.
#ifndef RWKV_ENGINE_MODEL_QUANTIZATION_H_
#define RWKV_ENGINE_MODEL_QUANTIZATION_H_

#include <cstddef>
#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "engine/model/tensor_source.h"

namespace rwkv::engine {

// Elements per quantization block of the 32-element block formats.
inline constexpr int kQuantBlockElements = 32;
// Elements per super-block of the K-quants (ggml's QK_K).
inline constexpr int kKQuantBlockElements = 256;

// IEEE binary16 bits to float, exactly (subnormals, infinities and NaN payloads included).
float Fp16ToF32(uint16_t half);

// bfloat16 bits to float, exactly: bfloat16 is the top half of a binary32.
float Bf16ToF32(uint16_t bf16);

// float to bfloat16 bits, rounding to nearest, ties to even; NaN stays a (quiet) NaN.
uint16_t F32ToBf16(float value);

// float to IEEE binary16 bits, rounding to nearest, ties to even; overflow gives infinity, NaN
// stays NaN with its sign and the top 10 bits of its payload.
uint16_t F32ToFp16(float value);

// Maps a type code read from a file to a supported type. INVALID_ARGUMENT naming the code for the
// removed formats (4, 5, 6), the K-quants and Q8_1 (10..16, not supported) and unknown codes.
absl::StatusOr<GgmlType> GgmlTypeFromCode(int32_t code);

// Maps a GGUF tensor type code (current ggml numbering: Q5_0 = 6, Q5_1 = 7, Q8_0 = 8, unlike
// rwkv.cpp's files) to a supported type. INVALID_ARGUMENT naming the type for every other code.
absl::StatusOr<GgmlType> GgufTypeFromCode(uint32_t code);

// True for the block formats (everything but F32, F16 and BF16), K-quants included.
bool IsBlockQuantized(GgmlType type);
// True for Q4_K, Q5_K and Q6_K.
bool IsKQuant(GgmlType type);

// Elements per block (1 for F32/F16/BF16, 32, or 256 for the K-quants) and bytes per block.
int BlockElements(GgmlType type);
int BlockBytes(GgmlType type);

// Bytes that `num_elements` elements of `type` occupy. INVALID_ARGUMENT for a negative count, a
// count that is not a multiple of BlockElements(type), or a size that overflows int64.
absl::StatusOr<int64_t> StoredBytes(GgmlType type, int64_t num_elements);

// Decodes `out.size()` elements stored as `type` in `data[0, data_bytes)` into `out`.
// INVALID_ARGUMENT when out.size() is not a multiple of BlockElements(type) or when data_bytes
// is not exactly StoredBytes(type, out.size()). `data` needs no alignment.
absl::Status DequantizeRow(GgmlType type, const uint8_t* data, size_t data_bytes,
                           absl::Span<float> out);

// ggml's reference quantizers. `in.size()` must be a multiple of 32 and `out.size()` exactly
// StoredBytes(type, in.size()); INVALID_ARGUMENT otherwise. Non-finite inputs give unspecified
// (but memory-safe) codes.
absl::Status QuantizeQ4_0(absl::Span<const float> in, absl::Span<uint8_t> out);
absl::Status QuantizeQ4_1(absl::Span<const float> in, absl::Span<uint8_t> out);
absl::Status QuantizeQ5_0(absl::Span<const float> in, absl::Span<uint8_t> out);
absl::Status QuantizeQ5_1(absl::Span<const float> in, absl::Span<uint8_t> out);
absl::Status QuantizeQ8_0(absl::Span<const float> in, absl::Span<uint8_t> out);

// Encodes `in` as `type` (F32, F16 and BF16 too), returning StoredBytes(type, in.size()) bytes.
// UNIMPLEMENTED for the K-quants.
absl::StatusOr<std::vector<uint8_t>> QuantizeRow(GgmlType type, absl::Span<const float> in);

}  // namespace rwkv::engine

#endif  // RWKV_ENGINE_MODEL_QUANTIZATION_H_
