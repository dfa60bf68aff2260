// The WKV recurrences of RWKV-4, RWKV-5/6 and RWKV-7 over packed rows.
//
// Rows are [rows, C] matrices with channel c = h*N + n. Each sequence walks its own rows in order
// and updates its state: per-channel numbers (v4) or per-head N x N matrices (v5-v7). Different
// sequences and heads (v4: blocks of channels) run in parallel, each vectorized across channels.
#ifndef RWKV_ENGINE_FORWARD_WKV_H_
#define RWKV_ENGINE_FORWARD_WKV_H_

#include <cstdint>

#include "engine/forward/batch.h"

namespace rwkv::engine {

// RWKV-4, per channel, reading the old state (aa, bb, pp: C floats each from `state_offset`):
//   q = max(pp, u + k);  y = r * (e^(pp-q) aa + e^(u+k-q) v) / (e^(pp-q) bb + e^(u+k-q));
//   q' = max(pp + w, k);  aa = e^(pp+w-q') aa + e^(k-q') v;  bb likewise with 1 for v;  pp = q'.
// `first` (u) and `decay` (w, negative) have C floats; r is the receptance after its sigmoid.
void WkvV4(const PackedBatch& batch, int64_t width, int64_t state_offset, const float* first,
           const float* decay, const float* r, const float* k, const float* v, float* y);

// Runs head(sequence, h) for every head of every sequence in `batch`, spread over the OpenMP
// threads: the unit of work of the v5-v7 recurrences (each owns one N x N block of one state).
template <typename Head>
void ForEachHead(const PackedBatch& batch, int64_t heads, const Head& head) {
  const int64_t tasks = static_cast<int64_t>(batch.sequences.size()) * heads;
#pragma omp parallel for schedule(static) if (tasks > 1)
  for (int64_t task = 0; task < tasks; ++task) head(batch.sequences[task / heads], task % heads);
}

struct WkvShape {
  int64_t heads;
  int64_t head_size;
  int64_t state_offset;  // floats from the start of a state to this layer's S block
};

// RWKV-5/6 (S[i][j]: i key, j value), reading the old state:
//   y[j] = sum_i r[i] (S[i][j] + u[i] k[i] v[j]);   S[i][j] = w[i] S[i][j] + k[i] v[j].
// `w` is [rows, C] when `w_per_row` (v6), else one vector of C (v5). `u` has C floats.
void WkvV5(const PackedBatch& batch, const WkvShape& shape, const float* r, const float* k,
           const float* v, const float* w, bool w_per_row, const float* u, float* y);

// RWKV-7 (S[i][j]: i value, j key), reading the new state:
//   S[i][j] = S[i][j] w[j] + (sum_l S[i][l] a[l]) b[j] + v[i] k[j];   y[i] = sum_j S[i][j] r[j].
// All inputs are [rows, C].
void WkvV7(const PackedBatch& batch, const WkvShape& shape, const float* r, const float* w,
           const float* k, const float* v, const float* a, const float* b, float* y);

// WkvV7's work for one sequence and one head of size n: `count` rows `stride` floats apart, every
// pointer at the head's first channel in the first row, `s` the head's N x N state.
void WkvV7HeadRows(int64_t n, int64_t count, int64_t stride, float* s, const float* r,
                   const float* w, const float* k, const float* v, const float* a, const float* b,
                   float* y);

}  // namespace rwkv::engine

#endif  // RWKV_ENGINE_FORWARD_WKV_H_
