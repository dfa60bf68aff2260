#include "engine/forward/token_shift.h"

#include <cstring>

#include "engine/compute/vector_math.h"

namespace rwkv::engine {
namespace {

// Every target's mix of row r: a and p (one row each) stay in L1 across the targets.
RWKV_VECTOR_CLONES
void LerpRow(int64_t r, int64_t width, const float* a, const float* p, const MixTarget* targets,
             int64_t count) {
  for (int64_t t = 0; t < count; ++t) {
    const float* mu = targets[t].coefficient;
    float* o = targets[t].out + r * width;
#pragma omp simd
    for (int64_t c = 0; c < width; ++c) o[c] = a[c] * mu[c] + (p[c] - p[c] * mu[c]);
  }
}

RWKV_VECTOR_CLONES
void MaaRow(int64_t r, int64_t width, const float* a, const float* p, const MixTarget* targets,
            int64_t count) {
  for (int64_t t = 0; t < count; ++t) {
    const float* m = targets[t].coefficient;
    float* o = targets[t].out + r * width;
    if (targets[t].extra == nullptr) {
#pragma omp simd
      for (int64_t c = 0; c < width; ++c) o[c] = a[c] + (p[c] - a[c]) * m[c];
    } else {
      const float* e = targets[t].extra + r * width;
#pragma omp simd
      for (int64_t c = 0; c < width; ++c) o[c] = a[c] + (p[c] - a[c]) * (m[c] + e[c]);
    }
  }
}

}  // namespace

void TokenShift(const PackedBatch& batch, const float* x, int64_t width, int64_t state_offset,
                float* prev) {
  const size_t row_bytes = sizeof(float) * width;
  for (const SequenceRows& seq : batch.sequences) {
    float* saved = seq.state + state_offset;
    float* out = prev + seq.begin * width;
    std::memcpy(out, saved, row_bytes);
    if (seq.count > 1) {
      std::memcpy(out + width, x + seq.begin * width, row_bytes * (seq.count - 1));
    }
    std::memcpy(saved, x + (seq.begin + seq.count - 1) * width, row_bytes);
  }
}

void LerpMix(int64_t rows, int64_t width, const float* a, const float* prev,
             absl::Span<const MixTarget> targets) {
  const int64_t count = static_cast<int64_t>(targets.size());
#pragma omp parallel for schedule(static) if (rows > 1)
  for (int64_t r = 0; r < rows; ++r) {
    LerpRow(r, width, a + r * width, prev + r * width, targets.data(), count);
  }
}

void MaaMix(int64_t rows, int64_t width, const float* a, const float* prev,
            absl::Span<const MixTarget> targets) {
  const int64_t count = static_cast<int64_t>(targets.size());
#pragma omp parallel for schedule(static) if (rows > 1)
  for (int64_t r = 0; r < rows; ++r) {
    MaaRow(r, width, a + r * width, prev + r * width, targets.data(), count);
  }
}

}  // namespace rwkv::engine
