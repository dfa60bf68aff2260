#include "engine/forward/wkv.h"

namespace rwkv::engine {

void WkvV5(const PackedBatch& batch, const WkvShape& shape, const float* r, const float* k,
           const float* v, const float* w, bool w_per_row, const float* u, float* y) {
  const int64_t n = shape.head_size;
  const int64_t width = shape.heads * n;
  const int64_t tasks = static_cast<int64_t>(batch.sequences.size()) * shape.heads;
#pragma omp parallel for schedule(static) if (tasks > 1)
  for (int64_t task = 0; task < tasks; ++task) {
    const SequenceRows& seq = batch.sequences[task / shape.heads];
    const int64_t h = task % shape.heads;
    float* s = seq.state + shape.state_offset + h * n * n;
    const float* uh = u + h * n;
    for (int64_t t = seq.begin; t < seq.begin + seq.count; ++t) {
      const int64_t base = t * width + h * n;
      const float* wh = (w_per_row ? w + t * width : w) + h * n;
      float* yt = y + base;
      for (int64_t j = 0; j < n; ++j) yt[j] = 0.0f;
      for (int64_t i = 0; i < n; ++i) {
        const float ri = r[base + i];
        const float ki = k[base + i];
        const float ui = uh[i];
        const float wi = wh[i];
        float* si = s + i * n;
        const float* vt = v + base;
        for (int64_t j = 0; j < n; ++j) {
          const float kv = ki * vt[j];
          yt[j] += ri * (si[j] + ui * kv);
          si[j] = si[j] * wi + kv;
        }
      }
    }
  }
}

void WkvV7(const PackedBatch& batch, const WkvShape& shape, const float* r, const float* w,
           const float* k, const float* v, const float* a, const float* b, float* y) {
  const int64_t n = shape.head_size;
  const int64_t width = shape.heads * n;
  const int64_t tasks = static_cast<int64_t>(batch.sequences.size()) * shape.heads;
#pragma omp parallel for schedule(static) if (tasks > 1)
  for (int64_t task = 0; task < tasks; ++task) {
    const SequenceRows& seq = batch.sequences[task / shape.heads];
    const int64_t h = task % shape.heads;
    float* s = seq.state + shape.state_offset + h * n * n;
    for (int64_t t = seq.begin; t < seq.begin + seq.count; ++t) {
      const int64_t base = t * width + h * n;
      const float* rt = r + base;
      const float* wt = w + base;
      const float* kt = k + base;
      const float* at = a + base;
      const float* bt = b + base;
      for (int64_t i = 0; i < n; ++i) {
        float* si = s + i * n;
        float sa = 0.0f;
        for (int64_t j = 0; j < n; ++j) sa += si[j] * at[j];
        const float vi = v[base + i];
        float out = 0.0f;
        for (int64_t j = 0; j < n; ++j) {
          si[j] = si[j] * wt[j] + sa * bt[j] + vi * kt[j];
          out += si[j] * rt[j];
        }
        y[base + i] = out;
      }
    }
  }
}

}  // namespace rwkv::engine
