#include "engine/forward/model.h"

#include <algorithm>
#include <cstring>

#include "engine/compute/ops.h"
#include "common/hash64.h"
#include "common/status_macros.h"

namespace rwkv::engine {
namespace {

constexpr float kLayerNormEps = 1e-5f;
// Rows of a vocabulary-sized tensor converted at a time while loading (3 MiB of float32 at
// width 768): the only float32 copy of it there ever is.
constexpr int64_t kLoadRunRows = 1024;

}  // namespace

std::string ComputeFingerprint(const TensorSource& source, const ModelConfig& config) {
  std::vector<std::string_view> names;
  for (const TensorInfo& info : source.Tensors()) names.push_back(info.name);
  std::sort(names.begin(), names.end());
  Hash64 hash;
  const std::string summary = config.Summary();
  hash.Update(summary.data(), summary.size());
  for (std::string_view name : names) hash.UpdateU64(source.ContentHash(name));
  return Hex64(hash.Digest());
}

absl::StatusOr<std::unique_ptr<Model>> Model::Load(const TensorSource& source,
                                                   MatmulContext& matmul, Precision precision) {
  auto model = std::unique_ptr<Model>(new Model());
  model->precision_ = precision;
  RWKV_ASSIGN_OR_RETURN(model->config_, InferModelConfig(source));
  WeightReader reader(source, matmul, precision);
  // Every tensor is converted a run of rows at a time and its stored pages released behind it
  // (WeightReader, TensorSource::ReadF32Rows), so loading holds the converted weights, one run
  // of float32 and the pages being read: never the whole file next to the model.
  RWKV_RETURN_IF_ERROR(model->LoadEmbedding(reader));
  const int64_t c = model->config_.n_embed;
  RWKV_ASSIGN_OR_RETURN(model->head_, reader.Matrix("head.weight", c, model->config_.n_vocab));
  RWKV_ASSIGN_OR_RETURN(model->ln_out_weight_, reader.Vector("ln_out.weight", {c}));
  RWKV_ASSIGN_OR_RETURN(model->ln_out_bias_, reader.Vector("ln_out.bias", {c}));
  model->layers_.resize(model->config_.n_layer);
  for (int l = 0; l < model->config_.n_layer; ++l) {
    RWKV_RETURN_IF_ERROR(model->LoadLayer(reader, l));
  }
  model->fingerprint_ = ComputeFingerprint(source, model->config_);
  for (const TensorInfo& info : source.Tensors()) model->parameters_ += info.NumElements();
  return model;
}

absl::Status Model::LoadEmbedding(WeightReader& reader) {
  const int64_t c = config_.n_embed;
  RWKV_ASSIGN_OR_RETURN(std::vector<float> ln0_weight, reader.Vector("blocks.0.ln0.weight", {c}));
  RWKV_ASSIGN_OR_RETURN(std::vector<float> ln0_bias, reader.Vector("blocks.0.ln0.bias", {c}));
  embedding_ = Embedding(config_.n_vocab, c, precision_);
  // ln0 only ever sees embedding rows, so it is applied once here (the same float ops as at run
  // time, hence the same results); but q8_0 keeps the table's own blocks, which the normalized
  // rows would need requantizing for, and normalizes each row looked up.
  const bool fold_ln0 = precision_ != Precision::kQ8_0;
  if (!fold_ln0) {
    ln0_weight_ = ln0_weight;
    ln0_bias_ = ln0_bias;
  }
  std::vector<float> buffer(
      static_cast<size_t>(std::min<int64_t>(kLoadRunRows, config_.n_vocab) * c));
  return reader.Rows("emb.weight", {c, config_.n_vocab}, absl::MakeSpan(buffer),
                     [&](int64_t first_row, absl::Span<float> rows) {
                       const int64_t count = static_cast<int64_t>(rows.size()) / c;
                       if (fold_ln0) {
                         LayerNormRows(rows.data(), count, c, ln0_weight.data(), ln0_bias.data(),
                                       kLayerNormEps, rows.data());
                       }
                       embedding_.SetRows(first_row, rows);
                       return absl::OkStatus();
                     });
}

absl::Status Model::LoadLayer(WeightReader& reader, int index) {
  const int64_t c = config_.n_embed;
  Layer& layer = layers_[index];
  RWKV_ASSIGN_OR_RETURN(layer.ln1_weight, reader.Vector(BlockTensor(index, "ln1.weight"), {c}));
  RWKV_ASSIGN_OR_RETURN(layer.ln1_bias, reader.Vector(BlockTensor(index, "ln1.bias"), {c}));
  RWKV_ASSIGN_OR_RETURN(layer.ln2_weight, reader.Vector(BlockTensor(index, "ln2.weight"), {c}));
  RWKV_ASSIGN_OR_RETURN(layer.ln2_bias, reader.Vector(BlockTensor(index, "ln2.bias"), {c}));
  RWKV_ASSIGN_OR_RETURN(layer.time_mix, LoadTimeMix(reader, config_, index));
  RWKV_ASSIGN_OR_RETURN(layer.channel_mix, LoadChannelMix(reader, config_, index));
  return absl::OkStatus();
}

absl::Status Model::Forward(const PackedBatch& batch, absl::Span<const int32_t> tokens,
                            absl::Span<const int64_t> wanted, MatmulContext& matmul, Arena& step,
                            Arena& scratch, float* logits) const {
  const int64_t rows = batch.rows;
  const int64_t c = config_.n_embed;
  step.Reset();
  float* x = step.Alloc(rows * c);
  for (int64_t r = 0; r < rows; ++r) embedding_.Lookup(tokens[r], x + r * c);
  if (!ln0_weight_.empty()) {
    LayerNormRows(x, rows, c, ln0_weight_.data(), ln0_bias_.data(), kLayerNormEps, x);
  }
  StepContext context{batch, matmul, scratch};
  if (config_.version == ArchVersion::kV7) context.v_first = step.Alloc(rows * c);
  float* normed = step.Alloc(rows * c);
  for (const Layer& layer : layers_) {
    scratch.Reset();
    LayerNormRows(x, rows, c, layer.ln1_weight.data(), layer.ln1_bias.data(), kLayerNormEps,
                  normed);
    RWKV_RETURN_IF_ERROR(layer.time_mix->Forward(context, normed, x));
    scratch.Reset();
    LayerNormRows(x, rows, c, layer.ln2_weight.data(), layer.ln2_bias.data(), kLayerNormEps,
                  normed);
    RWKV_RETURN_IF_ERROR(layer.channel_mix->Forward(context, normed, x));
  }
  if (wanted.empty()) return absl::OkStatus();
  const int64_t out_rows = static_cast<int64_t>(wanted.size());
  GatherRows(x, c, wanted.data(), out_rows, normed);
  LayerNormRows(normed, out_rows, c, ln_out_weight_.data(), ln_out_bias_.data(), kLayerNormEps,
                normed);
  return head_.Apply(matmul, normed, out_rows, logits);
}

}  // namespace rwkv::engine
