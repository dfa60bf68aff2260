// Fuzzes the restricted state-dict unpickler (engine/model/formats/pickle_reader.h) alone: any
// bytes are refused with INVALID_ARGUMENT or give tensors whose extent fits their storage.
#include <cstddef>
#include <cstdint>

#include "absl/status/status.h"
#include "absl/types/span.h"
#include "engine/model/formats/pickle_reader.h"
#include "tests/fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto tensors = rwkv::engine::ReadStateDictPickle(absl::MakeConstSpan(data, size),
                                                         "fuzz.pth: archive/data.pkl");
  if (!tensors.ok()) {
    FUZZ_CHECK(tensors.status().code() == absl::StatusCode::kInvalidArgument, tensors.status());
    return 0;
  }
  for (const rwkv::engine::PickledTensor& tensor : *tensors) {
    FUZZ_CHECK(tensor.shape.size() == tensor.stride.size(), tensor.name);
    FUZZ_CHECK(tensor.storage_offset >= 0 && tensor.storage_offset <= tensor.storage_numel,
               tensor.name);
    FUZZ_CHECK(tensor.NumElements() <= tensor.storage_numel - tensor.storage_offset, tensor.name);
  }
  return 0;
}
