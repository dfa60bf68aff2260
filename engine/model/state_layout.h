// The recurrent state of one session: one contiguous float32 buffer, laid out exactly as rwkv.cpp
// lays it out, so states compare directly with the reference and with rwkv.cpp's state files.
//
// Layers are stored one after another. Within layer l (C = n_embed, N = head size, H = heads):
//
//   v4:        [0, C) ffn_prev | [C, 2C) att_prev | [2C, 3C) aa | [3C, 4C) bb | [4C, 5C) pp
//   v5 - v7:   [0, C) ffn_prev | [C, 2C) att_prev | [2C, 2C + H*N*N) S
//
// ffn_prev / att_prev are the ln2 / ln1 outputs of the previous token (token shift). v4 keeps the
// WKV numerator, denominator and running maximum exponent (aa, bb, pp). v5-v7 keep one N x N
// matrix per head, element (h, i, j) at h*N*N + i*N + j, where for v5/v6 i is the key index and
// j the value index, and for v7 i is the value index and j the key index.
//
// The initial state is all zeros, except v4's pp = -1e30.
#ifndef RWKV_ENGINE_MODEL_STATE_LAYOUT_H_
#define RWKV_ENGINE_MODEL_STATE_LAYOUT_H_

#include <algorithm>
#include <cstdint>
#include <vector>

#include "absl/types/span.h"
#include "engine/model/model_config.h"

namespace rwkv::engine {

class StateLayout {
 public:
  explicit StateLayout(const ModelConfig& config)
      : version_(config.version),
        n_embed_(config.n_embed),
        n_layer_(config.n_layer),
        per_layer_(config.StateFloats() / config.n_layer) {}

  int64_t TotalFloats() const { return per_layer_ * n_layer_; }

  // Offsets, in floats, from the start of the state buffer.
  int64_t FfnShift(int layer) const { return layer * per_layer_; }
  int64_t AttShift(int layer) const { return layer * per_layer_ + n_embed_; }
  // v5-v7: the H*N*N matrix block. v4: aa; bb and pp follow at +C and +2C.
  int64_t Wkv(int layer) const { return layer * per_layer_ + 2 * int64_t{n_embed_}; }

  // Writes the initial state into `state` (TotalFloats() floats).
  void Initialize(absl::Span<float> state) const;
  std::vector<float> InitialState() const;

 private:
  ArchVersion version_;
  int64_t n_embed_;
  int64_t n_layer_;
  int64_t per_layer_;
};

inline void StateLayout::Initialize(absl::Span<float> state) const {
  std::fill(state.begin(), state.end(), 0.0f);
  if (version_ != ArchVersion::kV4) return;
  for (int64_t l = 0; l < n_layer_; ++l) {
    float* pp = state.data() + Wkv(l) + 2 * n_embed_;
    std::fill(pp, pp + n_embed_, -1e30f);
  }
}

inline std::vector<float> StateLayout::InitialState() const {
  std::vector<float> state(TotalFloats());
  Initialize(absl::MakeSpan(state));
  return state;
}

}  // namespace rwkv::engine

#endif  // RWKV_ENGINE_MODEL_STATE_LAYOUT_H_
