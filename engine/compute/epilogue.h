// Epilogues applied to float32 products after the matrix product, not fused into oneDNN's kernel:
// the bf16 product takes oneDNN's kernel for many rows and Bf16Gemv for a few, and one epilogue
// function after both keeps a row's numbers the same whichever path its batch takes.
#ifndef RWKV_ENGINE_COMPUTE_EPILOGUE_H_
#define RWKV_ENGINE_COMPUTE_EPILOGUE_H_

#include <cstdint>

#include "engine/compute/matmul.h"

namespace rwkv::engine {

// y = epilogue(sums) over [rows, cols]; for kAccumulate sums are added to y. `sums` may be y
// itself unless the epilogue accumulates. Each element's result depends only on its own inputs.
void ApplyEpilogue(const float* sums, int64_t rows, int64_t cols, Epilogue epilogue, float* y);

}  // namespace rwkv::engine

#endif  // RWKV_ENGINE_COMPUTE_EPILOGUE_H_
