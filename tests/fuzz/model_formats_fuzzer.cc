// Fuzzes opening a model from bytes in any format (engine/model/formats/model_file.h): format
// detection, the container reader it picks (PyTorch zip + pickle, safetensors, GGUF, rwkv.cpp),
// the checkpoint-family mapping onto rwkv.cpp's tensors, and what the engine then reads: the
// model configuration and every (small) tensor as f32 with its content hash, whole and a run of
// rows at a time.
#include <cstddef>
#include <cstdint>
#include <cstring>
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

// Read two rows at a time (as loading reads), the tensor is the same floats, bit for bit.
void CheckRuns(const rwkv::engine::TensorSource& source, const rwkv::engine::TensorInfo& info,
               const std::vector<float>& values) {
  const int64_t row = rwkv::engine::RowElements(info);
  if (row <= 0) return;
  std::vector<float> buffer(static_cast<size_t>(2 * row));
  size_t next = 0;
  const absl::Status runs = source.ReadF32Rows(
      info.name, absl::MakeSpan(buffer), [&](int64_t, absl::Span<float> rows) {
        FUZZ_CHECK(rows.size() <= values.size() - next, info.name);
        FUZZ_CHECK(std::memcmp(rows.data(), values.data() + next, rows.size() * sizeof(float)) == 0,
                   info.name);
        next += rows.size();
        return absl::OkStatus();
      });
  FUZZ_CHECK(runs.ok(), runs);
  FUZZ_CHECK(next == values.size(), info.name);
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
    CheckRuns(source, info, values);
  }
  const absl::StatusOr<rwkv::engine::ModelConfig> config = rwkv::engine::InferModelConfig(source);
  if (!config.ok()) FUZZ_CHECK(ExpectedError(config.status().code()), config.status());
  return 0;
}
