// The matrix form of RWKV-7's WKV (the generalized delta rule), per (sequence, head).
//
// Per token t of a chunk, with S_t the state after it (S[i][j]: i value, j key):
//   S_t = S_{t-1} (diag(w_t) + a_t b_t^T) + v_t k_t^T,   y_t = S_t r_t.
// With u_t = S_{t-1} a_t and E[t] = prod_{q<t} w_q (per key channel, E[0] = 1), unrolling from
// the chunk's first state S_0 gives
//   u_t = S_0 (E[t] a_t) + sum_{s<t}  [(b_s/E[s+1]).(E[t] a_t)] u_s + [(k_s/E[s+1]).(E[t] a_t)] v_s
//   y_t = S_0 (E[t+1] r_t) + sum_{s<=t} [(b_s/E[s+1]).(E[t+1] r_t)] u_s + [...k_s...] v_s
//   S_len = S_0 diag(E[len]) + sum_s u_s (b_s E[len]/E[s+1])^T + v_s (k_s E[len]/E[s+1])^T.
// So with Q = [a_t E[t]; r_t E[t+1]] (rows), K = [b_s / E[s+1]; k_s / E[s+1]] and
// Z = K scaled by E[len]: P = Q S_0^T and G = Q K^T are products, u is a triangular solve
// (u_t needs u_s for s < t), y = P + tril(G) [u; v] and S += Z^T [u; v] are products again.
// The decays are plain cumulative products of w, kept >= e^-60 (see Decays), so E and 1/E are
// normal floats and every product above is exact up to rounding: no logs, no exps.
//
// The state is kept transposed (ST[j][i] = S[i][j]) while a head's rows run, so every product
// reads rows of 16-float vectors and broadcasts single elements.
#include "engine/forward/wkv7_chunked.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "engine/compute/vector_math.h"

