// Opening a model by path, whatever its format: the format is recognized from the file's first
// bytes (never from its name), and a directory holding a Hugging Face export (model.safetensors
// or shards with model.safetensors.index.json, plus config.json) works too.
//
//   RWKV_ASSIGN_OR_RETURN(ModelFile model, OpenModelFile("/models/rwkv7-g1-0.1b.pth"));
//   RWKV_ASSIGN_OR_RETURN(ModelConfig config, InferModelConfig(*model.source));
#ifndef RWKV_ENGINE_MODEL_FORMATS_MODEL_FILE_H_
#define RWKV_ENGINE_MODEL_FORMATS_MODEL_FILE_H_

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "engine/model/formats/mapped_file.h"
#include "engine/model/tensor_source.h"

namespace rwkv::engine {

enum class ModelFormat { kUnknown, kRwkvCpp, kPyTorch, kLegacyPyTorch, kSafetensors, kGguf };

// "rwkv.cpp .bin", "PyTorch .pth", "safetensors", "GGUF"...
std::string_view ModelFormatName(ModelFormat format);

// The format a file starting with `head` (its first bytes; 16 are enough) is in.
ModelFormat DetectModelFormat(absl::Span<const uint8_t> head, int64_t file_size);

struct ModelFile {
  std::unique_ptr<TensorSource> source;
  ModelFormat format = ModelFormat::kUnknown;
  // "BlinkDL", "Hugging Face RWKV7ForCausalLM (fla-hub)", "llama.cpp GGUF rwkv7", "rwkv.cpp".
  std::string family;
  // The file's own vocabulary (GGUF), token id -> bytes; empty when it has none.
  std::vector<std::string> vocabulary;
  // Stored tensors the model does not use (shown by rwkv-inspect).
  std::vector<std::string> unused_tensors;
};

// Opens and validates `path` (a file or a Hugging Face directory). NOT_FOUND when it does not
// exist; INVALID_ARGUMENT naming the path for an unknown format, a checkpoint that is not an
// RWKV model (naming what it holds), or a config.json that disagrees with the tensors; DATA_LOSS
// for a truncated file. Nothing is copied: tensors are read from the mapping when asked for.
absl::StatusOr<ModelFile> OpenModelFile(const std::string& path);

// The same for a file already mapped (or held in memory: the fuzzer's entry point).
absl::StatusOr<ModelFile> OpenModelMapping(std::shared_ptr<const MappedFile> file);

}  // namespace rwkv::engine

#endif  // RWKV_ENGINE_MODEL_FORMATS_MODEL_FILE_H_
