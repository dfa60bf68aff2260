#include "engine/forward/token_shift.h"

#include <cstring>

namespace rwkv::engine {

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
             std::initializer_list<MixTarget> targets) {
  for (const MixTarget& t : targets) {
#pragma omp parallel for schedule(static) if (rows > 1)
    for (int64_t r = 0; r < rows; ++r) {
      const float* ar = a + r * width;
      const float* pr = prev + r * width;
      float* o = t.out + r * width;
      for (int64_t c = 0; c < width; ++c) {
        const float mu = t.coefficient[c];
        o[c] = ar[c] * mu + (pr[c] - pr[c] * mu);
      }
    }
  }
}

void MaaMix(int64_t rows, int64_t width, const float* a, const float* prev, const float* extra,
            MixTarget target) {
#pragma omp parallel for schedule(static) if (rows > 1)
  for (int64_t r = 0; r < rows; ++r) {
    const float* ar = a + r * width;
    const float* pr = prev + r * width;
    const float* er = extra != nullptr ? extra + r * width : nullptr;
    float* o = target.out + r * width;
    for (int64_t c = 0; c < width; ++c) {
      const float m = er != nullptr ? target.coefficient[c] + er[c] : target.coefficient[c];
      o[c] = ar[c] + (pr[c] - ar[c]) * m;
    }
  }
}

}  // namespace rwkv::engine
