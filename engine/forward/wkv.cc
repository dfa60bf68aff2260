#include "engine/forward/wkv.h"

#include <algorithm>
#include <cstring>

#include "engine/compute/vector_math.h"

namespace rwkv::engine {
namespace {

// `channels` channels of `count` consecutive rows of width C; `aa` points at the block's first
// numerator in the state, its denominators and exponents follow at +C and +2C.
RWKV_VECTOR_CLONES
void WkvV4Block(int64_t channels, int64_t count, int64_t width, const float* __restrict first,
                const float* __restrict decay, const float* __restrict r, const float* __restrict k,
                const float* __restrict v, float* __restrict aa, float* __restrict y) {
  float* bb = aa + width;
  float* pp = bb + width;
  for (int64_t t = 0; t < count; ++t) {
    const int64_t row = t * width;
#pragma omp simd
    for (int64_t c = 0; c < channels; ++c) {
      const float kk = k[row + c];
      const float vv = v[row + c];
      float ww = first[c] + kk;
      float q = pp[c] < ww ? ww : pp[c];  // not std::max: its reference defeats omp simd
      float e1 = Exp(pp[c] - q);
      float e2 = Exp(ww - q);
      y[row + c] = r[row + c] * ((e1 * aa[c] + e2 * vv) / (e1 * bb[c] + e2));
      ww = pp[c] + decay[c];
      q = ww < kk ? kk : ww;
      e1 = Exp(ww - q);
      e2 = Exp(kk - q);
      aa[c] = e1 * aa[c] + e2 * vv;
      bb[c] = e1 * bb[c] + e2;
      pp[c] = q;
    }
  }
}

// One (sequence, head) task below: `count` rows `stride` floats apart; every row pointer points
// at the head's first channel in the sequence's first row, and `s` at the head's N x N state.
// The head size is a template argument for the real models' 64 (known trip counts let GCC
// unroll the lane loops: ~1.5x on WkvV7) and 0 for any other, read from `n`.
template <int64_t kN>
inline void WkvV5Rows(int64_t n, int64_t count, int64_t stride, float* __restrict s,
                      const float* __restrict r, const float* __restrict k,
                      const float* __restrict v, const float* __restrict w, int64_t w_stride,
                      const float* __restrict u, float* __restrict y) {
  if constexpr (kN > 0) n = kN;
  for (int64_t t = 0; t < count; ++t) {
    const int64_t row = t * stride;
    const float* vt = v + row;
    const float* wt = w + t * w_stride;
    float* yt = y + row;
    for (int64_t j = 0; j < n; ++j) yt[j] = 0.0f;
    for (int64_t i = 0; i < n; ++i) {
      const float ri = r[row + i];
      const float ki = k[row + i];
      const float ui = u[i];
      const float wi = wt[i];
      float* si = s + i * n;
#pragma omp simd
      for (int64_t j = 0; j < n; ++j) {
        const float kv = ki * vt[j];
        yt[j] += ri * (si[j] + ui * kv);
        si[j] = si[j] * wi + kv;
      }
    }
  }
}

RWKV_VECTOR_CLONES
void WkvV5Head(int64_t n, int64_t count, int64_t stride, float* __restrict s,
               const float* __restrict r, const float* __restrict k, const float* __restrict v,
               const float* __restrict w, int64_t w_stride, const float* __restrict u,
               float* __restrict y) {
  if (n == 64) {
    WkvV5Rows<64>(n, count, stride, s, r, k, v, w, w_stride, u, y);
  } else {
    WkvV5Rows<0>(n, count, stride, s, r, k, v, w, w_stride, u, y);
  }
}

// Each state row i takes two dot products over j (sa before its update, y after); their lanes
// keep every row's result independent of the vector width.
// (__restrict: without it GCC checks for overlap and spills the lanes on every block.)
template <int64_t kN>
inline void WkvV7Rows(int64_t n, int64_t count, int64_t stride, float* __restrict s,
                      const float* __restrict r, const float* __restrict w,
                      const float* __restrict k, const float* __restrict v,
                      const float* __restrict a, const float* __restrict b, float* __restrict y) {
  if constexpr (kN > 0) n = kN;
  for (int64_t t = 0; t < count; ++t) {
    const int64_t row = t * stride;
    const float* rt = r + row;
    const float* wt = w + row;
    const float* kt = k + row;
    const float* at = a + row;
    const float* bt = b + row;
    for (int64_t i = 0; i < n; ++i) {
      float* si = s + i * n;
      const float sa = LaneSum<float>(n, [&](int64_t j) { return si[j] * at[j]; });
      const float vi = v[row + i];
      y[row + i] = LaneSum<float>(n, [&](int64_t j) {
        si[j] = si[j] * wt[j] + sa * bt[j] + vi * kt[j];
        return si[j] * rt[j];
      });
    }
  }
}

// The 64-wide head of the real models, four state rows at a time. A row's two sums each wait
// on a chain of fused multiply-adds and a horizontal reduction; rows are independent, so
// interleaving them lets those latencies overlap (measured: 512 tokens x 12 heads in 6.9 ms
// against 7.5-9 one row at a time; eight rows spill registers and gain nothing). Each row's
// sums run in exactly the order of WkvV7Rows (same lanes, same pairwise reduction), so the
// numbers are the same.
typedef float V16 __attribute__((vector_size(64)));

// By pointer: a 64-byte vector passed by value would change the ABI of the non-AVX-512 clones.
__attribute__((always_inline)) inline void Load16(V16* v, const float* p) {
  std::memcpy(v, p, sizeof(V16));
}

__attribute__((always_inline)) inline float SumLanes16(const V16* v) {
  float lanes[kLanes];
  std::memcpy(lanes, v, sizeof(V16));
  return SumLanes(lanes);
}

template <int kTogether>
__attribute__((always_inline)) inline void WkvV7Rows64(
    int64_t count, int64_t stride, float* __restrict s, const float* __restrict r,
    const float* __restrict w, const float* __restrict k, const float* __restrict v,
    const float* __restrict a, const float* __restrict b, float* __restrict y) {
  constexpr int64_t kN = 64;
  constexpr int kBlocks = kN / kLanes;
  for (int64_t t = 0; t < count; ++t) {
    const int64_t row = t * stride;
    V16 at[kBlocks], bt[kBlocks], wt[kBlocks], kt[kBlocks], rt[kBlocks];
#pragma GCC unroll 4
    for (int q = 0; q < kBlocks; ++q) {
      Load16(&at[q], a + row + q * kLanes);
      Load16(&bt[q], b + row + q * kLanes);
      Load16(&wt[q], w + row + q * kLanes);
      Load16(&kt[q], k + row + q * kLanes);
      Load16(&rt[q], r + row + q * kLanes);
    }
    for (int64_t i = 0; i < kN; i += kTogether) {
      V16 st[kTogether][kBlocks];
      float sa[kTogether];
#pragma GCC unroll 4
      for (int u = 0; u < kTogether; ++u) {
        V16 lanes = {};
#pragma GCC unroll 4
        for (int q = 0; q < kBlocks; ++q) {
          Load16(&st[u][q], s + (i + u) * kN + q * kLanes);
          lanes += st[u][q] * at[q];
        }
        sa[u] = SumLanes16(&lanes);
      }
#pragma GCC unroll 4
      for (int u = 0; u < kTogether; ++u) {
        const float vi = v[row + i + u];
        V16 lanes = {};
#pragma GCC unroll 4
        for (int q = 0; q < kBlocks; ++q) {
          st[u][q] = st[u][q] * wt[q] + sa[u] * bt[q] + vi * kt[q];
          std::memcpy(s + (i + u) * kN + q * kLanes, &st[u][q], sizeof(V16));
          lanes += st[u][q] * rt[q];
        }
        y[row + i + u] = SumLanes16(&lanes);
      }
    }
  }
}

RWKV_VECTOR_CLONES
void WkvV7Head(int64_t n, int64_t count, int64_t stride, float* __restrict s,
               const float* __restrict r, const float* __restrict w, const float* __restrict k,
               const float* __restrict v, const float* __restrict a, const float* __restrict b,
               float* __restrict y) {
  if (n == 64) {
    WkvV7Rows64<4>(count, stride, s, r, w, k, v, a, b, y);
  } else {
    WkvV7Rows<0>(n, count, stride, s, r, w, k, v, a, b, y);
  }
}

}  // namespace

void WkvV7HeadRows(int64_t n, int64_t count, int64_t stride, float* s, const float* r,
                   const float* w, const float* k, const float* v, const float* a, const float* b,
                   float* y) {
  WkvV7Head(n, count, stride, s, r, w, k, v, a, b, y);
}

void WkvV4(const PackedBatch& batch, int64_t width, int64_t state_offset, const float* first,
           const float* decay, const float* r, const float* k, const float* v, float* y) {
  constexpr int64_t kBlock = 64;  // channels per task: a few vectors, many tasks
  const int64_t blocks = (width + kBlock - 1) / kBlock;
  const int64_t tasks = static_cast<int64_t>(batch.sequences.size()) * blocks;
#pragma omp parallel for schedule(static) if (tasks > 1)
  for (int64_t task = 0; task < tasks; ++task) {
    const SequenceRows& seq = batch.sequences[task / blocks];
    const int64_t c0 = (task % blocks) * kBlock;
    const int64_t first_row = seq.begin * width + c0;
    WkvV4Block(std::min(kBlock, width - c0), seq.count, width, first + c0, decay + c0,
               r + first_row, k + first_row, v + first_row, seq.state + state_offset + c0,
               y + first_row);
  }
}

void WkvV5(const PackedBatch& batch, const WkvShape& shape, const float* r, const float* k,
           const float* v, const float* w, bool w_per_row, const float* u, float* y) {
  const int64_t n = shape.head_size;
  const int64_t width = shape.heads * n;
  ForEachHead(batch, shape.heads, [&](const SequenceRows& seq, int64_t h) {
    float* s = seq.state + shape.state_offset + h * n * n;
    const int64_t first = seq.begin * width + h * n;
    const float* wh = w_per_row ? w + first : w + h * n;
    WkvV5Head(n, seq.count, width, s, r + first, k + first, v + first, wh, w_per_row ? width : 0,
              u + h * n, y + first);
  });
}

void WkvV7(const PackedBatch& batch, const WkvShape& shape, const float* r, const float* w,
           const float* k, const float* v, const float* a, const float* b, float* y) {
  const int64_t n = shape.head_size;
  const int64_t width = shape.heads * n;
  ForEachHead(batch, shape.heads, [&](const SequenceRows& seq, int64_t h) {
    float* s = seq.state + shape.state_offset + h * n * n;
    const int64_t first = seq.begin * width + h * n;
    WkvV7Head(n, seq.count, width, s, r + first, w + first, k + first, v + first, a + first,
              b + first, y + first);
  });
}

}  // namespace rwkv::engine
