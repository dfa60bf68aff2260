// The number formats the engine can keep its weights in.
//
// Activations and recurrent states are float32 in every mode; only the weight matrices (and the
// activations fed to them, converted on the fly) change format:
//   kF32   float32 weights, float32 matmuls (the reference path)
//   kBf16  bfloat16 weights and matmul inputs, float32 accumulation (AMX-BF16 / AVX512-BF16)
//   kInt8  int8 weights with a scale per output channel and one per input channel (taken by the
//          activations), activations quantized per row at run time to 16 bits carried as two
//          int8 rows, exact int32 sums (AMX-INT8 / VNNI), float32 out; more accurate than
//          llama.cpp's Q8_0 (rel. L2 of the 0.1B's logits 9.9e-3 against Q8_0's 1.5e-2)
//   kInt8Fast  the same with 8-bit activations (one int8 row each): half the integer products,
//          1.3-1.6x the speed, about twice kInt8's error (1.9e-2 on the 0.1B)
//   kQ8_0  ggml's Q8_0 as stored: int8 weights with an fp16 scale per 32 inputs of each output,
//          so a Q8_0 GGUF or rwkv.cpp file runs on its own blocks, never requantized (other
//          sources are quantized to Q8_0 by ggml's formula); activations quantized per row to
//          16 bits, exact int32 sums per block, float32 sums over the blocks (q8_0_matmul.h)
#ifndef RWKV_ENGINE_COMPUTE_PRECISION_H_
#define RWKV_ENGINE_COMPUTE_PRECISION_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace rwkv::engine {

enum class Precision { kF32, kBf16, kInt8, kInt8Fast, kQ8_0 };

// Both int8 modes of per-output-channel scales (oneDNN's int8 products). Not kQ8_0, whose
// matrices take their own kernel.
inline bool IsInt8(Precision precision) {
  return precision == Precision::kInt8 || precision == Precision::kInt8Fast;
}

// "f32", "bf16", "int8", "int8-fast", "q8_0".
absl::string_view PrecisionName(Precision precision);

// "f32" | "bf16" | "int8" | "int8-fast" | "q8_0" | "auto" (= DefaultPrecision()); INVALID_ARGUMENT
// otherwise.
absl::StatusOr<Precision> ParsePrecision(absl::string_view name);

// True for "auto" and "": the programs then let the model choose (EngineOptions::auto_precision).
inline bool IsAutoPrecision(absl::string_view name) { return name == "auto" || name.empty(); }

// bf16 when this CPU has native bf16 matrix instructions (AVX512-BF16 or AMX-BF16), else f32.
Precision DefaultPrecision();

// The instruction set oneDNN dispatches to on this CPU, e.g. "avx512_core_amx".
std::string CpuIsaName();

}  // namespace rwkv::engine

#endif  // RWKV_ENGINE_COMPUTE_PRECISION_H_
