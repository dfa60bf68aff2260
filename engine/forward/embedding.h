// Embedding: the token embedding table (with ln0 already applied), stored in the model's
// precision: float32, bfloat16, or int8 with one scale per row. Only rows are ever read, so a
// lookup widens one row back to float32.
#ifndef RWKV_ENGINE_FORWARD_EMBEDDING_H_
#define RWKV_ENGINE_FORWARD_EMBEDDING_H_

#include <cstdint>
#include <vector>

#include "engine/compute/precision.h"

namespace rwkv::engine {

class Embedding {
 public:
  Embedding() = default;
  // `table` is [rows, width] float32; it is converted (and may be freed afterwards).
  Embedding(const std::vector<float>& table, int64_t rows, int64_t width, Precision precision);

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
