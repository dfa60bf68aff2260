// WeightReader: pulls tensors from a TensorSource with their shapes checked.
//
//   WeightReader reader(source, matmul);
//   RWKV_ASSIGN_OR_RETURN(std::vector<float> mix, reader.Vector("blocks.0.att.time_mix_k", {C}));
//   RWKV_ASSIGN_OR_RETURN(Linear key, reader.Matrix("blocks.0.att.key.weight", C, C));
//
// Every error names the source (file) and the tensor.
#ifndef RWKV_ENGINE_FORWARD_WEIGHT_READER_H_
#define RWKV_ENGINE_FORWARD_WEIGHT_READER_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "engine/compute/matmul.h"
#include "engine/model/tensor_source.h"

namespace rwkv::engine {

class WeightReader {
 public:
  WeightReader(const TensorSource& source, MatmulContext& matmul)
      : source_(source), matmul_(matmul) {}

  // The tensor as float32, which must have exactly the ggml dimensions `ne`.
  absl::StatusOr<std::vector<float>> Vector(const std::string& name, std::vector<int64_t> ne);

  // A matrix applied as y = W x with `in` inputs and `out` outputs (ggml [in, out]), packed.
  absl::StatusOr<Linear> Matrix(const std::string& name, int64_t in, int64_t out);

  // Packs `out` rows of `in` floats taken from already-read data.
  absl::StatusOr<Linear> Pack(const float* weights, int64_t in, int64_t out);

  bool Has(const std::string& name) const { return source_.Find(name) != nullptr; }
  const TensorSource& source() const { return source_; }

 private:
  const TensorSource& source_;
  MatmulContext& matmul_;
};

// "blocks.<layer>.<suffix>".
std::string BlockTensor(int layer, absl::string_view suffix);

}  // namespace rwkv::engine

#endif  // RWKV_ENGINE_FORWARD_WEIGHT_READER_H_
