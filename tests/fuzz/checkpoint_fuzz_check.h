// CheckStoredTensors: what the checkpoint readers' fuzz targets assert about a container that
// opened (safetensors_fuzzer.cc, gguf_fuzzer.cc): every tensor lies inside the file's bytes with
// the size its type and shape need, can be found by name, hashes, and decodes without error.
#ifndef RWKV_TESTS_FUZZ_CHECKPOINT_FUZZ_CHECK_H_
#define RWKV_TESTS_FUZZ_CHECKPOINT_FUZZ_CHECK_H_

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "absl/types/span.h"
#include "engine/model/formats/stored_tensors.h"
#include "engine/model/quantization.h"
#include "tests/fuzz/fuzz_check.h"

namespace rwkv::fuzz {

// Decoding cost grows with the tensor; larger ones only have their extent checked.
inline constexpr int64_t kMaxCheckedElements = int64_t{1} << 16;

inline void CheckStoredTensors(const engine::StoredTensors& tensors) {
  const absl::Span<const uint8_t> file = tensors.file().bytes();
  for (const engine::TensorInfo& info : tensors.Tensors()) {
    FUZZ_CHECK(tensors.Find(info.name) == &info, info.name);
    const absl::StatusOr<absl::Span<const uint8_t>> raw = tensors.RawData(info.name);
    FUZZ_CHECK(raw.ok(), raw.status());
    const absl::StatusOr<int64_t> bytes = engine::StoredBytes(info.type, info.NumElements());
    FUZZ_CHECK(bytes.ok() && *bytes == static_cast<int64_t>(raw->size()), info.name);
    FUZZ_CHECK(raw->data() >= file.data() && raw->data() + raw->size() <= file.data() + file.size(),
               info.name);
    (void)tensors.ContentHash(info.name);
    if (info.NumElements() > kMaxCheckedElements) continue;
    std::vector<float> values(info.NumElements());
    const absl::Status read = tensors.ReadF32(info.name, absl::MakeSpan(values));
    FUZZ_CHECK(read.ok(), read);
  }
  for (const auto& [key, value] : tensors.metadata()) (void)engine::DescribeMetadataValue(value);
}

// A reader's error must be one of the two it documents.
inline void CheckRefusal(const absl::Status& status) {
  FUZZ_CHECK(status.code() == absl::StatusCode::kInvalidArgument ||
                 status.code() == absl::StatusCode::kDataLoss,
             status);
}

}  // namespace rwkv::fuzz

#endif  // RWKV_TESTS_FUZZ_CHECKPOINT_FUZZ_CHECK_H_