namespace rwkv::engine {
namespace {

// e^-60: the smallest cumulative decay a chunk keeps (its reciprocal, e^60, times an input of
// any sane size stays far from float's 3.4e38).
constexpr float kMinDecay = 8.7565e-27f;

typedef float V16 __attribute__((vector_size(64)));

// By pointer: a 64-byte vector passed by value would change the ABI of the non-AVX-512 clones.
__attribute__((always_inline)) inline void Load16(V16* v, const float* p) {
  std::memcpy(v, p, sizeof(V16));
}
__attribute__((always_inline)) inline void Store16(float* p, const V16* v) {
  std::memcpy(p, v, sizeof(V16));
}

// One butterfly stage of a 16 x 16 transpose: rows i and i + B (i & B == 0) swap their
// off-diagonal B x B blocks; after the stages for B = 8, 4, 2, 1 the block is transposed.
template <int B>
__attribute__((always_inline)) inline void SwapBlocks(V16 (&rows)[16]) {
#pragma GCC unroll 16
  for (int i = 0; i < 16; ++i) {
    if (i & B) continue;
    const V16 x = rows[i], y = rows[i + B];
    if constexpr (B == 8) {
      rows[i] =
          __builtin_shufflevector(x, y, 0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23);
      rows[i + B] = __builtin_shufflevector(x, y, 8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28,
                                            29, 30, 31);
    } else if constexpr (B == 4) {
      rows[i] =
          __builtin_shufflevector(x, y, 0, 1, 2, 3, 16, 17, 18, 19, 8, 9, 10, 11, 24, 25, 26, 27);
      rows[i + B] =
          __builtin_shufflevector(x, y, 4, 5, 6, 7, 20, 21, 22, 23, 12, 13, 14, 15, 28, 29, 30, 31);
    } else if constexpr (B == 2) {
      rows[i] =
          __builtin_shufflevector(x, y, 0, 1, 16, 17, 4, 5, 20, 21, 8, 9, 24, 25, 12, 13, 28, 29);
      rows[i + B] =
          __builtin_shufflevector(x, y, 2, 3, 18, 19, 6, 7, 22, 23, 10, 11, 26, 27, 14, 15, 30, 31);
    } else {
      rows[i] =
          __builtin_shufflevector(x, y, 0, 16, 2, 18, 4, 20, 6, 22, 8, 24, 10, 26, 12, 28, 14, 30);
      rows[i + B] =
          __builtin_shufflevector(x, y, 1, 17, 3, 19, 5, 21, 7, 23, 9, 25, 11, 27, 13, 29, 15, 31);
    }
  }
}

// to[c][r] = from[r][c] for a rows x cols block, both multiples of 16; rows `from_stride` and
// `to_stride` floats apart.
__attribute__((always_inline)) inline void Transpose(int64_t rows, int64_t cols, const float* from,
                                                     int64_t from_stride, float* to,
                                                     int64_t to_stride) {
  for (int64_t r0 = 0; r0 < rows; r0 += kLanes) {
    for (int64_t c0 = 0; c0 < cols; c0 += kLanes) {
      V16 block[16];
#pragma GCC unroll 16
      for (int i = 0; i < 16; ++i) Load16(&block[i], from + (r0 + i) * from_stride + c0);
      SwapBlocks<8>(block);
      SwapBlocks<4>(block);
      SwapBlocks<2>(block);
      SwapBlocks<1>(block);
#pragma GCC unroll 16
      for (int i = 0; i < 16; ++i) Store16(to + (c0 + i) * to_stride + r0, &block[i]);
    }
  }
}

// A matrix operand: element (m, d) at data[m * row + d * col].
struct Operand {
  const float* data;
  int64_t row, col;
};

// a [rows x depth] times b [depth x cols] (b row-major, rows ldb floats apart). `lower`: a is
// lower triangular (a[m][d] = 0 for d > m), so row m stops at depth m + 1.
struct Product {
  Operand a;
  const float* b;
  int64_t ldb, depth;
  bool lower = false;
};

// Where a product goes: c [rows x cols], rows ldc floats apart; kSet: c = sum of the products,
// else c += it; `scale` (if not null): then each row m of c times scale[m].
struct Target {
  float* c;
  int64_t ldc;
  const float* scale;
};

// Rows [m0, m0 + kR) and columns [col, col + 16 kV) of the target: kR x kV accumulators stay in
// registers while the products' depths stream through.
template <int kR, int kV, bool kSet, int kProducts>
__attribute__((always_inline)) inline void Tile(const Product (&products)[kProducts], int64_t m0,
                                                int64_t col, const Target& out) {
  float* __restrict c = out.c + m0 * out.ldc + col;
  V16 acc[kR][kV];
#pragma GCC unroll 8
  for (int m = 0; m < kR; ++m) {
#pragma GCC unroll 4
    for (int q = 0; q < kV; ++q) {
      if constexpr (kSet) {
        acc[m][q] = V16{};
      } else {
        Load16(&acc[m][q], c + m * out.ldc + q * kLanes);
      }
    }
  }
#pragma GCC unroll 2
  for (int i = 0; i < kProducts; ++i) {
    const Product& p = products[i];
    const float* __restrict a = p.a.data + m0 * p.a.row;
    const float* __restrict b = p.b + col;
    const int64_t depth = p.lower ? std::min(p.depth, m0 + kR) : p.depth;
    for (int64_t d = 0; d < depth; ++d) {
      V16 bv[kV];
#pragma GCC unroll 4
      for (int q = 0; q < kV; ++q) Load16(&bv[q], b + d * p.ldb + q * kLanes);
#pragma GCC unroll 8
      for (int m = 0; m < kR; ++m) {
        const float x = a[m * p.a.row + d * p.a.col];
#pragma GCC unroll 4
        for (int q = 0; q < kV; ++q) acc[m][q] += x * bv[q];
      }
    }
  }
#pragma GCC unroll 8
  for (int m = 0; m < kR; ++m) {
#pragma GCC unroll 4
    for (int q = 0; q < kV; ++q) {
      if (out.scale != nullptr) acc[m][q] *= out.scale[m0 + m];
      Store16(c + m * out.ldc + q * kLanes, &acc[m][q]);
    }
  }
}

template <int kV, int kR, bool kSet, int kProducts>
__attribute__((always_inline)) inline void GemmColumns(int64_t rows, int64_t col,
                                                       const Product (&products)[kProducts],
                                                       const Target& out) {
  int64_t m = 0;
  for (; m + kR <= rows; m += kR) Tile<kR, kV, kSet>(products, m, col, out);
  for (; m < rows; ++m) Tile<1, kV, kSet>(products, m, col, out);
}

// out (=|+=) the sum of `products`, all `rows` x `cols`; cols is a multiple of 16.
template <bool kSet, int kProducts>
__attribute__((always_inline)) inline void Gemm(int64_t rows, int64_t cols,
                                                const Product (&products)[kProducts],
                                                const Target& out) {
  int64_t col = 0;
  for (; col + 4 * kLanes <= cols; col += 4 * kLanes) {
    GemmColumns<4, 4, kSet>(rows, col, products, out);
  }
  for (; col + 2 * kLanes <= cols; col += 2 * kLanes) {
    GemmColumns<2, 8, kSet>(rows, col, products, out);
  }
  for (; col < cols; col += kLanes) GemmColumns<1, 8, kSet>(rows, col, products, out);
}

// One (sequence, head): row pointers at the head's first channel, rows `stride` floats apart.
struct HeadRows {
  const float *r, *w, *k, *v, *a, *b;
  float* y;
  int64_t stride;

