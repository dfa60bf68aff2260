// RWKV-7's WKV recurrence in matrix ("chunked") form, for long prompt chunks.
//
// Same inputs, outputs and state as WkvV7 (wkv.h), but each sequence's rows are taken `chunk`
// tokens at a time: the state's effect on a chunk, the tokens' effects on each other inside it
// and the chunk's effect on the state become small matrix products, plus one L x L triangular
// solve for the delta rule's S a term. Most of the work then runs in register-blocked AVX-512
// loops instead of the per-token dot products of the sequential form.
//
//   WkvV7Chunked(batch, {heads, head_size, offset}, /*chunk=*/16, r, w, k, v, a, b, y);
//
// Measured (rwkv-wkv-bench, 12 heads of 64, one core of a shared 2-core AVX-512 VM): with
// chunks of 16 about 1.2x faster than WkvV7 from 64 to 512 tokens; 32 about even; 64 slower (the
// in-chunk work grows with the chunk, and WkvV7 already runs its multiply-adds at ~60% of this
// core's one 512-bit FMA port). Both do about 4 N^2 multiply-adds per token and head.
//
// The sums run in another order than WkvV7's, so results agree with it to float rounding
// (~1e-6 relative), not bit for bit, and they depend on where a sequence's rows start: a prompt
// fed in two calls gives slightly different numbers than fed in one. That is why the engine
// uses it only when asked (EngineOptions::prefill_wkv), never by default.
#ifndef RWKV_ENGINE_FORWARD_WKV7_CHUNKED_H_
#define RWKV_ENGINE_FORWARD_WKV7_CHUNKED_H_

#include <cstdint>

#include "engine/forward/batch.h"
#include "engine/forward/wkv.h"

namespace rwkv::engine {

// Chunk lengths the kernel takes: multiples of 16 in [kMinWkvChunk, kMaxWkvChunk]; others are
// rounded down into that set.
inline constexpr int64_t kMinWkvChunk = 16;
inline constexpr int64_t kMaxWkvChunk = 64;

// WkvV7 (wkv.h) over chunks of `chunk` rows. Sequences of fewer than `chunk` rows (decode
// steps) and head sizes that are not a multiple of 16 go to WkvV7's kernel unchanged. A chunk ends
// early where a channel's decay over it would fall below e^-60 (the reciprocals of the decays must
// stay finite); a single token decaying faster than that takes one sequential step.
void WkvV7Chunked(const PackedBatch& batch, const WkvShape& shape, int64_t chunk, const float* r,
                  const float* w, const float* k, const float* v, const float* a, const float* b,
                  float* y);

}  // namespace rwkv::engine

#endif  // RWKV_ENGINE_FORWARD_WKV7_CHUNKED_H_
