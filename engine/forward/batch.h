// How the rows of one engine step are laid out.
//
// The tokens of every sequence in a step are packed one after another into a single
// [rows, n_embed] matrix; sequence s owns rows [begin, begin + count). Everything that is not a
// recurrence runs on the whole matrix at once; token shift and the WKV recurrence walk each
// sequence's own rows and update that sequence's state in place.
#ifndef RWKV_ENGINE_FORWARD_BATCH_H_
#define RWKV_ENGINE_FORWARD_BATCH_H_

#include <cstdint>
#include <vector>

#include "engine/compute/arena.h"
#include "engine/compute/matmul.h"

namespace rwkv::engine {

struct SequenceRows {
  int64_t begin = 0;
  int64_t count = 0;
  float* state = nullptr;  // this sequence's whole state buffer (StateLayout)
};

struct PackedBatch {
  std::vector<SequenceRows> sequences;
  int64_t rows = 0;
  // RWKV-7: > 0 runs sequences of at least this many rows through WkvV7Chunked with chunks of
  // this length (EngineOptions::prefill_wkv_chunk).
  int64_t wkv7_chunk = 0;
};

// What a layer module needs besides its weights while it runs.
struct StepContext {
  const PackedBatch& batch;
  MatmulContext& matmul;
  Arena& scratch;  // reset by the caller between modules
  // v7 only: layer 0's value vectors for every row, read by the later layers.
  float* v_first = nullptr;
};

}  // namespace rwkv::engine

#endif  // RWKV_ENGINE_FORWARD_BATCH_H_