  HeadRows At(int64_t t) const {
    const int64_t o = t * stride;
    return {r + o, w + o, k + o, v + o, a + o, b + o, y + o, stride};
  }
};

// Asks for rows [0, count) of every input (and y) ahead of use: a head's rows are `stride`
// floats apart, too far for the hardware prefetchers to follow.
__attribute__((always_inline)) inline void Prefetch(const HeadRows& in, int64_t n, int64_t count) {
  for (int64_t t = 0; t < count; ++t) {
    const HeadRows row = in.At(t);
    for (int64_t j = 0; j < n; j += kLanes) {
      for (const float* p : {row.r, row.w, row.k, row.v, row.a, row.b}) __builtin_prefetch(p + j);
      __builtin_prefetch(row.y + j, 1);
    }
  }
}

// Per-thread buffers for one head of size n and chunks up to L = `chunk` rows:
//   st  N x N   the transposed state
//   e   (L+1) x N  E[t];  ie: 1 / E[t]
//   q   2L x N  rows [0, len) a_t E[t], rows [len, 2 len) r_t E[t+1]
//   kr  2L x N  rows [0, len) b_s / E[s+1], rows [L, L + len) k_s / E[s+1];  kt: kr^T (N x 2L)
//   g   2L x 2L G = Q K^T
//   u   L x N   u_t
// Grown once, then reused: prefill allocates nothing in steady state.
struct Scratch {
  std::vector<float> data;
  float *st, *e, *ie, *q, *kr, *kt, *g, *u;

  void Reserve(int64_t n, int64_t chunk) {
    const int64_t l2 = 2 * chunk;
    const int64_t sizes[] = {n * n,  (chunk + 1) * n, (chunk + 1) * n, l2 * n,
                             l2 * n, n * l2,          l2 * l2,         chunk * n};
    int64_t total = 0;
    for (int64_t size : sizes) total += size;
    if (static_cast<int64_t>(data.size()) < total) data.assign(total, 0.0f);
    float* next = data.data();
    float** slots[] = {&st, &e, &ie, &q, &kr, &kt, &g, &u};
    for (int i = 0; i < 8; ++i) {
      *slots[i] = next;
      next += sizes[i];
    }
  }
};

// E[t] = prod_{q<t} w_q and its reciprocal for t <= the returned length `len` (E[0] = 1): the
// most rows, up to `limit`, whose whole-chunk decay stays >= kMinDecay in every channel; 0 when
// the first row alone falls below it.
RWKV_VECTOR_CLONES
int64_t Decays(const HeadRows& in, int64_t n, int64_t limit, float* __restrict e,
               float* __restrict ie) {
  for (int64_t j = 0; j < n; ++j) e[j] = ie[j] = 1.0f;
  // One running minimum per lane; rows are looked at one by one only when it falls too low.
  float lows[kLanes];
  for (float& low : lows) low = 1.0f;
  for (int64_t t = 0; t < limit; ++t) {
    const float* __restrict w = in.w + t * in.stride;
    const float* __restrict before = e + t * n;
    float* __restrict after = e + (t + 1) * n;
    float* __restrict inv = ie + (t + 1) * n;
    for (int64_t j0 = 0; j0 < n; j0 += kLanes) {
#pragma omp simd
      for (int l = 0; l < kLanes; ++l) {
        const int64_t j = j0 + l;
        after[j] = before[j] * w[j];
        inv[j] = 1.0f / after[j];
        lows[l] = std::min(lows[l], after[j]);
      }
    }
  }
  float low = 1.0f;
  for (float x : lows) low = std::min(low, x);
  if (low >= kMinDecay) return limit;
  for (int64_t t = 1; t <= limit; ++t) {
    for (int64_t j = 0; j < n; ++j) {
      if (e[t * n + j] < kMinDecay) return t - 1;
    }
  }
  return limit;
}

// One token the sequential way, on the transposed state (a decay below e^-60 in one step).
RWKV_VECTOR_CLONES
void Step(const HeadRows& in, int64_t n, float* __restrict st, float* __restrict sa) {
  for (int64_t i = 0; i < n; ++i) sa[i] = 0.0f;
  for (int64_t j = 0; j < n; ++j) {
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) sa[i] += st[j * n + i] * in.a[j];
  }
  float* __restrict y = in.y;
  for (int64_t i = 0; i < n; ++i) y[i] = 0.0f;
  for (int64_t j = 0; j < n; ++j) {
    float* __restrict row = st + j * n;
    const float wj = in.w[j], bj = in.b[j], kj = in.k[j], rj = in.r[j];
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) {
      row[i] = row[i] * wj + sa[i] * bj + in.v[i] * kj;
      y[i] += row[i] * rj;
    }
  }
}

