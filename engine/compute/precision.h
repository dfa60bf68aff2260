// The number formats the engine can keep its weights in.
//
// Activations and recurrent states are float32 in every mode; only the weight matrices (and the
// activations fed to them, converted on the fly) change format:
//   kF32   float32 weights, float32 matmuls (the reference path)
//   kBf16  bfloat16 weights and matmul inputs, float32 accumulation (AMX-BF16 / AVX512-BF16)
//   kInt8  int8 weights with a scale per output channel, activations quantized per row at run
//          time, int32 accumulation (AMX-INT8 / VNNI), float32 out
#ifndef RWKV_ENGINE_COMPUTE_PRECISION_H_
#define RWKV_ENGINE_COMPUTE_PRECISION_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace rwkv::engine {

enum class Precision { kF32, kBf16, kInt8 };

// "f32", "bf16", "int8".
absl::string_view PrecisionName(Precision precision);

// "f32" | "bf16" | "int8" | "auto" (= DefaultPrecision()); INVALID_ARGUMENT otherwise.
absl::StatusOr<Precision> ParsePrecision(absl::string_view name);

// bf16 when this CPU has native bf16 matrix instructions (AVX512-BF16 or AMX-BF16), else f32.
Precision DefaultPrecision();

// The instruction set oneDNN dispatches to on this CPU, e.g. "avx512_core_amx".
std::string CpuIsaName();

}  // namespace rwkv::engine

#endif  // RWKV_ENGINE_COMPUTE_PRECISION_H_
