// Reads a safetensors checkpoint (Hugging Face's format): an 8-byte little-endian header length,
// a JSON header naming every tensor's dtype, shape and byte range, then the raw tensor data.
//
// Only F32, F16 and BF16 tensors are accepted (every RWKV checkpoint uses those); any other
// dtype is refused by name. Tensors view the mapping, nothing is copied. They are listed in the
// order of their bytes in the file (the JSON object's key order carries no meaning). Every
// tensor must lie inside the file with exactly the bytes its dtype and shape need, and no two may
// overlap; unused bytes between tensors are tolerated. Duplicate JSON keys are refused.
// `__metadata__` entries become StoredTensors metadata (strings).
//
//   RWKV_ASSIGN_OR_RETURN(auto file, MappedFile::Open("model.safetensors"));
//   RWKV_ASSIGN_OR_RETURN(std::unique_ptr<StoredTensors> tensors, ReadSafetensors(file));
//
// A model split into shards (model-00001-of-00002.safetensors, ...) is read through its
// model.safetensors.index.json ({"weight_map": {tensor: shard file}}) into one StoredTensors.
#ifndef RWKV_ENGINE_MODEL_FORMATS_SAFETENSORS_FILE_H_
#define RWKV_ENGINE_MODEL_FORMATS_SAFETENSORS_FILE_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "engine/model/formats/mapped_file.h"
#include "engine/model/formats/stored_tensors.h"

namespace rwkv::engine {

// The name of the index file of a sharded safetensors model.
inline constexpr char kSafetensorsIndexName[] = "model.safetensors.index.json";

// Errors name the file, the tensor and the byte offset: DATA_LOSS for a file too short for what
// its header says (truncated), INVALID_ARGUMENT for anything malformed or an unsupported dtype.
absl::StatusOr<std::unique_ptr<StoredTensors>> ReadSafetensors(
    std::shared_ptr<const MappedFile> file);

// Reads `dir`/model.safetensors.index.json and every shard it names (files in `dir` only).
// The result's file() is the index, Describe() is `dir`, and its tensors are those of every
// shard, shard by shard in file-name order; metadata merges the shards' and the index's own.
// Every tensor the weight map lists must be in the shard it names, and no tensor may appear in
// two shards. NOT_FOUND when the index or a shard cannot be opened.
absl::StatusOr<std::unique_ptr<StoredTensors>> ReadSafetensorsShards(const std::string& dir);

}  // namespace rwkv::engine

#endif  // RWKV_ENGINE_MODEL_FORMATS_SAFETENSORS_FILE_H_