// Fills q, kr and kt (see Scratch) for a chunk of `len` rows, asking for the next chunk's rows
// (up to `ahead` of them) on the way.
__attribute__((always_inline)) inline void Operands(const HeadRows& in, int64_t n, int64_t chunk,
                                                    int64_t len, int64_t ahead, Scratch& s) {
  for (int64_t t = 0; t < len; ++t) {
    if (t < ahead) Prefetch(in.At(len + t), n, 1);
    const HeadRows row = in.At(t);
    const float* __restrict before = s.e + t * n;
    const float* __restrict after = before + n;
    const float* __restrict inv = s.ie + (t + 1) * n;
    float* __restrict qa = s.q + t * n;
    float* __restrict qr = s.q + (len + t) * n;
    float* __restrict kb = s.kr + t * n;
    float* __restrict kk = s.kr + (chunk + t) * n;
#pragma omp simd
    for (int64_t j = 0; j < n; ++j) {
      qa[j] = row.a[j] * before[j];
      qr[j] = row.r[j] * after[j];
      kb[j] = row.b[j] * inv[j];
      kk[j] = row.k[j] * inv[j];
    }
  }
  // Whole 16-row blocks: the columns past len are never read back.
  const int64_t l2 = 2 * chunk;
  const int64_t rows = (len + kLanes - 1) / kLanes * kLanes;
  Transpose(rows, n, s.kr, n, s.kt, l2);
  Transpose(rows, n, s.kr + chunk * n, n, s.kt + chunk, l2);
}

// u_t += sum_{s<t} G[t][s] u_s, row by row (u_t needs every earlier u_s). Two partial sums
// per element halve the chain of dependent multiply-adds.
__attribute__((always_inline)) inline void SolveU(int64_t n, int64_t chunk, int64_t len,
                                                  Scratch& s) {
  const int64_t l2 = 2 * chunk;
  for (int64_t t = 1; t < len; ++t) {
    const float* __restrict gt = s.g + t * l2;
    for (int64_t i0 = 0; i0 < n; i0 += kLanes) {
      V16 even = {}, odd = {};
      int64_t src = 0;
      for (; src + 1 < t; src += 2) {
        V16 u0, u1;
        Load16(&u0, s.u + src * n + i0);
        Load16(&u1, s.u + (src + 1) * n + i0);
        even += gt[src] * u0;
        odd += gt[src + 1] * u1;
      }
      if (src < t) {
        V16 u0;
        Load16(&u0, s.u + src * n + i0);
        even += gt[src] * u0;
      }
      V16 u;
      Load16(&u, s.u + t * n + i0);
      u += even + odd;
      Store16(s.u + t * n + i0, &u);
    }
  }
}

