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
#include "engine/compute/linear_packer.h"
#include "engine/compute/matmul.h"
#include "engine/compute/precision.h"
#include "engine/model/tensor_source.h"

namespace rwkv::engine {

class WeightReader {
 public:
  WeightReader(const TensorSource& source, MatmulContext& matmul,
               Precision precision = Precision::kF32)
      : source_(source), matmul_(matmul), precision_(precision) {}

  // The tensor as float32, which must have exactly the ggml dimensions `ne`.
  absl::StatusOr<std::vector<float>> Vector(const std::string& name, std::vector<int64_t> ne);

  // The tensor, which must have exactly the ggml dimensions `ne`, a run of rows at a time (see
  // TensorSource::ReadF32Rows): for the vocabulary-sized tensors, which are converted without a
  // float32 copy of themselves.
  absl::Status Rows(const std::string& name, std::vector<int64_t> ne, absl::Span<float> buffer,
                    TensorSource::RowConsumer consume);

  // A matrix applied as y = W x with `in` inputs and `out` outputs (ggml [in, out]), packed in
  // the model's precision (LoRA matrices: see LoraPrecision). q8_0 packs a Q8_0 tensor's blocks
  // as stored (TensorSource::ReadStoredRows), quantizes any other with ggml's Q8_0 formula, and
  // keeps a matrix whose inputs are not whole blocks of 32 in int8.
  absl::StatusOr<Linear> Matrix(const std::string& name, int64_t in, int64_t out);

  // Packs `out` rows of `in` floats of a LoRA matrix taken from already-read data.
  absl::StatusOr<Linear> Pack(const float* weights, int64_t in, int64_t out);

  Precision precision() const { return precision_; }
  // The small low-rank matrices of v6/v7 feed exponentials (decays, gates) and cost little, so
  // int8-fast keeps them in bf16. int8 keeps them in int8: with its 16-bit activations that is as
  // accurate (0.1B logits' rel. L2 9.9e-3 vs 9.7e-3), and exact, whereas oneDNN's bf16 sums of a
  // few rows and of many differ in the last bits for shapes like 64x32, which int8's finer
  // activation steps would pass on (the invariance tests saw 1.4e-5 in logits).
  // q8_0 keeps them in int8 too: the files store them in float32, and Q8_0 needs inputs in
  // blocks of 32, which not every LoRA matrix has.
  Precision LoraPrecision() const {
    if (precision_ == Precision::kInt8Fast) return Precision::kBf16;
    return precision_ == Precision::kQ8_0 ? Precision::kInt8 : precision_;
  }

  bool Has(const std::string& name) const { return source_.Find(name) != nullptr; }
  const TensorSource& source() const { return source_; }

 private:
  // The precision matrix `name` of `in` inputs is packed in.
  Precision MatrixPrecision(const std::string& name, int64_t in) const;
  // Packs a q8_0 matrix from its stored Q8_0 blocks; UNIMPLEMENTED, having read nothing, when the
  // source does not keep them as stored.
  absl::Status AddStoredQ8_0(const std::string& name, int64_t in, LinearPacker& packer);

  // The tensor's info, INVALID_ARGUMENT when it is missing or not of dimensions `ne`.
  absl::StatusOr<const TensorInfo*> Check(const std::string& name,
                                          const std::vector<int64_t>& ne) const;

  const TensorSource& source_;
  MatmulContext& matmul_;
  Precision precision_;
};

// Whether most of the model's matrix weights (2-D tensors) are stored as Q8_0.
bool MatricesStoredAsQ8_0(const TensorSource& source);

// Whether a tensor name is one of the v6/v7 LoRA matrices.
bool IsLoraMatrix(absl::string_view name);

// "blocks.<layer>.<suffix>".
std::string BlockTensor(int layer, absl::string_view suffix);

}  // namespace rwkv::engine

#endif  // RWKV_ENGINE_FORWARD_WEIGHT_READER_H_
