// Fuzzes the PyTorch checkpoint reader (engine/model/formats/torch_checkpoint.h: zip archive,
// restricted unpickler, storages) from memory, and reads every tensor of a file that opens.
//
// A checkpoint that opens must hold each tensor inside the file's bytes with the size its type
// and shape need, and each tensor must decode (ReadF32) and hash without error.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/types/span.h"
#include "engine/model/formats/torch_checkpoint.h"
#include "engine/model/quantization.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

using rwkv::engine::StoredTensors;
using rwkv::engine::TensorInfo;

// Decoding cost grows with the tensor; larger ones only have their extent checked.
constexpr int64_t kMaxDecodedElements = int64_t{1} << 16;

void CheckTensor(const StoredTensors& tensors, const TensorInfo& info) {
  FUZZ_CHECK(tensors.Find(info.name) == &info, info.name);
  const absl::StatusOr<absl::Span<const uint8_t>> raw = tensors.RawData(info.name);
  FUZZ_CHECK(raw.ok(), raw.status());
  const absl::StatusOr<int64_t> bytes = rwkv::engine::StoredBytes(info.type, info.NumElements());
  FUZZ_CHECK(bytes.ok() && *bytes == static_cast<int64_t>(raw->size()), info.name);
  const absl::Span<const uint8_t> file = tensors.file().bytes();
  FUZZ_CHECK(raw->empty() || (raw->data() >= file.data() &&
                              raw->data() + raw->size() <= file.data() + file.size()),
             info.name << " lies outside the file");
  (void)tensors.ContentHash(info.name);
  if (info.NumElements() > kMaxDecodedElements) return;
  std::vector<float> values(info.NumElements());
  const absl::Status read = tensors.ReadF32(info.name, absl::MakeSpan(values));
  FUZZ_CHECK(read.ok(), read);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto file = rwkv::engine::MappedFile::FromBytes(
      "fuzz.pth", std::string(reinterpret_cast<const char*>(data), size));
  absl::StatusOr<std::unique_ptr<StoredTensors>> tensors = rwkv::engine::ReadTorchCheckpoint(file);
  if (!tensors.ok()) {
    const absl::StatusCode code = tensors.status().code();
    FUZZ_CHECK(code == absl::StatusCode::kInvalidArgument || code == absl::StatusCode::kDataLoss,
               tensors.status());
    return 0;
  }
  FUZZ_CHECK(!(*tensors)->Tensors().empty(), "a checkpoint with no tensors opened");
  for (const TensorInfo& info : (*tensors)->Tensors()) CheckTensor(**tensors, info);
  return 0;
}
