// SyntheticSource: a TensorSource of deterministic random weights with the real shapes of
// released RWKV-7 models, for benchmarks and load tests without downloading checkpoints.
//
//   RWKV_ASSIGN_OR_RETURN(auto source, SyntheticSource::Create("rwkv7-0.1b"));
//
// Shapes: rwkv7-0.1b (768 wide, 12 layers), rwkv7-0.4b (1024, 24), rwkv7-1.5b (2048, 24), all
// with vocabulary 65536, head size 64, FFN 4x and RWKV-LM's LoRA ranks. Values are scaled so that
// activations stay in a realistic range (no overflow, no denormals); the text they produce is
// noise. The same name always gives the same weights (and fingerprint).
#ifndef RWKV_ENGINE_MODEL_SYNTHETIC_SOURCE_H_
#define RWKV_ENGINE_MODEL_SYNTHETIC_SOURCE_H_

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "engine/model/tensor_source.h"

namespace rwkv::engine {

struct SyntheticShape {
  std::string name;
  int32_t n_embed;
  int32_t n_layer;
  int32_t n_vocab = 65536;
  int32_t head_size = 64;
};

// The shapes Create accepts.
const std::vector<SyntheticShape>& SyntheticShapes();

class SyntheticSource final : public TensorSource {
 public:
  // INVALID_ARGUMENT listing the known shapes for an unknown name.
  static absl::StatusOr<std::unique_ptr<SyntheticSource>> Create(absl::string_view shape_name);
  // Any RWKV-7 shape (used by tests for small models).
  static std::unique_ptr<SyntheticSource> FromShape(const SyntheticShape& shape);

  const std::string& Describe() const override { return description_; }
  const std::vector<TensorInfo>& Tensors() const override { return tensors_; }
  const TensorInfo* Find(std::string_view name) const override;
  absl::Status ReadF32(std::string_view name, absl::Span<float> out) const override;
  // The values are drawn in order, so a run of rows continues where the last one stopped.
  absl::Status ReadF32Rows(std::string_view name, absl::Span<float> buffer,
                           RowConsumer consume) const override;
  uint64_t ContentHash(std::string_view name) const override;

 private:
  // How a tensor's values are drawn: uniform in [center - spread, center + spread].
  struct Fill {
    float center;
    float spread;
  };

  explicit SyntheticSource(const SyntheticShape& shape);
  void Add(std::string name, std::vector<int64_t> ne, Fill fill);
  void AddLayer(int layer);
  // Draws out.size() values of `fill`, continuing from `state`.
  static void Draw(const Fill& fill, uint64_t& state, absl::Span<float> out);

  SyntheticShape shape_;
  std::string description_;
  std::vector<TensorInfo> tensors_;
  std::vector<Fill> fills_;
  absl::flat_hash_map<std::string, size_t> index_;
};

}  // namespace rwkv::engine

#endif  // RWKV_ENGINE_MODEL_SYNTHETIC_SOURCE_H_
