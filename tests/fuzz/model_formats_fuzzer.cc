// Fuzzes opening a model from bytes in any format (engine/model/formats/model_file.h): format
// detection, the container reader it picks (PyTorch zip + pickle, safetensors, GGUF, rwkv.cpp),
// the checkpoint-family mapping onto rwkv.cpp's tensors, and what the engine then reads: the
// model configuration and every (small) tensor as f32 with its content hash.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "engine/model/formats/mapped_file.h"
#include "engine/model/formats/model_file.h"
#include "engine/model/model_config.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

constexpr int64_t kMaxDecodedElements = int64_t{1} << 16;

bool ExpectedError(absl::StatusCode code) {
  return code == absl::StatusCode::kInvalidArgument || code == absl::StatusCode::kDataLoss;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto file = rwkv::engine::MappedFile::FromBytes(
      "fuzz.model", std::string(reinterpret_cast<const char*>(data), size));
  absl::StatusOr<rwkv::engine::ModelFile> model = rwkv::engine::OpenModelMapping(file);
  if (!model.ok()) {
    FUZZ_CHECK(ExpectedError(model.status().code()), model.status());
    return 0;
  }
  const rwkv::engine::TensorSource& source = *model->source;
  for (const rwkv::engine::TensorInfo& info : source.Tensors()) {
    FUZZ_CHECK(source.Find(info.name) == &info, info.name);
    FUZZ_CHECK(info.NumElements() >= 0, info.name);
    if (info.NumElements() > kMaxDecodedElements) continue;
    std::vector<float> values(static_cast<size_t>(info.NumElements()));
    const absl::Status read = source.ReadF32(info.name, absl::MakeSpan(values));
    FUZZ_CHECK(read.ok(), read);
    (void)source.ContentHash(info.name);
  }
  const absl::StatusOr<rwkv::engine::ModelConfig> config = rwkv::engine::InferModelConfig(source);
  if (!config.ok()) FUZZ_CHECK(ExpectedError(config.status().code()), config.status());
  return 0;
}
