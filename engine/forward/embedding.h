// Embedding: the token embedding table (with ln0 already applied), stored in the model's
// precision: float32, bfloat16, or int8 with one scale per kInt8Group columns of a row. Only rows
// are ever read, so a lookup widens one row back to float32.
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
  // Columns sharing an int8 scale: llama.cpp Q8_0's block. Against one scale per row, the 0.1B's
  // int8 logits' rel. L2 goes from 1.03e-2 to 9.9e-3 for 1/8 more bytes (6 MB). q8_0 shares it:
  // a block of a Q8_0 table (codes up to +-127 times d) comes back as the same codes and d.
  static constexpr int64_t kInt8Group = 32;
  int64_t GroupsPerRow() const { return (width_ + kInt8Group - 1) / kInt8Group; }

  int64_t width_ = 0;
  Precision precision_ = Precision::kF32;
  std::vector<float> f32_;
  std::vector<uint16_t> bf16_;
  std::vector<int8_t> int8_;
  std::vector<float> scales_;  // int8: [rows, GroupsPerRow()]
};

}  // namespace rwkv::engine

#endif  // RWKV_ENGINE_FORWARD_EMBEDDING_H_
