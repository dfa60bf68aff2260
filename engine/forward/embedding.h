// Embedding: the token embedding table (with ln0 already applied), stored in the model's
// precision: float32, bfloat16, or int8 with one scale per row. Only rows are ever read, so a
// lookup widens one row back to float32.
#ifndef RWKV_ENGINE_FORWARD_EMBEDDING_H_
#define RWKV_ENGINE_FORWARD_EMBEDDING_H_

#include <cstdint>
#include <vector>

#include "absl/types/span.h"
#include "engine/compute/precision.h"

namespace rwkv::engine {

class Embedding {
 public:
  Embedding() = default;
  // A table of `rows` rows of `width`, filled by SetRows.
  Embedding(int64_t rows, int64_t width, Precision precision);

  // Converts rows [first_row, first_row + values.size() / width) from float32, so that the table
  // is loaded a run of rows at a time without a float32 copy of it.
  void SetRows(int64_t first_row, absl::Span<const float> values);

  // out[width] = row `token`.
  void Lookup(int32_t token, float* out) const;
  int64_t Bytes() const;

 private:
  int64_t width_ = 0;
  Precision precision_ = Precision::kF32;
  std::vector<float> f32_;
  std::vector<uint16_t> bf16_;
  std::vector<int8_t> int8_;
  std::vector<float> scales_;
};

}  // namespace rwkv::engine

#endif  // RWKV_ENGINE_FORWARD_EMBEDDING_H_
