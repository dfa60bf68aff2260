// Token shift and the two ways RWKV mixes the current token with the previous one.
#ifndef RWKV_ENGINE_FORWARD_TOKEN_SHIFT_H_
#define RWKV_ENGINE_FORWARD_TOKEN_SHIFT_H_

#include <cstdint>

#include "absl/types/span.h"
#include "engine/forward/batch.h"

namespace rwkv::engine {

// prev[r] = the same module's input at the previous token of r's sequence: for a sequence's first
// row that is the vector saved in its state at `state_offset`, otherwise x[r - 1]. Then stores
// each sequence's last row of x in its state, for the next step.
void TokenShift(const PackedBatch& batch, const float* x, int64_t width, int64_t state_offset,
                float* prev);

// One mix: its coefficient vector and where to write the mixed rows.
struct MixTarget {
  const float* coefficient;
  float* out;
  // MaaMix only, may be null: a per-row [rows, width] addition to the coefficient (v6's
  // data-dependent LoRA term).
  const float* extra = nullptr;
};

// The mixes below compute all their targets in one pass over the rows, so each row of `a` and
// `prev` is read from memory once however many mixes a module needs.

// v4/v5 "time_mix": out = a*mu + (p - p*mu), mu weighting the current token (rwkv.cpp's form).
void LerpMix(int64_t rows, int64_t width, const float* a, const float* prev,
             absl::Span<const MixTarget> targets);

// v6/v7 "maa": out = a + (p - a)*m, m weighting the previous token; m = coefficient + extra.
void MaaMix(int64_t rows, int64_t width, const float* a, const float* prev,
            absl::Span<const MixTarget> targets);

}  // namespace rwkv::engine

#endif  // RWKV_ENGINE_FORWARD_TOKEN_SHIFT_H_
