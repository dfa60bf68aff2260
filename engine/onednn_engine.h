// OnednnEngine: the Engine implementation on oneDNN matrix products and the hand-written
// recurrence kernels of engine/forward. Engine::Create and Engine::FromSource return one; only
// the engine's own tools and tests name this class.
#ifndef RWKV_ENGINE_ONEDNN_ENGINE_H_
#define RWKV_ENGINE_ONEDNN_ENGINE_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "engine/compute/arena.h"
#include "engine/compute/matmul.h"
#include "engine/engine.h"
#include "engine/forward/batch.h"
#include "engine/forward/model.h"

namespace rwkv::engine {

class OnednnEngine final : public Engine {
 public:
  friend class Engine;  // Create() hands over the model file's vocabulary.
  static absl::StatusOr<std::unique_ptr<OnednnEngine>> Load(const TensorSource& source,
                                                           const EngineOptions& options);

  const ModelConfig& config() const override { return model_->config(); }
  const std::string& fingerprint() const override { return model_->fingerprint(); }
  int64_t parameters() const override { return model_->parameters(); }
  int threads() const override { return threads_; }
  Precision precision() const override { return model_->precision(); }
  std::string KernelSummary() const override { return matmul_.KernelSummary(); }
  int64_t MatrixBytesPerToken() const override { return matmul_.PackedBytes(); }
  int64_t MatrixFlopsPerToken() const override { return 2 * matmul_.MacsPerRow(); }
  int64_t WeightBytes() const override { return matmul_.PackedBytes() + model_->EmbeddingBytes(); }
  absl::Span<const std::string> EmbeddedVocabulary() const override { return vocabulary_; }

  absl::StatusOr<LogitsView> Forward(absl::Span<const SequenceInput> batch) override;
  void ParallelFor(int64_t count, absl::FunctionRef<void(int64_t)> task) override;

 private:
  OnednnEngine() = default;
  // Lays out the rows of `batch` in packed_ and the logits rows it asks for.
  void Pack(absl::Span<const SequenceInput> batch);

  int threads_ = 1;
  MatmulContext matmul_;
  std::unique_ptr<Model> model_;
  std::vector<std::string> vocabulary_;  // The model file's own, if any.
  // Reused across steps so that the steady state allocates nothing.
  PackedBatch packed_;
  std::vector<int32_t> tokens_;
  std::vector<int64_t> wanted_rows_;
  std::vector<int64_t> first_logits_row_;
  std::vector<float> logits_;
  std::vector<const float*> state_check_;
  Arena step_arena_;
  Arena scratch_arena_;
};

}  // namespace rwkv::engine

#endif  // RWKV_ENGINE_ONEDNN_ENGINE_H_
