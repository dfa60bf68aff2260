// Epilogues applied to float32 products after the matrix product, not fused into oneDNN's kernel:
// the bf16 product takes oneDNN's kernel for many rows and Bf16Gemv for a few, and one epilogue
// function after both keeps a row's numbers the same whichever path its batch takes.
#ifndef RWKV_ENGINE_COMPUTE_EPILOGUE_H_
#define RWKV_ENGINE_COMPUTE_EPILOGUE_H_

#include <cstdint>

#include "engine/compute/matmul.h"
#include "engine/compute/vector_math.h"

namespace rwkv::engine {

// One element: the epilogue of product v, `old` the output's previous value (kAccumulate).
template <Epilogue kEpilogue>
inline float EpilogueOf(float v, float old) {
  if constexpr (kEpilogue == Epilogue::kAccumulate) return old + v;
  if constexpr (kEpilogue == Epilogue::kSigmoid) return Sigmoid(v);
  if constexpr (kEpilogue == Epilogue::kTanh) return Tanh(v);
  if constexpr (kEpilogue == Epilogue::kReluSquare) return v > 0.0f ? v * v : 0.0f;
  if constexpr (kEpilogue == Epilogue::kSilu) return v * Sigmoid(v);
  return v;
}

// y = epilogue(sums) over [rows, cols]; for kAccumulate sums are added to y. `sums` may be y
// itself unless the epilogue accumulates. Each element's result depends only on its own inputs.
void ApplyEpilogue(const float* sums, int64_t rows, int64_t cols, Epilogue epilogue, float* y);

}  // namespace rwkv::engine

#endif  // RWKV_ENGINE_COMPUTE_EPILOGUE_H_
