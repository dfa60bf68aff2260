#include "engine/compute/epilogue.h"

namespace rwkv::engine {
namespace {

template <Epilogue kEpilogue>
RWKV_VECTOR_CLONES void Row(const float* sums, int64_t n, float* y) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) y[i] = EpilogueOf<kEpilogue>(sums[i], y[i]);
}

// Row by row, so every row takes the same code path (vector body and tail) whatever `rows` is.
template <Epilogue kEpilogue>
void Rows(const float* sums, int64_t rows, int64_t cols, float* y) {
#pragma omp parallel for schedule(static) if (rows > 1)
  for (int64_t r = 0; r < rows; ++r) Row<kEpilogue>(sums + r * cols, cols, y + r * cols);
}

}  // namespace

void ApplyEpilogue(const float* sums, int64_t rows, int64_t cols, Epilogue epilogue, float* y) {
  switch (epilogue) {
    case Epilogue::kNone:
      if (sums != y) Rows<Epilogue::kNone>(sums, rows, cols, y);
      return;
    case Epilogue::kAccumulate:
      return Rows<Epilogue::kAccumulate>(sums, rows, cols, y);
    case Epilogue::kSigmoid:
      return Rows<Epilogue::kSigmoid>(sums, rows, cols, y);
    case Epilogue::kTanh:
      return Rows<Epilogue::kTanh>(sums, rows, cols, y);
    case Epilogue::kReluSquare:
      return Rows<Epilogue::kReluSquare>(sums, rows, cols, y);
    case Epilogue::kSilu:
      return Rows<Epilogue::kSilu>(sums, rows, cols, y);
  }
}

}  // namespace rwkv::engine