// One chunk of `len` (1..chunk) rows: y for each and the transposed state carried past them.
RWKV_VECTOR_CLONES
void Chunk(const HeadRows& in, int64_t n, int64_t chunk, int64_t len, int64_t ahead, Scratch& s) {
  const int64_t l2 = 2 * chunk;
  const int64_t stride = in.stride;
  Operands(in, n, chunk, len, ahead, s);
  const Operand qa{s.q, n, 1}, qr{s.q + len * n, n, 1};
  Gemm<true>(len, n, {{qa, s.st, n, n}}, {s.u, n, nullptr});         // u_t = S_0 (E[t] a_t) + ...
  Gemm<true>(len, n, {{qr, s.st, n, n}}, {in.y, stride, nullptr});   // y_t = S_0 (E[t+1] r_t) + ...
  Gemm<true>(2 * len, l2, {{qa, s.kt, l2, n}}, {s.g, l2, nullptr});  // G = Q K^T
  // u_t += sum_{s<t} G[t][L+s] v_s (a product over G's masked a-rows), then the solve.
  for (int64_t t = 0; t < len; ++t) std::fill_n(s.g + t * l2 + chunk + t, len - t, 0.0f);
  Gemm<false>(len, n, {{{s.g + chunk, l2, 1}, in.v, stride, len, true}}, {s.u, n, nullptr});
  SolveU(n, chunk, len, s);
  // y_t only sees s <= t: clear the rest of G's receptance rows, then y += G [u; v].
  float* gr = s.g + len * l2;
  for (int64_t t = 0; t < len; ++t) {
    std::fill_n(gr + t * l2 + t + 1, len - t - 1, 0.0f);
    std::fill_n(gr + t * l2 + chunk + t + 1, len - t - 1, 0.0f);
  }
  Gemm<false>(len, n,
              {{{gr, l2, 1}, s.u, n, len, true}, {{gr + chunk, l2, 1}, in.v, stride, len, true}},
              {in.y, stride, nullptr});
  // S^T = E[len] (S_0^T + K^T [u; v]), K^T read down kr's columns.
  Gemm<false>(n, n, {{{s.kr, 1, n}, s.u, n, len}, {{s.kr + chunk * n, 1, n}, in.v, stride, len}},
              {s.st, n, s.e + len * n});
}

Scratch& ThreadScratch() {
  thread_local Scratch scratch;
  return scratch;
}

RWKV_VECTOR_CLONES
void Head(const HeadRows& in, int64_t n, int64_t count, int64_t chunk, float* state) {
  Scratch& scratch = ThreadScratch();
  scratch.Reserve(n, chunk);
  Transpose(n, n, state, n, scratch.st, n);
  for (int64_t t = 0; t < count;) {
    const HeadRows rows = in.At(t);
    const int64_t len = Decays(rows, n, std::min(chunk, count - t), scratch.e, scratch.ie);
    if (len == 0) {
      Step(rows, n, scratch.st, scratch.q);
      t += 1;
    } else {
      Chunk(rows, n, chunk, len, count - t - len, scratch);
      t += len;
    }
  }
  Transpose(n, n, scratch.st, n, state, n);
}

}  // namespace

void WkvV7Chunked(const PackedBatch& batch, const WkvShape& shape, int64_t chunk, const float* r,
                  const float* w, const float* k, const float* v, const float* a, const float* b,
                  float* y) {
  const int64_t n = shape.head_size;
  if (n <= 0 || n % kLanes != 0) {
    WkvV7(batch, shape, r, w, k, v, a, b, y);
    return;
  }
  chunk = std::clamp(chunk / kMinWkvChunk * kMinWkvChunk, kMinWkvChunk, kMaxWkvChunk);
  const int64_t width = shape.heads * n;
  ForEachHead(batch, shape.heads, [&](const SequenceRows& seq, int64_t h) {
    const int64_t first = seq.begin * width + h * n;
    float* state = seq.state + shape.state_offset + h * n * n;
    if (seq.count < chunk) {
      WkvV7HeadRows(n, seq.count, width, state, r + first, w + first, k + first, v + first,
                    a + first, b + first, y + first);
    } else {
      const HeadRows rows{r + first, w + first, k + first, v + first,
                          a + first, b + first, y + first, width};
      Head(rows, n, seq.count, chunk, state);
    }
  });
}

}  // namespace rwkv::engine
