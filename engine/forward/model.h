// Model: the loaded weights of one RWKV network and its forward pass over a packed batch.
//
//   MatmulContext matmul;
//   RWKV_ASSIGN_OR_RETURN(std::unique_ptr<Model> model, Model::Load(*source, matmul));
//   model->Forward(batch, tokens, x, ...);   // see Engine for the public, validated entry point
//
// Immutable after Load; Forward may be called from one thread at a time per MatmulContext.
#ifndef RWKV_ENGINE_FORWARD_MODEL_H_
#define RWKV_ENGINE_FORWARD_MODEL_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "engine/compute/arena.h"
#include "engine/compute/matmul.h"
#include "engine/compute/precision.h"
#include "engine/forward/batch.h"
#include "engine/forward/embedding.h"
#include "engine/forward/layer_modules.h"
#include "engine/model/model_config.h"
#include "engine/model/tensor_source.h"

namespace rwkv::engine {

class Model {
 public:
  // Reads and checks every tensor the forward pass needs (missing or mis-shaped tensors are
  // INVALID_ARGUMENT naming the source and tensor), packs the matrices for oneDNN and computes
  // the fingerprint. Tensors the model does not use are ignored.
  static absl::StatusOr<std::unique_ptr<Model>> Load(const TensorSource& source,
                                                     MatmulContext& matmul,
                                                     Precision precision = Precision::kF32);

  const ModelConfig& config() const { return config_; }
  Precision precision() const { return precision_; }
  // 16 hex digits; identifies the config and every weight (see ComputeFingerprint).
  const std::string& fingerprint() const { return fingerprint_; }
  // Number of weights in the source (every tensor's element count).
  int64_t parameters() const { return parameters_; }
  // Bytes of the embedding table in its precision.
  int64_t EmbeddingBytes() const { return embedding_.Bytes(); }

  // Runs every layer over the packed rows of `batch` (token ids in `tokens`, one per row),
  // updating each sequence's state. Then writes logits [wanted.size(), n_vocab] for the rows
  // listed in `wanted` into `logits`. `step` and `scratch` are reusable arenas.
  absl::Status Forward(const PackedBatch& batch, absl::Span<const int32_t> tokens,
                       absl::Span<const int64_t> wanted, MatmulContext& matmul, Arena& step,
                       Arena& scratch, float* logits) const;

 private:
  struct Layer {
    std::vector<float> ln1_weight, ln1_bias, ln2_weight, ln2_bias;
    std::unique_ptr<TimeMix> time_mix;
    std::unique_ptr<ChannelMix> channel_mix;
  };

  absl::Status LoadEmbedding(WeightReader& reader);
  absl::Status LoadLayer(WeightReader& reader, int index);

  ModelConfig config_;
  std::string fingerprint_;
  int64_t parameters_ = 0;
  Precision precision_ = Precision::kF32;
  // emb.weight with blocks.0.ln0 already applied to every row, [n_vocab, n_embed]; in q8_0 the
  // rows as stored (a Q8_0 table's own blocks), and ln0 applied to each row looked up.
  Embedding embedding_;
  std::vector<float> ln0_weight_, ln0_bias_;  // q8_0 only
  std::vector<Layer> layers_;
  std::vector<float> ln_out_weight_, ln_out_bias_;
  Linear head_;
};

// Hash of the config summary and of every tensor's name, shape, type and bytes, order-independent
// in the file: the same weights give the same fingerprint whatever machine loads them.
std::string ComputeFingerprint(const TensorSource& source, const ModelConfig& config);

}  // namespace rwkv::engine

#endif  // RWKV_ENGINE_FORWARD_MODEL_H_
