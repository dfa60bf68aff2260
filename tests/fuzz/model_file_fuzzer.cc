// Fuzzes the rwkv.cpp model file reader (engine/model/rwkv_cpp_file.h) from memory, and what the
// engine reads from a file that opens: the model's configuration and every tensor as f32.
//
// A file that opens must hold every tensor it lists inside its bytes, with the size its type and
// shape need, and each tensor must decode (ReadF32) and hash without error.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/types/span.h"
#include "engine/model/model_config.h"
#include "engine/model/quantization.h"
#include "engine/model/rwkv_cpp_file.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

using rwkv::engine::RwkvCppFile;
using rwkv::engine::TensorInfo;

// Decoding cost grows with the tensor; larger ones only have their extent checked.
constexpr int64_t kMaxDecodedElements = int64_t{1} << 16;

void CheckTensor(const RwkvCppFile& file, const TensorInfo& info) {
  const absl::StatusOr<absl::Span<const uint8_t>> raw = file.RawData(info.name);
  FUZZ_CHECK(raw.ok(), raw.status());
  const absl::StatusOr<int64_t> bytes = rwkv::engine::StoredBytes(info.type, info.NumElements());
  FUZZ_CHECK(bytes.ok() && *bytes == static_cast<int64_t>(raw->size()), info.name);
  const int64_t offset = file.DataOffset(info.name);
  FUZZ_CHECK(offset >= RwkvCppFile::kHeaderBytes && offset + *bytes <= file.file_bytes(),
             info.name << " at " << offset);
  (void)file.ContentHash(info.name);
  if (info.NumElements() > kMaxDecodedElements) return;
  std::vector<float> values(info.NumElements());
  const absl::Status read = file.ReadF32(info.name, absl::MakeSpan(values));
  FUZZ_CHECK(read.ok(), read);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  absl::StatusOr<std::unique_ptr<RwkvCppFile>> file = RwkvCppFile::FromBytes(
      "fuzz.bin", std::string(reinterpret_cast<const char*>(data), size));
  if (!file.ok()) {
    const absl::StatusCode code = file.status().code();
    FUZZ_CHECK(code == absl::StatusCode::kInvalidArgument || code == absl::StatusCode::kDataLoss,
               file.status());
    return 0;
  }
  for (const TensorInfo& info : (*file)->Tensors()) {
    FUZZ_CHECK((*file)->Find(info.name) == &info, info.name);
    CheckTensor(**file, info);
  }
  const absl::StatusOr<rwkv::engine::ModelConfig> config = rwkv::engine::InferModelConfig(**file);
  if (config.ok()) {
    FUZZ_CHECK(config->n_embed > 0 && config->n_vocab > 0 && config->n_layer > 0,
               config->Summary());
    (void)config->StateFloats();
  } else {
    FUZZ_CHECK(config.status().code() == absl::StatusCode::kInvalidArgument, config.status());
  }
  return 0;
}
