// RwkvCheckpoint: any supported checkpoint (PyTorch .pth, safetensors, GGUF; BlinkDL, Hugging
// Face or llama.cpp names) seen as the tensors of the equivalent rwkv.cpp .bin, which is what the
// engine reads.
//
// Tensors are made on demand, one at a time, from the container's mapping: a tensor that is only
// renamed or reshaped (F32, F16 where rwkv.cpp keeps F16, quantized GGUF blocks) is passed through
// in its stored type; one that needs converting (bf16, transposes, exp transforms, fused or
// rescaled GGUF tensors) is presented as F32 and converted when read. Content hashes are over the
// presented bytes, so the model fingerprint is the same as that of the .bin holding the same
// values (and sessions saved with one resume on the other).
//
//   RWKV_ASSIGN_OR_RETURN(std::unique_ptr<StoredTensors> stored, ReadSafetensors(file));
//   RWKV_ASSIGN_OR_RETURN(auto checkpoint, RwkvCheckpoint::Create(std::move(stored), 0));
//   RWKV_ASSIGN_OR_RETURN(ModelConfig config, InferModelConfig(*checkpoint));
//
// Thread safety: const methods may be called from any thread.
#ifndef RWKV_ENGINE_MODEL_FORMATS_RWKV_CHECKPOINT_H_
#define RWKV_ENGINE_MODEL_FORMATS_RWKV_CHECKPOINT_H_

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "engine/model/formats/stored_tensors.h"
#include "engine/model/formats/tensor_plan.h"
#include "engine/model/tensor_source.h"

namespace rwkv::engine {

class RwkvCheckpoint final : public TensorSource {
 public:
  // `head_size_hint`: from a config.json, 0 when unknown (see MapToBlinkdl).
  static absl::StatusOr<std::unique_ptr<RwkvCheckpoint>> Create(
      std::unique_ptr<StoredTensors> stored, int head_size_hint);

  const std::string& Describe() const override { return stored_->Describe(); }
  const std::vector<TensorInfo>& Tensors() const override { return tensors_; }
  const TensorInfo* Find(std::string_view name) const override;
  absl::Status ReadF32(std::string_view name, absl::Span<float> out) const override;
  absl::Status ReadF32Rows(std::string_view name, absl::Span<float> buffer,
                           RowConsumer consume) const override;
  absl::Status ReadStoredRows(std::string_view name, int64_t max_rows,
                              StoredRowConsumer consume) const override;
  uint64_t ContentHash(std::string_view name) const override;

  const StoredTensors& stored() const { return *stored_; }
  // "BlinkDL", "llama.cpp GGUF rwkv7", ...
  const std::string& family() const { return family_; }
  // Stored tensors the model does not use.
  const std::vector<std::string>& unused() const { return unused_; }
  // The vocabulary the file carries (GGUF's tokenizer.ggml.tokens, token id -> raw bytes); empty
  // when it carries none.
  const std::vector<std::string>& embedded_vocabulary() const { return vocabulary_; }

 private:
  struct Entry {
    TensorPlan plan;
    bool passthrough = false;  // Stored bytes, only renamed/reshaped.
  };

  RwkvCheckpoint() = default;
  absl::Status AddPlan(TensorPlan plan);
  absl::Status ReadEntry(const Entry& entry, absl::Span<float> out) const;
  absl::Status ReadPart(const Part& part, std::vector<float>& scratch,
                        absl::Span<float> out) const;
  // Made from one stored tensor value by value (no reordering, slicing or joining).
  static bool IsElementwise(const TensorPlan& plan);
  uint64_t HashConvertedInChunks(const TensorInfo& info) const;
  // ContentHash of one entry.
  uint64_t HashEntry(const TensorInfo& info, const Entry& entry) const;
  // Returns the stored pages of every tensor `entry` is made from to the OS.
  void ReleaseSources(const Entry& entry) const;

  std::unique_ptr<StoredTensors> stored_;
  std::string family_;
  std::vector<std::string> unused_;
  std::vector<std::string> vocabulary_;
  std::vector<TensorInfo> tensors_;
  std::vector<Entry> entries_;  // Parallel to tensors_.
  absl::flat_hash_map<std::string, size_t> index_;
};

// Decodes GGUF's rwkv token strings (Python's repr of the token's bytes without b'...': "\\x00",
// "\\n", "\\'", "a"...) into bytes. INVALID_ARGUMENT for a malformed escape.
absl::StatusOr<std::string> UnescapeRwkvGgufToken(std::string_view token);

}  // namespace rwkv::engine

#endif  // RWKV_ENGINE_MODEL_FORMATS_RWKV_CHECKPOINT_H_
