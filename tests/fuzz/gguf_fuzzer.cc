// Fuzzes the GGUF reader (engine/model/formats/gguf_file.h) from memory: a file that opens must
// hold every tensor it lists inside its bytes, with the size its type and shape need, and each
// must decode (ReadF32) and hash, and every metadata value must describe itself; any other file
// is refused with INVALID_ARGUMENT or DATA_LOSS.
#include <cstddef>
#include <cstdint>
#include <string>

#include "engine/model/formats/gguf_file.h"
#include "engine/model/formats/mapped_file.h"
#include "tests/fuzz/checkpoint_fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto tensors = rwkv::engine::ReadGguf(rwkv::engine::MappedFile::FromBytes(
      "fuzz.gguf", std::string(reinterpret_cast<const char*>(data), size)));
  if (!tensors.ok()) {
    rwkv::fuzz::CheckRefusal(tensors.status());
    return 0;
  }
  rwkv::fuzz::CheckStoredTensors(**tensors);
  return 0;
}
