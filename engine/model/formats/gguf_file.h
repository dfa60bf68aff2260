// Reads a GGUF checkpoint (llama.cpp's format, versions 2 and 3): a header with typed key/value
// metadata and tensor descriptions, then the aligned tensor data.
//
// Tensor names stay as the file has them (blk.0.attn_norm.weight, ...); mapping them onto an RWKV
// model is the caller's job. Types F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q4_K, Q5_K and
// Q6_K are read (GGUF's own type codes, see GgufTypeFromCode); any other is refused by name.
// Tensors view the mapping, in the order the header lists them.
//
// Metadata: every integer type becomes int64 (a u64 above INT64_MAX is refused), f32/f64 become
// double, strings stay strings, arrays become vectors of int64 (integers and bools), double or
// string; arrays of arrays are refused. The pseudo-key "GGUF.version" holds the file version.
//
//   RWKV_ASSIGN_OR_RETURN(auto file, MappedFile::Open("model.gguf"));
//   RWKV_ASSIGN_OR_RETURN(std::unique_ptr<StoredTensors> tensors, ReadGguf(file));
#ifndef RWKV_ENGINE_MODEL_FORMATS_GGUF_FILE_H_
#define RWKV_ENGINE_MODEL_FORMATS_GGUF_FILE_H_

#include <cstdint>
#include <memory>

#include "absl/status/statusor.h"
#include "engine/model/formats/mapped_file.h"
#include "engine/model/formats/stored_tensors.h"

namespace rwkv::engine {

// "GGUF" as a little-endian u32.
inline constexpr uint32_t kGgufMagic = 0x46554747;
// The data alignment when general.alignment is absent.
inline constexpr uint32_t kGgufDefaultAlignment = 32;

// Errors name the file, the key or tensor and the byte offset: DATA_LOSS for a file that ends
// before what its header describes (truncated), INVALID_ARGUMENT for anything malformed or a
// tensor type that is not supported.
absl::StatusOr<std::unique_ptr<StoredTensors>> ReadGguf(std::shared_ptr<const MappedFile> file);

}  // namespace rwkv::engine

#endif  // RWKV_ENGINE_MODEL_FORMATS_GGUF_FILE_H_
