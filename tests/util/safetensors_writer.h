// Writing safetensors bytes in tests: renamed, reshaped or fused variants of the fixtures.
#ifndef RWKV_TESTS_UTIL_SAFETENSORS_WRITER_H_
#define RWKV_TESTS_UTIL_SAFETENSORS_WRITER_H_

#include <cstdint>
#include <string>
#include <vector>

#include "engine/model/formats/stored_tensors.h"

namespace rwkv::testing {

struct SafetensorsEntry {
  std::string name;
  std::string dtype;  // "BF16", "F32", ...
  std::vector<int64_t> shape;
  std::string bytes;
};

// The file: header length, JSON header (entries in order), data.
std::string SafetensorsBytes(const std::vector<SafetensorsEntry>& entries);

// `name` of `source` as an entry (its stored dtype, PyTorch shape and bytes).
SafetensorsEntry EntryOf(const engine::StoredTensors& source, const std::string& name);

}  // namespace rwkv::testing

#endif  // RWKV_TESTS_UTIL_SAFETENSORS_WRITER_H_
